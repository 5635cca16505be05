"""Decode network output maps into ranked :class:`ImageGrasp` detections.

Steps (GG-CNN / GR-ConvNet post-processing, with two deliberate differences):

1. Gaussian smoothing of each bin (kernel +-4 sigma, replicated border like skimage's
   ``nearest``): quality with ``quality_sigma`` over the whole map (OpenCV), ``cos`` and
   ``sin`` with ``angle_sigma`` and width with ``width_sigma`` only at the detected peaks
   (identical values, a fraction of the cost). A sigma of 0 disables smoothing.
   *Difference 1:* GG-CNN smooths the raw angle ``atan2(sin, cos) / 2``, which blurs across the
   ±90° wrap; we smooth ``cos`` and ``sin`` before ``atan2``, which is wrap-free.
2. ``angle = atan2(sin, cos) / 2``; ``width_px = max(width * max_width, 0)``.
3. Peaks: each pixel takes its best bin (max smoothed quality over bins; lowest bin on ties),
   and a pixel is a peak if it is the maximum of that best-of-bins map over the square window
   of half-size ``min_distance`` (Chebyshev distance, like ``skimage.feature.peak_local_max``)
   and strictly above ``threshold`` (``None`` disables the threshold). Peaks are ranked by
   quality, ties by row-major position, and greedily kept only if farther than
   ``min_distance`` (Chebyshev) from every kept peak. A plateau (8-connected equal maxima,
   e.g. a binary map) gives one peak: its pixel nearest the plateau's centroid.
   *Difference 2:* unlike ``peak_local_max``'s default we do not exclude peaks within
   ``min_distance`` of the image border.
4. ``jaw = width * jaw_ratio`` (GG-CNN's "half jaw" convention at the default 0.5).

If nothing is above ``threshold`` the result is empty.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

from .grasp import ImageGrasp

_MAPS = ("quality", "cos", "sin", "width")


def _to_numpy(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be an (N, H, W) or (H, W) map, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _smooth(maps: np.ndarray, sigma: float) -> np.ndarray:
    if sigma == 0:
        return maps
    # ksize (0, 0): OpenCV derives the kernel from sigma (about +-4 sigma for float input).
    return np.stack([cv2.GaussianBlur(m, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                      borderType=cv2.BORDER_REPLICATE) for m in maps])


def _smooth_at(m: np.ndarray, r: int, c: int, sigma: float) -> float:
    """Gaussian-smoothed value of 2-D map ``m`` at one pixel (replicated border, +-4 sigma).

    Same result as smoothing the whole map and reading one pixel, for a fraction of the cost:
    angle and width are only needed at the peaks.
    """
    if sigma == 0:
        return float(m[r, c])
    radius = int(4 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    rows = np.clip(r + offsets, 0, m.shape[0] - 1)
    cols = np.clip(c + offsets, 0, m.shape[1] - 1)
    return float(kernel @ m[np.ix_(rows, cols)].astype(np.float64) @ kernel)


def _check_nonneg(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def find_peaks(best: np.ndarray, min_distance: int, threshold: float | None,
               top_k: int | None) -> list[tuple[int, int]]:
    """``(row, col)`` local maxima of a 2-D map, ranked, spaced by more than ``min_distance``."""
    size = 2 * min_distance + 1
    # Separable square max filter: O(H*W) regardless of the window size.
    local_max = ndimage.maximum_filter(best, size=size, mode="nearest")
    mask = best >= local_max
    if threshold is not None:
        mask &= best > threshold
    if not mask.any():
        return []
    if min_distance > 0:
        mask = _plateau_centres(mask)
    flat = np.flatnonzero(mask)
    # Stable sort on -quality keeps row-major order among equal values (deterministic ties).
    flat = flat[np.argsort(-best.ravel()[flat], kind="stable")]
    rows, cols = np.divmod(flat, best.shape[1])
    if min_distance == 0:
        keep = list(zip(rows.tolist(), cols.tolist()))
        return keep if top_k is None else keep[:top_k]
    taken = np.zeros(best.shape, bool)  # pixels within min_distance of a kept peak
    keep = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        if taken[r, c]:
            continue
        keep.append((r, c))
        if top_k is not None and len(keep) >= top_k:
            break
        taken[max(r - min_distance, 0):r + min_distance + 1,
              max(c - min_distance, 0):c + min_distance + 1] = True
    return keep


def _plateau_centres(mask: np.ndarray) -> np.ndarray:
    """Keep one pixel per 8-connected group of maxima: the member nearest the group centroid.

    Touching maxima are necessarily equal (each lies in the other's window), i.e. a plateau,
    as on binary ground-truth maps or a saturated sigmoid; its centre is the sensible grasp
    centre, where the first pixel in row-major order would sit on the plateau's corner.
    """
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    flat = np.flatnonzero(mask)
    if n == flat.size:  # all isolated: nothing to merge
        return mask
    rows, cols = np.divmod(flat, mask.shape[1])
    lab = labels.ravel()[flat]
    counts = np.bincount(lab, minlength=n + 1).astype(np.float64)
    mean_r = np.bincount(lab, weights=rows, minlength=n + 1) / np.maximum(counts, 1)
    mean_c = np.bincount(lab, weights=cols, minlength=n + 1) / np.maximum(counts, 1)
    dist = (rows - mean_r[lab]) ** 2 + (cols - mean_c[lab]) ** 2
    order = np.lexsort((flat, dist, lab))  # by label, then distance, then row-major
    first = np.ones(order.size, bool)
    first[1:] = lab[order][1:] != lab[order][:-1]
    out = np.zeros_like(mask)
    out.ravel()[flat[order[first]]] = True
    return out


def detect_grasps(quality, cos, sin, width, *, top_k: int | None = 1, min_distance: int = 20,
                  threshold: float | None = 0.2, max_width: float = 150.0,
                  quality_sigma: float = 2.0, angle_sigma: float = 2.0, width_sigma: float = 1.0,
                  jaw_ratio: float = 0.5) -> list[ImageGrasp]:
    """Grasps from ``(N, H, W)`` maps (numpy or torch; ``(H, W)`` means one bin), best first.

    ``top_k=None`` returns every peak. See the module docstring for the steps.
    """
    maps = [_to_numpy(x, n) for x, n in zip((quality, cos, sin, width), _MAPS)]
    for name, m in zip(_MAPS[1:], maps[1:]):
        if m.shape != maps[0].shape:
            raise ValueError(f"{name} shape {m.shape} does not match quality shape {maps[0].shape}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if isinstance(min_distance, bool) or not isinstance(min_distance, (int, np.integer)) \
            or min_distance < 0:
        raise ValueError(f"min_distance must be an integer >= 0, got {min_distance!r}")
    if threshold is not None and (isinstance(threshold, bool) or not math.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")
    for value, name in ((quality_sigma, "quality_sigma"), (angle_sigma, "angle_sigma"),
                        (width_sigma, "width_sigma"), (jaw_ratio, "jaw_ratio")):
        _check_nonneg(value, name)
    _check_nonneg(max_width, "max_width")
    if max_width == 0:
        raise ValueError("max_width must be > 0, got 0")

    q = _smooth(maps[0], float(quality_sigma))
    cos_m, sin_m, width_m = maps[1:]

    best_bin = np.argmax(q, axis=0)  # first (lowest) bin on ties
    best = np.take_along_axis(q, best_bin[None], axis=0)[0]
    peaks = find_peaks(best, int(min_distance), threshold, top_k)
    grasps = []
    for r, col in peaks:
        b = int(best_bin[r, col])
        c = _smooth_at(cos_m[b], r, col, float(angle_sigma))
        s = _smooth_at(sin_m[b], r, col, float(angle_sigma))
        width_px = max(_smooth_at(width_m[b], r, col, float(width_sigma)) * max_width, 0.0)
        grasps.append(ImageGrasp(
            u=float(col), v=float(r),
            angle=0.5 * math.atan2(s, c),
            width=width_px, jaw=width_px * float(jaw_ratio),
            quality=float(best[r, col]), angle_bin=b))
    return grasps
