"""Rectangle-metric evaluation of a network on a dataset (used by training validation and the CLI)."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .config import PostprocessConfig
from .datasets import collate_items, grasps_from_array
from .heads import Decoder, as_targets, decoder_for_module, make_decoder
from .losses import GraspLoss
from .metrics import DEFAULT_THRESHOLDS, RectangleMetric

#: summary keys that are counts of images: summed when summaries are merged, never averaged
COUNT_KEYS = ("n_images", "n_no_gt")


@torch.inference_mode()
def evaluate_network(network, dataset, *, max_width_px: float, postprocess: PostprocessConfig,
                     device: torch.device | str = "cpu", batch_size: int = 8, top_n: int = 1,
                     loss_fn: GraspLoss | None = None, num_workers: int = 0, progress: bool = False,
                     on_image=None, decode: Decoder | None = None) -> dict:
    """Top-``top_n`` rectangle metric at several IoU thresholds, IoU-Avg, optional loss and timing.

    ``network`` is a torch module, or an inference backend (``backends.make_backend``: numpy in, maps out),
    so every runtime is scored by the same code. ``on_image(k, input_grasps, gt_grasps, maps)`` is called
    for each image (overlays, per-image logs). Timing covers the network and post-processing, not disk reads.
    ``postprocess`` is the model card's (``card.postprocess``) or the training config's. Images with no
    ground-truth grasp in the network input are not scored: ``n_no_gt`` counts them (see RectangleMetric).
    ``decode`` turns one image's maps into grasps (:mod:`.heads`); ``None`` = a torch module's own decoder, else
    the generative one (pass the card's, ``heads.decoder_for_card(card)``, for a backend).
    """
    if not isinstance(postprocess, PostprocessConfig):
        raise TypeError(f"postprocess must be a PostprocessConfig (card.postprocess), got {type(postprocess).__name__}")
    params = dataclasses.asdict(postprocess)
    is_module = isinstance(network, torch.nn.Module)
    if decode is None:
        decode = decoder_for_module(network) if is_module else make_decoder("generative")
    head = getattr(network, "head", "generative")  # loss targets are only computed for torch modules
    if is_module:
        network.eval()
    metric = RectangleMetric(thresholds=DEFAULT_THRESHOLDS, top_n=top_n)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=collate_items)
    loss_sum, loss_batches, busy_s = 0.0, 0, 0.0
    for batch in tqdm(loader, desc="evaluate", disable=not progress, unit="batch"):
        t0 = time.perf_counter()
        if is_module:
            x = batch["x"].to(device)
            # A loss on logits (focal) gets them; detection always sees the activated maps.
            raw = network(x, logits=True) if loss_fn is not None and loss_fn.needs_logits else None
            outputs = network(x) if raw is None else network.activate(raw)
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            maps = [o.float().cpu().numpy() for o in outputs]
        else:
            maps = network(batch["x"].numpy())
        busy_s += time.perf_counter() - t0
        if loss_fn is not None and is_module and "targets" in batch:
            target = as_targets(head, {k: v.to(device) for k, v in batch["targets"].items()})
            loss, _ = loss_fn(outputs if raw is None else raw, target)
            loss_sum += float(loss)
            loss_batches += 1
        for j, k in enumerate(batch["index"].tolist()):
            t0 = time.perf_counter()
            per_image = tuple(m[j] for m in maps)
            preds = decode(per_image, top_k=top_n, max_width=max_width_px, **params)
            busy_s += time.perf_counter() - t0
            gts = grasps_from_array(batch["grasps"][j]) if "grasps" in batch else dataset.grasps(k)
            metric.update(preds, gts)
            if on_image is not None:
                on_image(k, preds, gts, per_image)
    summary = metric.summary()
    summary["ms_per_image"] = 1e3 * busy_s / max(summary["n_images"] + summary["n_no_gt"], 1)  # every image ran
    if loss_batches:
        summary["loss"] = loss_sum / loss_batches
    return summary


def merge_summaries(summaries: list[dict]) -> dict:
    """Combine per-process summaries (DDP) into one.

    Counts (:data:`COUNT_KEYS`) are summed; success rates and ``iou_avg`` are weighted by the images
    each process scored; per-image averages of the work done (``ms_per_image``, ``loss``) by every
    image it ran, skipped ones included. A process that scored nothing adds no weight (its NaN rates
    do not poison the merge).
    """
    merged = {k: sum(int(s.get(k, 0)) for s in summaries) for k in COUNT_KEYS}
    scored = {f"iou_{t:.2f}" for t in DEFAULT_THRESHOLDS} | {"iou_avg"}
    keys = {k for s in summaries for k in s if k not in COUNT_KEYS}
    for key in sorted(keys):
        if key in scored:
            vals = [(s[key], s["n_images"]) for s in summaries if key in s]
        else:
            vals = [(s[key], s["n_images"] + s.get("n_no_gt", 0)) for s in summaries if key in s]
        vals = [(v, n) for v, n in vals if n > 0]
        weight = sum(n for _, n in vals)
        merged[key] = float(np.sum([v * n for v, n in vals]) / weight) if weight else float("nan")
    return merged


def format_table(summary: dict, title: str = "") -> str:
    cols = [f"iou_{t:.2f}" for t in DEFAULT_THRESHOLDS] + ["iou_avg"]
    header = "| images | no GT | " + " | ".join(f"IoU>{c[4:]}" if c != "iou_avg" else "IoU-Avg" for c in cols) \
        + " | ms/image |"
    row = f"| {summary['n_images']} | {summary.get('n_no_gt', 0)} | " + " | ".join(
        f"{100 * summary[c]:.1f} %" if c != "iou_avg" else f"{summary[c]:.3f}" for c in cols) \
        + f" | {summary.get('ms_per_image', float('nan')):.1f} |"
    sep = "|" + "---|" * (len(cols) + 3)
    notes = [f"({summary['n_no_gt']} image(s) without a ground-truth grasp in the network input: not scored)"] \
        if summary.get("n_no_gt") else []
    return "\n".join(([title] if title else []) + [header, sep, row] + notes)
