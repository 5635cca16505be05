"""The one place that knows the stack's two output representations and what each needs.

* ``generative`` (GG-CNN, GR-ConvNet, the Gaussian-maps paper): ``quality, cos, sin, width`` maps
  (:mod:`.maps` targets, :class:`.losses.GraspLoss`, :mod:`.postprocess` decoding);
* ``pixel_level`` (PLGP): ``point, angle, width`` maps (:mod:`.pixel_level`).

A network's head is a network option (``model.kwargs.head`` in a training config, ``arch_kwargs.head`` in
a model card; absent = the architecture's default, :func:`.networks.head_of`), so a model folder says how
to read its outputs. Everything downstream
of decoding (rectangle metric, simulator, ``/plan_grasp``) sees :class:`~.grasp.ImageGrasp` either way.
"""
from __future__ import annotations

from dataclasses import asdict

from .losses import GraspLoss
from .maps import GraspTargets, grasp_maps
from .networks import head_of
from .networks.base import HEADS, check_head
from .pixel_level import (OUTPUT_NAMES as PIXEL_LEVEL_OUTPUTS, PixelLevelLoss, PixelLevelTargets,
                          dense_pixel_level, detect_pixel_level, pixel_level_targets)
from .postprocess import dense_grasps, detect_grasps

GENERATIVE_OUTPUTS = ("quality", "cos", "sin", "width")
__all__ = ["HEADS", "head_of", "output_names", "build_targets", "as_targets", "make_loss", "decode"]


def output_names(head: str) -> tuple[str, ...]:
    return PIXEL_LEVEL_OUTPUTS if check_head(head) == "pixel_level" else GENERATIVE_OUTPUTS


def build_targets(head: str, grasps, shape, *, n_bins: int, max_width: float, map_kind: str = "strong",
                  sigma: float | None = None, enhance: bool = True) -> dict:
    """Training targets for ``grasps`` as a dict of ``output name -> (C, H, W)`` arrays."""
    if check_head(head) == "pixel_level":
        return pixel_level_targets(grasps, shape, n_classes=n_bins, max_width=max_width, enhance=enhance)._asdict()
    return grasp_maps(grasps, shape, n_bins=n_bins, kind=map_kind, sigma=sigma, max_width=max_width)._asdict()


def as_targets(head: str, tensors: dict):
    """A batch's target dict as the tuple the head's loss reads."""
    return (PixelLevelTargets if check_head(head) == "pixel_level" else GraspTargets)(**tensors)


def make_loss(head: str, loss_cfg):
    """The training loss of ``head`` from a config's ``loss`` section. For the pixel-level head
    ``loss.weights`` quality / angle / width are PLGP's β1 / β2 / β3 (eq. 16) and ``kind`` must be focal."""
    if check_head(head) == "pixel_level":
        w = loss_cfg.weights
        return PixelLevelLoss(betas=(w.quality, w.angle, w.width), focal_alpha=loss_cfg.focal_alpha,
                              focal_gamma=loss_cfg.focal_gamma)
    return GraspLoss(kind=loss_cfg.kind, positional=loss_cfg.positional, focal_alpha=loss_cfg.focal_alpha,
                     focal_gamma=loss_cfg.focal_gamma, weights=asdict(loss_cfg.weights))


def decode(head: str, maps, *, max_width: float, top_k: int | None = 1, dense: bool = False, **postprocess):
    """Ranked :class:`~.grasp.ImageGrasp` from one image's maps (network-input pixels). ``postprocess`` are
    the card's post-processing fields; ``dense`` ranks every (pixel, angle) candidate without suppression."""
    if check_head(head) == "pixel_level":
        fn = dense_pixel_level if dense else detect_pixel_level
    else:
        fn = dense_grasps if dense else detect_grasps
    return fn(*maps, max_width=max_width, top_k=top_k, **postprocess)
