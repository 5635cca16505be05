"""Rectangle metric for image grasps (Cornell / Jacquard offline evaluation).

A predicted grasp matches a ground-truth rectangle when their angles differ by at most
``max_angle`` (30°, modulo pi) and their IoU is **strictly greater** than the threshold
(GG-CNN / GR-ConvNet: ``> 0.25``). The standard score uses the top-1 prediction per image.

IoU here is the *exact* area IoU of the two rotated rectangles (convex polygon clipping,
Sutherland-Hodgman, in float64), not the GG-CNN code's pixel-count IoU on integer-rounded
corners; the two differ by a few percent on small rectangles. Zero-area rectangles give 0.

Jacquard jaw-size convention: **ground truth keeps every annotated jaw size** (every line of
a Jacquard ``_grasps.txt`` file is a GT rectangle, so the same grasp annotated with several jaw
sizes gives several GT rectangles), while **predictions use jaw = width / 2** (the "half jaw"
of GG-CNN / ORANGE, ``detect_grasps(jaw_ratio=0.5)``).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from .grasp import ImageGrasp, angle_difference

#: the IoU thresholds every evaluation reports (evaluation, training validation, the CLI)
DEFAULT_THRESHOLDS = (0.25, 0.30, 0.50, 0.75)
_ANGLE_TOL = 1e-9  # a difference of exactly max_angle counts as within, despite rounding


def _corners(x, name: str) -> np.ndarray:
    if isinstance(x, ImageGrasp):
        return x.as_rectangle()
    p = np.asarray(x, dtype=np.float64)
    if p.shape != (4, 2):
        raise ValueError(f"{name} must be an ImageGrasp or (4, 2) corners, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} corners must be finite")
    edges = np.roll(p, -1, axis=0) - p
    turns = edges[:, 0] * np.roll(edges[:, 1], -1) - edges[:, 1] * np.roll(edges[:, 0], -1)
    scale = float(np.abs(edges).max()) ** 2
    if np.any(turns > 1e-9 * scale) and np.any(turns < -1e-9 * scale):
        raise ValueError(f"{name} corners must form a convex quadrilateral in order, got {p.tolist()}")
    return p


def _signed_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _clip(subject: list, clip: np.ndarray) -> list:
    """Sutherland-Hodgman: ``subject`` polygon clipped by convex ``clip`` (anticlockwise)."""
    out = subject
    n = len(clip)
    for i in range(n):
        if not out:
            break
        ax, ay = clip[i]
        bx, by = clip[(i + 1) % n]
        ex, ey = bx - ax, by - ay

        def side(p):  # > 0: left of edge a->b, i.e. inside for an anticlockwise polygon
            return ex * (p[1] - ay) - ey * (p[0] - ax)

        inp, out = out, []
        prev = inp[-1]
        s_prev = side(prev)
        for cur in inp:
            s_cur = side(cur)
            if s_cur >= 0:
                if s_prev < 0:
                    t = s_prev / (s_prev - s_cur)
                    out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
                out.append(cur)
            elif s_prev >= 0:
                t = s_prev / (s_prev - s_cur)
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            prev, s_prev = cur, s_cur
    return out


def rectangle_iou(a, b) -> float:
    """Exact IoU of two grasp rectangles (``ImageGrasp`` or ``(4, 2)`` convex corners, in order)."""
    pa, pb = _corners(a, "a"), _corners(b, "b")
    area_a, area_b = _signed_area(pa), _signed_area(pb)
    if area_a == 0 or area_b == 0:
        return 0.0
    # The clip polygon must be anticlockwise in the (x, y) sense the side test assumes.
    if area_b < 0:
        pb = pb[::-1]
    inter_poly = _clip([tuple(p) for p in pa], pb)
    inter = abs(_signed_area(np.asarray(inter_poly))) if len(inter_poly) >= 3 else 0.0
    union = abs(area_a) + abs(area_b) - inter
    if union <= 0:
        return 0.0
    return float(min(max(inter / union, 0.0), 1.0))


def _check_grasp(g, name: str) -> ImageGrasp:
    if not isinstance(g, ImageGrasp):
        raise ValueError(f"{name} must be an ImageGrasp, got {type(g).__name__}")
    return g


def best_iou(pred: ImageGrasp, gt_list: Iterable[ImageGrasp], max_angle: float = math.pi / 6) -> float:
    """Max IoU of ``pred`` over the GT grasps whose angle is within ``max_angle`` (0 if none)."""
    pred = _check_grasp(pred, "pred")
    best = 0.0
    for i, gt in enumerate(gt_list):
        gt = _check_grasp(gt, f"gt_list[{i}]")
        if angle_difference(pred.angle, gt.angle) <= max_angle + _ANGLE_TOL:
            best = max(best, rectangle_iou(pred, gt))
    return best


def grasp_matches(pred: ImageGrasp, gt_list: Iterable[ImageGrasp], iou_threshold: float,
                  max_angle: float = math.pi / 6) -> bool:
    """True if some GT within ``max_angle`` has IoU strictly greater than ``iou_threshold``."""
    return best_iou(pred, gt_list, max_angle) > iou_threshold


class RectangleMetric:
    """Accumulates rectangle-metric success rates over images.

    ``update(pred_grasps, gt_grasps)``: ``pred_grasps`` in ranking order (not re-sorted; the
    first ``top_n`` are tried, an image succeeds at a threshold if any of them matches).
    An image with no ground-truth grasp (e.g. none left inside a centre crop) cannot be scored: it
    is counted in ``n_no_gt`` and is neither a success nor a failure.
    ``summary()``: ``n_images`` (images scored), ``n_no_gt`` (images skipped), ``iou_0.25`` ...
    (one key per threshold, fraction of the scored images) and ``iou_avg`` (mean best IoU of the
    top-1 prediction; no prediction counts as 0). With no scored image the rates are NaN, so an
    empty evaluation cannot pass for a result.
    """

    def __init__(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                 max_angle: float = math.pi / 6, top_n: int = 1):
        thresholds = tuple(float(t) for t in thresholds)
        if not thresholds or any(not 0.0 <= t < 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be a non-empty sequence of values in [0, 1), "
                             f"got {thresholds}")
        if not (math.isfinite(max_angle) and 0 <= max_angle <= math.pi / 2):
            raise ValueError(f"max_angle must be in [0, pi/2] radians, got {max_angle}")
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be an integer >= 1, got {top_n!r}")
        self.thresholds = thresholds
        self.max_angle = float(max_angle)
        self.top_n = top_n
        self.reset()

    def reset(self) -> None:
        self.n_images = 0
        self.n_no_gt = 0
        self._successes = [0] * len(self.thresholds)
        self._iou_sum = 0.0

    def update(self, pred_grasps: Sequence[ImageGrasp], gt_grasps: Sequence[ImageGrasp]) -> None:
        preds = [_check_grasp(g, f"pred_grasps[{i}]") for i, g in enumerate(pred_grasps)]
        gts = [_check_grasp(g, f"gt_grasps[{i}]") for i, g in enumerate(gt_grasps)]
        if not gts:
            self.n_no_gt += 1
            return
        ious = [best_iou(p, gts, self.max_angle) for p in preds[:self.top_n]]
        self.n_images += 1
        self._iou_sum += ious[0] if ious else 0.0
        best = max(ious, default=0.0)
        for i, t in enumerate(self.thresholds):
            self._successes[i] += best > t

    def summary(self) -> dict:
        n = self.n_images
        out = {"n_images": n, "n_no_gt": self.n_no_gt}
        for t, k in zip(self.thresholds, self._successes):
            out[f"iou_{t:.2f}"] = k / n if n else float("nan")
        out["iou_avg"] = self._iou_sum / n if n else float("nan")
        return out
