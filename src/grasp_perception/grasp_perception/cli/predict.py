"""Predict grasps on one RGB-D image and write an overlay.

    python -m grasp_perception.predict --model PATH --depth depth.tiff [--rgb rgb.png] \
        --out overlay.png --top-k 5 [--json grasps.json] [--depth-scale 0.001]

Depth files: float TIFF/.npy in metres, or 16-bit PNG with --depth-scale (metres per unit, e.g.
0.001 for millimetres, RealSense default). Grasps are printed in original image pixels.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from ..datasets import DatasetError
from ..datasets.preprocessing import check_depth_metres
from ..geometry import CameraIntrinsics
from ..heads import quality_image
from ..inference import GraspPredictor
from ..model_io import ModelFileError
from ..visualise import map_to_original, overlay_figure, write_image


def read_depth(path: str | Path, scale: float | None = None) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path}")
    if path.suffix == ".npy":
        depth = np.load(path, allow_pickle=False)
    else:
        depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if depth is None:
            raise ValueError(f"{path}: not a readable image")
    if depth.ndim != 2:
        raise ValueError(f"{path}: depth must be a single-channel image, got shape {depth.shape}")
    if np.issubdtype(depth.dtype, np.integer):
        if scale is None:
            raise ValueError(f"{path}: integer depth ({depth.dtype}) needs --depth-scale (metres per unit, "
                             f"e.g. 0.001 for millimetres)")
        depth = depth.astype(np.float32) * scale
    elif scale is not None:
        depth = depth.astype(np.float32) * scale
    depth = depth.astype(np.float32)
    try:
        check_depth_metres(depth, str(path))  # checked here too, so the message names the file and the fix
    except DatasetError as exc:
        raise ValueError(f"{exc}; give --depth-scale (metres per unit, e.g. 0.001 for millimetres)") from None
    return depth


def read_rgb(path: str | Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"RGB image not found or unreadable: {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--depth", required=True)
    p.add_argument("--rgb")
    p.add_argument("--depth-scale", type=float, default=None)
    p.add_argument("--out", default="overlay.png")
    p.add_argument("--json")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--focal", type=float, nargs=2, metavar=("FX", "FY"),
                   help="the camera's focal lengths (px): rescale the frame to the model's trained metric scale")
    args = p.parse_args(argv)
    try:
        predictor = GraspPredictor(args.model, device=args.device)
        depth = read_depth(args.depth, args.depth_scale)
        rgb = read_rgb(args.rgb) if args.rgb else None
        focal = None if args.focal is None else CameraIntrinsics(depth.shape[1], depth.shape[0], *args.focal,
                                                                (depth.shape[1] - 1) / 2, (depth.shape[0] - 1) / 2)
        pred = predictor.predict(depth, rgb=rgb, top_k=args.top_k, intrinsics=focal)
    except (ModelFileError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'#':>2} {'u':>7} {'v':>7} {'angle':>7} {'width':>7} {'quality':>7}")
    for i, g in enumerate(pred.grasps, 1):
        print(f"{i:>2} {g.u:7.1f} {g.v:7.1f} {math.degrees(g.angle):6.1f}° {g.width:7.1f} {g.quality:7.3f}")
    print("timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in pred.timings_ms.items()))
    quality = quality_image(predictor.head, pred.maps, predictor.input_size)
    fig = overlay_figure(rgb, depth, pred.grasps, quality=map_to_original(quality, pred.info)[None])
    write_image(args.out, fig)
    print(f"overlay written to {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(g) for g in pred.grasps], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
