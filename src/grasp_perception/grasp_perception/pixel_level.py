"""PLGP's pixel-level grasp representation (Wang et al., "On-policy pixel-level grasping", sec. IV).

The network outputs three sigmoid maps instead of the generative four:

* ``point`` ``Q_p`` (1, H, W): quality of a grasp centred at each pixel;
* ``angle`` ``Q_θ`` (K, H, W): quality of the grasp at each pixel with angle class ``k``;
* ``width`` ``W_g`` (K, H, W): its gripper opening, normalised by the largest opening (``max_width``,
  the paper's ``L4``).

**Angle classes.** ``θ = πk/K`` for ``k = 0..K-1`` (K = 18 in the paper); a label's class is
``floor(θ' K / π)`` with ``θ'`` its angle taken into ``[0, π)``. The stack's angles live in
``[-π/2, π/2)`` (see :mod:`.grasp`): class ``k`` decodes to ``πk/K`` wrapped back into that range.
PDG labels are sampled at exactly these angles, so classes lose nothing on them.

**Targets** (sec. IV-B). A labelled grasp sets ``Q_p = 1`` at its centre pixel, ``Q_θ = 1`` there in its
class and ``W_g`` to its normalised width. The imbalance "data enhancement" copies each labelled grasp to
the eight pixels around it with value 0.9 (the paper: positive:negative 1:1439 -> 1:317 on its dataset;
:func:`label_balance` reports ours). Where several grasps meet at one (class, pixel), a labelled one beats a
copy and then the narrowest wins (the smallest-width rule of :mod:`.maps`).

**Loss** (eqs. 15-16): the binary focal loss of :func:`.losses.binary_focal_loss` (γ = 2, α = 0.95) on each
map, ``L = β1 L(Q_p) + β2 L(Q_θ) + β3 L(W_g)`` with ``β = 10, 10, 20``. The paper applies it to the width
map too, whose targets are continuous; the focal weight uses ``target > 0`` there as everywhere.

**Decoding** (sec. IV-A): the best point ``p`` of ``Q_p`` (smoothed by ``quality_sigma``, peaks spaced by
``min_distance`` for more than one grasp), its best angle class ``k`` in ``Q_θ``, and that class's width
``W_g[k, p] × max_width``. The grasp depth the paper then takes from the depth image is the 3-D lifting's
job (:mod:`.geometry`), as for every model. The quality of a grasp is ``Q_p`` at its point.
"""
from __future__ import annotations

import math
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import torch

from .config import PostprocessConfig
from .grasp import ImageGrasp, wrap_angle
from .losses import binary_focal_loss
from .postprocess import check_finite, smooth_map, to_numpy, check_parameters, check_top_k, find_peaks

OUTPUT_NAMES = ("point", "angle", "width")
ENHANCED_VALUE = 0.9        # the eight-neighbourhood copies (sec. IV-B)
BETAS = (10.0, 10.0, 20.0)  # eq. 16: point, angle, width
_DEFAULT = PostprocessConfig()  # the one source of the post-processing defaults
_NEIGHBOURS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]


class PixelLevelTargets(NamedTuple):
    """Training targets: ``point`` (1, H, W), ``angle`` and ``width`` (K, H, W), float32."""

    point: np.ndarray
    angle: np.ndarray
    width: np.ndarray


def angle_class(angle: float | np.ndarray, n_classes: int) -> np.ndarray:
    """PLGP's angle class ``floor(θ' K / π)`` of stack angles (``θ'`` = the angle taken into ``[0, π)``)."""
    theta = np.mod(np.asarray(angle, dtype=np.float64), np.pi)
    # The tolerance keeps a label at exactly pi k / K (PDG's angles) in class k despite rounding.
    return np.minimum(np.floor(theta * n_classes / np.pi + 1e-9).astype(np.int64), n_classes - 1)


def class_angle(k: int | np.ndarray, n_classes: int) -> np.ndarray:
    """The stack angle (``[-π/2, π/2)``) of angle class ``k``: ``πk/K`` wrapped."""
    return wrap_angle(np.asarray(k, dtype=np.float64) * np.pi / n_classes)


