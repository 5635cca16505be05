"""The one place that knows the stack's output representations and what each needs.

* ``generative`` (GG-CNN, GR-ConvNet, the Gaussian-maps paper): ``quality, cos, sin, width`` maps
  (:mod:`.maps` targets, :class:`.losses.GraspLoss`, :mod:`.postprocess` decoding);
* ``pixel_level`` (PLGP): ``point, angle, width`` maps (:mod:`.pixel_level`);
* ``anchor`` (anchor-box regression with a graspability scorer): ``deltas, primary, score`` on a stride-16
  grid (:mod:`.anchor_boxes`).

A network's head is a network option (``model.kwargs.head`` in a training config, ``arch_kwargs.head`` in
a model card; absent = the architecture's default, :func:`.networks.head_of`), so a model folder says how
to read its outputs. Everything downstream of decoding (rectangle metric, simulator, ``/plan_grasp``) sees
:class:`~.grasp.ImageGrasp` whatever the head.
"""
from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Callable

import cv2
import numpy as np

from . import anchor_boxes
from .losses import GraspLoss
from .maps import GraspTargets, grasp_maps
from .networks import head_of, option_of
from .networks.anchor_scorer import STRIDE as ANCHOR_STRIDE
from .networks.base import HEADS, check_head
from .pixel_level import (OUTPUT_NAMES as PIXEL_LEVEL_OUTPUTS, PixelLevelLoss, PixelLevelTargets,
                          dense_pixel_level, detect_pixel_level, pixel_level_targets)
from .postprocess import dense_grasps, detect_grasps

GENERATIVE_OUTPUTS = ("quality", "cos", "sin", "width")
__all__ = ["HEADS", "head_of", "output_names", "build_targets", "as_targets", "make_loss", "make_decoder",
           "decoder_for_card", "decoder_for_module", "quality_image"]

#: decode(maps, *, max_width, top_k=1, dense=False, **card postprocess) -> ranked ImageGrasps
Decoder = Callable[..., list]


def output_names(head: str) -> tuple[str, ...]:
    return {"generative": GENERATIVE_OUTPUTS, "pixel_level": PIXEL_LEVEL_OUTPUTS,
            "anchor": anchor_boxes.OUTPUT_NAMES}[check_head(head)]


def _anchor_box(architecture: str, kwargs: dict) -> tuple[float, float]:
    return (float(option_of(architecture, kwargs, "anchor_width")),
            float(option_of(architecture, kwargs, "anchor_height")))


def build_targets(cfg, grasps, shape) -> dict:
    """Training targets of experiment ``cfg``'s head for ``grasps`` (network-input pixels), as a dict of
    arrays; Jacquard's per-jaw duplicates are removed by the caller."""
    model, targets = cfg.model, cfg.targets
    head = head_of(model.architecture, model.kwargs)
    if head == "pixel_level":
        out = pixel_level_targets(grasps, shape, n_classes=model.n_bins, max_width=targets.max_width_px,
                                  enhance=targets.enhance)
    elif head == "anchor":
        width, height = _anchor_box(model.architecture, model.kwargs)
        out = anchor_boxes.anchor_targets(grasps, shape, k=model.n_bins, stride=ANCHOR_STRIDE, width=width,
                                          height=height)
    else:
        out = grasp_maps(grasps, shape, n_bins=model.n_bins, kind=targets.map, sigma=targets.resolved_sigma(),
                         max_width=targets.max_width_px)
    return out._asdict()


def as_targets(head: str, tensors: dict):
    """A batch's target dict as the tuple the head's loss reads."""
    cls = {"generative": GraspTargets, "pixel_level": PixelLevelTargets,
           "anchor": anchor_boxes.AnchorTargets}[check_head(head)]
    return cls(**tensors)


def make_loss(cfg):
    """The training loss of experiment ``cfg``'s head. For the pixel-level head ``loss.weights`` quality /
    angle / width are PLGP's β1 / β2 / β3 (eq. 16) and ``loss.kind`` must be focal; the anchor head's losses
    are the paper's three (eqs. 3-5), with or without the scorer as the network has it."""
    model, loss = cfg.model, cfg.loss
    head = head_of(model.architecture, model.kwargs)
    if head == "pixel_level":
        w = loss.weights
        return PixelLevelLoss(betas=(w.quality, w.angle, w.width), focal_alpha=loss.focal_alpha,
                              focal_gamma=loss.focal_gamma)
    if head == "anchor":
        width, height = _anchor_box(model.architecture, model.kwargs)
        return anchor_boxes.AnchorLoss(width, height, ANCHOR_STRIDE,
                                       scorer=bool(option_of(model.architecture, model.kwargs, "scorer")),
                                       seed=cfg.train.seed)
    return GraspLoss(kind=loss.kind, positional=loss.positional, focal_alpha=loss.focal_alpha,
                     focal_gamma=loss.focal_gamma, weights=asdict(loss.weights))


def _decode_maps(detect, dense_fn, maps, *, max_width: float, top_k: int | None = 1, dense: bool = False,
                 **postprocess):
    return (dense_fn if dense else detect)(*maps, max_width=max_width, top_k=top_k, **postprocess)


def make_decoder(head: str, architecture: str | None = None, arch_kwargs: dict | None = None) -> Decoder:
    """The decoder of ``head``; the anchor head reads its anchor box from the network's options."""
    head = check_head(head)
    if head == "pixel_level":
        return partial(_decode_maps, detect_pixel_level, dense_pixel_level)
    if head == "anchor":
        width, height = _anchor_box(architecture or "anchor_scorer", arch_kwargs or {})
        detect = partial(anchor_boxes.detect_anchor_grasps, width=width, height=height, stride=ANCHOR_STRIDE)

        def dense(*maps, **kwargs):  # every anchor by its score, never spaced (as the map heads' dense mode)
            return detect(*maps, **{**kwargs, "min_distance": 0})

        return partial(_decode_maps, detect, dense)
    return partial(_decode_maps, detect_grasps, dense_grasps)


def quality_image(head: str, maps, size: int):
    """One image's best-of-angles grasp quality as a ``(size, size)`` map in network-input pixels (overlays):
    the quality or point map, or the anchor scores of each stride-16 cell spread over its pixels."""
    first = np.asarray(maps[0] if check_head(head) != "anchor" else maps[2], dtype=np.float32)
    q = first.max(axis=0) if first.ndim == 3 else first
    return q if q.shape == (size, size) else cv2.resize(q, (size, size), interpolation=cv2.INTER_NEAREST)


def decoder_for_card(card) -> Decoder:
    return make_decoder(head_of(card.architecture, card.arch_kwargs), card.architecture, card.arch_kwargs)


def decoder_for_module(network) -> Decoder:
    """The decoder of a torch network (its own ``head`` and options); generative for anything else."""
    head = getattr(network, "head", "generative")
    if head == "anchor":
        return make_decoder(head, arch_kwargs={"anchor_width": network.anchor_width,
                                               "anchor_height": network.anchor_height})
    return make_decoder(head)
