"""Evaluate a model file on a dataset with the rectangle metric and IoU-Avg.

    python -m grasp_perception.evaluate --dataset jacquard --root DIR --model PATH --json OUT
        [--split-file RUN/split.json --split test] [--top-n 1] [--overlays DIR --max-overlays 16]
        [--backend {torch,onnxruntime,openvino} --precision {fp32,bf16,int8}]

Prints a table and writes JSON with n_images (images scored), n_no_gt (images with no ground-truth grasp
in the network input: not scored), iou_0.25, iou_0.30, iou_0.50, iou_0.75, iou_avg and ms_per_image
(network + post-processing on this machine, no disk reads). ``--depth`` (Jacquard) defaults to the depth
the model was trained on (its card's ``training_config.data.depth``, else ``perfect``). A prediction succeeds at
threshold t when its angle is within 30 degrees of a ground-truth grasp and their IoU is above t;
ground truth keeps every Jacquard jaw size, predictions use jaw = width / 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ..backends import BACKENDS, BackendUnavailable, make_backend
from ..config import ConfigError
from ..data_setup import dataset_for_card, indices_from_split_file, make_source
from ..evaluation import evaluate_network, format_table
from ..heads import decoder_for_card, head_of, quality_image
from ..inference import resolve_device
from ..model_io import ModelFileError, load_model
from ..datasets import to_original
from ..datasets.jacquard import DEPTH_KINDS
from ..visualise import map_to_original, overlay_figure, write_image


def training_depth(card) -> str | None:
    """The Jacquard depth image the model was trained on, per its card's training config (None: unknown)."""
    data = card.training_config.get("data")
    depth = data.get("depth") if isinstance(data, dict) else None
    return depth if depth in DEPTH_KINDS else None


def run(args) -> dict:
    device = resolve_device(args.device)
    network, card = load_model(args.model, device=device)
    why = ""
    if args.depth is None:
        trained = training_depth(card)
        args.depth = trained or "perfect"
        why = (f" ({card.name} was trained on them; --depth to change)" if trained
               else " (the card does not say what the model was trained on)")
    if args.dataset == "jacquard":  # Cornell has one kind of depth
        print(f"depth images: {args.depth}{why}")
    indices = None
    if args.split_file:
        indices = indices_from_split_file(make_source(args.dataset, args.root, args.depth), args.split_file, args.split)
    if args.limit:
        indices = (np.arange(len(make_source(args.dataset, args.root, args.depth))) if indices is None
                   else indices)[: args.limit]
    dataset = dataset_for_card(card, args.dataset, args.root, args.depth, indices)
    written = []
    head = head_of(card.architecture, card.arch_kwargs)

    def on_image(k, preds, gts, maps):
        if args.overlays and len(written) < args.max_overlays:
            # Drawn on the original image, so the overlay is as sharp as the data.
            sample, info = dataset.load(k), dataset.info(k)
            fig = overlay_figure(sample.rgb, sample.depth, [to_original(g, info) for g in preds],
                                 quality=map_to_original(quality_image(head, maps, card.input_size), info)[None],
                                 gt=[to_original(g, info) for g in gts])
            written.append(write_image(Path(args.overlays) / f"{dataset.sample_id(k)}.png", fig))

    runner = network
    if args.backend != "torch" or args.precision != "fp32":
        # Same dataset, same post-processing: only the runtime differs.
        runner = make_backend(args.backend, args.precision, network=network, card=card, model_path=args.model,
                              input_size=card.input_size, device=str(device))
    summary = evaluate_network(runner, dataset, max_width_px=card.max_width_px, postprocess=card.postprocess,
                               device=device, batch_size=args.batch_size, top_n=args.top_n,
                               progress=not args.no_progress, on_image=on_image, decode=decoder_for_card(card))
    summary.update({"model": str(args.model), "model_name": card.name, "dataset": args.dataset,
                    "root": str(args.root), "depth": args.depth, "top_n": args.top_n,
                    "split": args.split if args.split_file else "all", "device": str(device),
                    "backend": args.backend, "precision": args.precision,
                    "threads": torch.get_num_threads()})
    print(format_table(summary, title=f"{card.name} on {args.dataset} ({summary['split']}): top-{args.top_n}"))
    if written:
        print(f"{len(written)} overlays written to {args.overlays}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1))
        print(f"metrics written to {args.json}")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, choices=["jacquard", "cornell"])
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument("--model", required=True, help="model directory (card.yaml + model.safetensors)")
    p.add_argument("--json", help="write the metrics here")
    p.add_argument("--depth", default=None, choices=list(DEPTH_KINDS),
                   help="Jacquard depth image (default: the one the model was trained on, per its card)")
    p.add_argument("--split-file", help="split.json written by training; evaluates only --split")
    p.add_argument("--split", default="test", help="which split of --split-file (default test)")
    p.add_argument("--top-n", type=int, default=1, help="success if any of the top n grasps matches")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N images")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--backend", default="torch", choices=list(BACKENDS), help="inference runtime")
    p.add_argument("--precision", default="fp32", help="fp32, bf16 or int8 (see grasp_perception.backends)")
    p.add_argument("--overlays", help="write overlay images (prediction green, ground truth blue) here")
    p.add_argument("--max-overlays", type=int, default=16)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        run(args)
    except (ModelFileError, ConfigError, FileNotFoundError, ValueError, BackendUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