def pixel_level_targets(grasps: Iterable[ImageGrasp], shape: tuple[int, int], *, n_classes: int, max_width: float,
                        enhance: bool = True) -> PixelLevelTargets:
    """The three target maps for ``grasps`` on an image of ``shape`` (see the module docstring)."""
    h, w = (int(x) for x in shape)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be (H, W) with positive integers, got {shape!r}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be an integer >= 1, got {n_classes!r}")
    if not (isinstance(max_width, (int, float, np.floating)) and math.isfinite(max_width) and max_width > 0):
        raise ValueError(f"max_width must be a finite number > 0, got {max_width!r}")
    point = np.zeros((1, h, w), np.float32)
    angle = np.zeros((n_classes, h, w), np.float32)
    width = np.zeros((n_classes, h, w), np.float32)
    grasps = list(grasps)
    if not grasps:
        return PixelLevelTargets(point, angle, width)
    fields = np.array([[g.u, g.v, g.angle, g.width] for g in grasps])
    rows, cols = np.round(fields[:, 1]).astype(np.int64), np.round(fields[:, 0]).astype(np.int64)
    k = angle_class(fields[:, 2], n_classes)
    wn = np.minimum(fields[:, 3], max_width) / max_width
    value = np.ones(len(grasps), np.float32)
    if enhance:
        offsets = np.array(_NEIGHBOURS)
        rows = np.concatenate([rows, (rows[:, None] + offsets[:, 0]).ravel()])
        cols = np.concatenate([cols, (cols[:, None] + offsets[:, 1]).ravel()])
        k, wn = np.concatenate([k, np.repeat(k, 8)]), np.concatenate([wn, np.repeat(wn, 8)])
        value = np.concatenate([value, np.full(8 * len(grasps), ENHANCED_VALUE, np.float32)])
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    rows, cols, k, wn, value = rows[inside], cols[inside], k[inside], wn[inside], value[inside]
    np.maximum.at(point[0], (rows, cols), value)
    np.maximum.at(angle, (k, rows, cols), value)
    # Width: per (class, pixel) the labelled grasp before a copy, then the narrowest.
    cell = (k * h + rows) * w + cols
    order = np.lexsort((wn, -value, cell))
    first = np.ones(len(order), bool)
    first[1:] = cell[order][1:] != cell[order][:-1]
    width.reshape(-1)[cell[order][first]] = wn[order][first]
    return PixelLevelTargets(point, angle, width)


def label_balance(targets: PixelLevelTargets) -> tuple[int, int]:
    """``(positives, negatives)`` over the grasp parameter space (every angle class of every pixel)."""
    positives = int(np.count_nonzero(targets.angle))
    return positives, int(targets.angle.size) - positives


class PixelLevelLoss:
    """PLGP eq. 16 on logits; call as ``loss(pred, target) -> (total, parts)``.

    ``pred`` is ``(point, angle, width)`` logits (``network(x, logits=True)``); ``target`` a
    :class:`PixelLevelTargets` of tensors (or a 3-sequence). ``parts`` holds each unweighted focal term and
    the total, as plain floats.
    """

    needs_logits = True

    def __init__(self, betas: Sequence[float] = BETAS, focal_alpha: float = 0.95, focal_gamma: float = 2.0):
        if len(betas) != 3 or any(isinstance(b, bool) or not b >= 0 for b in betas):
            raise ValueError(f"betas must be three numbers >= 0 (point, angle, width), got {betas!r}")
        self.betas = tuple(float(b) for b in betas)
        self.focal_alpha, self.focal_gamma = float(focal_alpha), float(focal_gamma)

    def __call__(self, pred, target) -> tuple[torch.Tensor, dict[str, float]]:
        preds, targets = list(pred), list(target)
        if len(preds) != 3 or len(targets) != 3:
            raise ValueError(f"pixel-level loss needs (point, angle, width) predictions and targets, got "
                             f"{len(preds)} and {len(targets)}")
        terms = {}
        for name, p, t in zip(OUTPUT_NAMES, preds, targets):
            t = torch.as_tensor(t, dtype=p.dtype, device=p.device)
            if p.shape != t.shape:
                raise ValueError(f"pred {name} shape {tuple(p.shape)} does not match target {name} shape "
                                 f"{tuple(t.shape)}")
            terms[name] = binary_focal_loss(p, t, self.focal_alpha, self.focal_gamma)
        total = sum(b * terms[n] for b, n in zip(self.betas, OUTPUT_NAMES))
        parts = {**{n: float(v.detach()) for n, v in terms.items()}, "total": float(total.detach())}
        return total, parts


