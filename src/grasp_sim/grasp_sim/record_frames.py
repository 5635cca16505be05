"""Record RGB-D frames of the simulated cell to one ``.npz``: benchmark inputs and int8 calibration frames.

    python -m grasp_sim.record_frames --out frames.npz [--frames 32] [--seed 0] [--objects procedural]
        [--max-objects 3] [--camera-tilt-deg 0]

The file holds ``depth`` (N, H, W) float32 metres (PLGP stereo noise, NaN where it has no return),
``rgb`` (N, H, W, 3) uint8, ``K`` (3, 3) the colour intrinsics, ``base_T_camera`` (4, 4) and
``settings`` (a JSON string). Frame ``i`` drops 1..--max-objects objects of the pool with seed
(--seed, i): different seeds give different frames, so calibration, timing and evaluation frames
can be kept apart.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .cell_setup import CellSettings, base_T_camera, build_cell


def record_frames(n: int, *, seed: int = 0, settings: CellSettings = CellSettings(arm="floating"),
                  max_objects: int = 3, progress: bool = False) -> dict[str, np.ndarray]:
    if n < 1 or max_objects < 1:
        raise ValueError(f"record_frames: frames and max_objects must be >= 1, got {n}, {max_objects}")
    cell = build_cell(settings)
    depth, rgb = [], []
    try:
        for i in tqdm(range(n), desc="frames", disable=not progress, unit="frame"):
            rng = np.random.default_rng([seed, i])
            k = int(rng.integers(1, min(max_objects, len(cell.objects)) + 1))
            cell.reset(sorted(rng.choice(len(cell.objects), size=k, replace=False).tolist()), seed=int(rng.integers(2**31)))
            obs = cell.render(rgb=True, depth=True, segmentation=False)
            depth.append(obs.depth.astype(np.float32))
            rgb.append(obs.rgb)
        K = cell.intrinsics.K
    finally:
        cell.close()
    return {"depth": np.stack(depth), "rgb": np.stack(rgb), "K": K, "base_T_camera": base_T_camera(settings),
            "settings": np.array(json.dumps({**dataclasses.asdict(settings), "seed_frames": seed,
                                             "max_objects": max_objects}))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grasp_sim.record_frames", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--objects", default="procedural", help="'procedural' or a folder of meshes")
    p.add_argument("--n-objects", type=int, default=10, help="procedural pool size")
    p.add_argument("--max-objects", type=int, default=3, help="objects per frame: 1..this")
    p.add_argument("--camera-tilt-deg", type=float, default=0.0)
    args = p.parse_args(argv)
    try:
        settings = CellSettings(objects=args.objects, n_objects=args.n_objects, arm="floating",
                                camera_tilt_deg=args.camera_tilt_deg, seed=args.seed)
        frames = record_frames(args.frames, seed=args.seed, settings=settings, max_objects=args.max_objects,
                               progress=True)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **frames)
    print(f"{args.frames} frames ({frames['depth'].shape[2]}x{frames['depth'].shape[1]}) written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