def _prepare(point, angle, width, top_k, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    point, angle, width = (to_numpy(x, n) for x, n in zip((point, angle, width), OUTPUT_NAMES))
    if point.shape[0] != 1:
        raise ValueError(f"point must be a (1, H, W) map, got shape {point.shape}")
    if angle.shape != width.shape or angle.shape[1:] != point.shape[1:]:
        raise ValueError(f"angle {angle.shape} and width {width.shape} must be (K, H, W) over point's "
                         f"{point.shape[1:]}")
    check_top_k(top_k)
    check_parameters(**params)
    for m, n in ((point, "point"), (angle, "angle"), (width, "width")):
        check_finite(m, n)
    return smooth_map(point, float(params["quality_sigma"]))[0], angle, width


def _grasps(rows, cols, k, quality, width_norm, n_classes, max_width, jaw_ratio) -> list[ImageGrasp]:
    theta = class_angle(k, n_classes)
    width_px = np.clip(width_norm, 0.0, 1.0) * max_width
    return [ImageGrasp(u=float(c), v=float(r), angle=float(a), width=float(wp), jaw=float(wp * jaw_ratio),
                       quality=float(q), angle_bin=int(kk))
            for r, c, a, wp, q, kk in zip(rows.tolist(), cols.tolist(), theta.tolist(), width_px.tolist(),
                                          quality.tolist(), k.tolist())]


def detect_pixel_level(point, angle, width, *, max_width: float, top_k: int | None = 1,
                       min_distance: int = _DEFAULT.min_distance, threshold: float | None = _DEFAULT.threshold,
                       quality_sigma: float = _DEFAULT.quality_sigma, angle_sigma: float = 0.0,
                       width_sigma: float = 0.0, jaw_ratio: float = _DEFAULT.jaw_ratio) -> list[ImageGrasp]:
    """Grasps from the three maps, best first: peaks of ``Q_p``, then each peak's best class and its width.

    Keywords are the card's post-processing (:class:`~grasp_perception.config.PostprocessConfig`);
    ``angle_sigma`` and ``width_sigma`` are accepted so a card's can be passed whole, and unused: the class
    is an argmax and its width is read where the paper reads it.
    """
    q, angle, width = _prepare(point, angle, width, top_k, dict(
        min_distance=min_distance, threshold=threshold, quality_sigma=quality_sigma, angle_sigma=angle_sigma,
        width_sigma=width_sigma, jaw_ratio=jaw_ratio))
    peaks = find_peaks(q, int(min_distance), threshold, top_k)
    if not peaks:
        return []
    rows, cols = (np.array(x, dtype=np.int64) for x in zip(*peaks))
    k = np.argmax(angle[:, rows, cols], axis=0)
    return _grasps(rows, cols, k, q[rows, cols], width[k, rows, cols], angle.shape[0], max_width, jaw_ratio)


def dense_pixel_level(point, angle, width, *, max_width: float, top_k: int = 50, threshold: float | None = None,
                      quality_sigma: float = _DEFAULT.quality_sigma, jaw_ratio: float = _DEFAULT.jaw_ratio,
                      min_distance: int = 0, angle_sigma: float = 0.0, width_sigma: float = 0.0) -> list[ImageGrasp]:
    """The ``top_k`` best (pixel, angle class) candidates by ``Q_p · Q_θ``, without suppression (the dense
    ranking PLGP's AP takes its top 50 from; the paper does not say how it ranks classes against points,
    the product is our choice). ``threshold`` applies to that product. ``min_distance``, ``angle_sigma`` and
    ``width_sigma`` are accepted so a card's post-processing can be passed whole, and ignored."""
    params = {"min_distance": 0, "threshold": threshold, "quality_sigma": quality_sigma, "angle_sigma": 0.0,
              "width_sigma": 0.0, "jaw_ratio": jaw_ratio}
    q, angle, width = _prepare(point, angle, width, top_k, params)
    score = (angle * q[None]).ravel()
    idx = np.flatnonzero(score > threshold) if threshold is not None else np.arange(score.size)
    if idx.size > top_k:
        idx = idx[np.argpartition(-score[idx], top_k - 1)[:top_k]]
    idx = idx[np.lexsort((idx, -score[idx]))]
    k, rows, cols = np.unravel_index(idx, angle.shape)
    return _grasps(rows, cols, k, score[idx], width[k, rows, cols], angle.shape[0], max_width, jaw_ratio)
