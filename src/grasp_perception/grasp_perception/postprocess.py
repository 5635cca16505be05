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

from .config import PostprocessConfig
from .grasp import ImageGrasp

_MAPS = ("quality", "cos", "sin", "width")
_DEFAULT = PostprocessConfig()  # the one source of the defaults below (a model card's come from it too)


def to_numpy(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be an (N, H, W) or (H, W) map, got shape {arr.shape}")
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    # One reduction instead of a full boolean map: NaN/inf propagate into the sum. A sum that
    # overflows on finite values gets the exact check, so the message is never wrong.
    if not np.isfinite(arr.sum(dtype=np.float64)) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")


def smooth_map(maps: np.ndarray, sigma: float) -> np.ndarray:
    if sigma == 0:
        return maps
    # ksize (0, 0): OpenCV derives the kernel from sigma (about +-4 sigma for float input).
    return np.stack([cv2.GaussianBlur(m, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                      borderType=cv2.BORDER_REPLICATE) for m in maps])


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = int(4 * sigma + 0.5)
    kernel = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2))
    return kernel / kernel.sum()


def _smooth_at(maps: np.ndarray, bins: np.ndarray, rows: np.ndarray, cols: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed values of ``maps[bins[i]]`` at pixels ``(rows[i], cols[i])`` (replicated border,
    +-4 sigma), all peaks at once.

    Same result as smoothing the whole map and reading the pixels, for a fraction of the cost: angle and
    width are only needed at the peaks.
    """
    if sigma == 0:
        return maps[bins, rows, cols].astype(np.float64)
    kernel = _gaussian_kernel(sigma)
    offsets = np.arange(len(kernel)) - len(kernel) // 2
    rr = np.clip(rows[:, None] + offsets, 0, maps.shape[1] - 1)      # (K, n)
    cc = np.clip(cols[:, None] + offsets, 0, maps.shape[2] - 1)
    patches = maps[bins[:, None, None], rr[:, :, None], cc[:, None, :]].astype(np.float64)  # (K, n, n)
    return np.einsum("i,kij,j->k", kernel, patches, kernel)


def _check_nonneg(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_parameters(*, min_distance, threshold, quality_sigma, angle_sigma, width_sigma, jaw_ratio) -> None:
    """Raise ValueError, starting with the parameter's name, for a post-processing value
    :func:`detect_grasps` cannot use (the fields of ``PostprocessConfig``; model cards are checked
    with it when read)."""
    if isinstance(min_distance, bool) or not isinstance(min_distance, (int, np.integer)) \
            or min_distance < 0:
        raise ValueError(f"min_distance must be an integer >= 0, got {min_distance!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number))
                                  or not math.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")
    for value, name in ((quality_sigma, "quality_sigma"), (angle_sigma, "angle_sigma"),
                        (width_sigma, "width_sigma"), (jaw_ratio, "jaw_ratio")):
        _check_nonneg(value, name)


def check_top_k(top_k) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")


def find_peaks(best: np.ndarray, min_distance: int, threshold: float | None,
               top_k: int | None) -> list[tuple[int, int]]:
    """``(row, col)`` local maxima of a 2-D map, ranked, spaced by more than ``min_distance``."""
    best = np.ascontiguousarray(best, dtype=np.float32)
    if min_distance > 0:
        # Square max filter (grey dilation, replicated border = skimage's "nearest"): OpenCV's is
        # O(H*W) per pass whatever the window, several times faster than scipy's.
        size = 2 * min_distance + 1
        local_max = cv2.dilate(best, np.ones((size, size), np.uint8), borderType=cv2.BORDER_REPLICATE)
        mask = best >= local_max
        if threshold is not None:
            mask &= best > threshold
    else:
        # Every pixel is its own window: all pixels above the threshold are peaks.
        mask = best > threshold if threshold is not None else np.ones(best.shape, bool)
    flat = np.flatnonzero(mask)
    if flat.size == 0:
        return []
    if min_distance > 0:
        flat = _plateau_centres(flat, best.shape)
    values = best.ravel()[flat]
    if min_distance == 0 and top_k is not None and flat.size > top_k:
        # Only the top_k are returned: partial selection, never a sort (or a list) of every pixel.
        # Ties at the k-th value keep the first in row-major order, as the full stable sort would.
        kth = -np.partition(-values, top_k - 1)[top_k - 1]
        above = values > kth
        ties = np.flatnonzero(values == kth)[:top_k - int(above.sum())]
        pick = np.sort(np.concatenate([np.flatnonzero(above), ties]))
        flat, values = flat[pick], values[pick]
    # Stable sort on -quality keeps row-major order among equal values (deterministic ties).
    flat = flat[np.argsort(-values, kind="stable")]
    rows, cols = np.divmod(flat, best.shape[1])
    if min_distance == 0:
        keep = list(zip(rows.tolist(), cols.tolist()))
        return keep if top_k is None else keep[:top_k]
    keep: list[tuple[int, int]] = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        # Greedy non-maximum suppression over the few candidates (tens, not pixels).
        if any(abs(r - kr) <= min_distance and abs(c - kc) <= min_distance for kr, kc in keep):
            continue
        keep.append((r, c))
        if top_k is not None and len(keep) >= top_k:
            break
    return keep


def _plateau_centres(flat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Keep one index per 8-connected group of maxima: the member nearest the group centroid.

    Touching maxima are necessarily equal (each lies in the other's window), i.e. a plateau,
    as on binary ground-truth maps or a saturated sigmoid; its centre is the sensible grasp
    centre, where the first pixel in row-major order would sit on the plateau's corner.
    ``flat`` are the row-major indices of the maxima, ascending.
    """
    mask = np.zeros(shape, bool)
    mask.ravel()[flat] = True
    # Network maps give isolated maxima: label only if two of them touch.
    touching = ((mask[:, 1:] & mask[:, :-1]).any() or (mask[1:] & mask[:-1]).any()
                or (mask[1:, 1:] & mask[:-1, :-1]).any() or (mask[1:, :-1] & mask[:-1, 1:]).any())
    if not touching:
        return flat
    rows, cols = np.divmod(flat, shape[1])
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    lab = labels.ravel()[flat]
    counts = np.bincount(lab, minlength=n + 1).astype(np.float64)
    mean_r = np.bincount(lab, weights=rows, minlength=n + 1) / np.maximum(counts, 1)
    mean_c = np.bincount(lab, weights=cols, minlength=n + 1) / np.maximum(counts, 1)
    dist = (rows - mean_r[lab]) ** 2 + (cols - mean_c[lab]) ** 2
    order = np.lexsort((flat, dist, lab))  # by label, then distance, then row-major
    first = np.ones(order.size, bool)
    first[1:] = lab[order][1:] != lab[order][:-1]
    return np.sort(flat[order[first]])


def _prepare(quality, cos, sin, width, max_width, top_k, params: dict) -> list[np.ndarray]:
    """The four maps as numpy ``(N, H, W)``, every argument checked; quality smoothed."""
    maps = [to_numpy(x, n) for x, n in zip((quality, cos, sin, width), _MAPS)]
    for name, m in zip(_MAPS[1:], maps[1:]):
        if m.shape != maps[0].shape:
            raise ValueError(f"{name} shape {m.shape} does not match quality shape {maps[0].shape}")
    check_top_k(top_k)
    check_parameters(**params)
    _check_nonneg(max_width, "max_width")
    if max_width == 0:
        raise ValueError("max_width must be > 0, got 0")
    check_finite(maps[0], "quality")
    return [smooth_map(maps[0], float(params["quality_sigma"])), *maps[1:]]


def _decode(maps: list[np.ndarray], bins: np.ndarray, rows: np.ndarray, cols: np.ndarray, quality: np.ndarray,
            max_width: float, angle_sigma: float, width_sigma: float, jaw_ratio: float) -> list[ImageGrasp]:
    """ImageGrasps at pixels ``(rows, cols)`` of angle bins ``bins``, in the given order."""
    _, cos_m, sin_m, width_m = maps
    c = _smooth_at(cos_m, bins, rows, cols, float(angle_sigma))
    s = _smooth_at(sin_m, bins, rows, cols, float(angle_sigma))
    w = _smooth_at(width_m, bins, rows, cols, float(width_sigma))
    for values, name in ((c, "cos"), (s, "sin"), (w, "width")):
        # Only the pixels around each grasp are read, so only they are checked.
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{name} contains NaN or infinite values near the peak at (row {rows[bad[0]]}, "
                             f"col {cols[bad[0]]})")
    angle = 0.5 * np.arctan2(s, c)
    width_px = np.maximum(w * max_width, 0.0)
    return [ImageGrasp(u=float(cols[i]), v=float(rows[i]), angle=float(angle[i]), width=float(width_px[i]),
                       jaw=float(width_px[i] * float(jaw_ratio)), quality=float(quality[i]), angle_bin=int(bins[i]))
            for i in range(len(rows))]


def detect_grasps(quality, cos, sin, width, *, max_width: float, top_k: int | None = 1,
                  min_distance: int = _DEFAULT.min_distance, threshold: float | None = _DEFAULT.threshold,
                  quality_sigma: float = _DEFAULT.quality_sigma, angle_sigma: float = _DEFAULT.angle_sigma,
                  width_sigma: float = _DEFAULT.width_sigma, jaw_ratio: float = _DEFAULT.jaw_ratio
                  ) -> list[ImageGrasp]:
    """Grasps from ``(N, H, W)`` maps (numpy or torch; ``(H, W)`` means one bin), best first.

    ``max_width`` is the model's width scale (``ModelCard.max_width_px``): no default, since a wrong one
    silently rescales every width. The other keywords are the fields of
    :class:`~grasp_perception.config.PostprocessConfig`, with its defaults: pass a card's as
    ``**dataclasses.asdict(card.postprocess)``. ``top_k=None`` returns every peak. See the module
    docstring for the steps.
    """
    maps = _prepare(quality, cos, sin, width, max_width, top_k, dict(
        min_distance=min_distance, threshold=threshold, quality_sigma=quality_sigma, angle_sigma=angle_sigma,
        width_sigma=width_sigma, jaw_ratio=jaw_ratio))
    q = maps[0]
    # Best of bins per pixel (the peak map); which bin is only needed at the peaks.
    best = q[0] if len(q) == 1 else np.maximum.reduce(q)
    peaks = find_peaks(best, int(min_distance), threshold, top_k)
    if not peaks:
        return []
    rows, cols = (np.array(x, dtype=np.int64) for x in zip(*peaks))
    bins = np.argmax(q[:, rows, cols], axis=0)  # first (lowest) bin on ties
    return _decode(maps, bins, rows, cols, best[rows, cols], max_width, angle_sigma, width_sigma, jaw_ratio)


def dense_grasps(quality, cos, sin, width, *, max_width: float, top_k: int = 50,
                 threshold: float | None = None, quality_sigma: float = _DEFAULT.quality_sigma,
                 angle_sigma: float = _DEFAULT.angle_sigma, width_sigma: float = _DEFAULT.width_sigma,
                 jaw_ratio: float = _DEFAULT.jaw_ratio, min_distance: int = 0) -> list[ImageGrasp]:
    """The ``top_k`` best of the dense candidates: every (angle bin, pixel) pair, ranked by smoothed
    quality, without peak suppression (PLGP ranks its per-pixel, per-angle output this way for AP).

    Neighbouring pixels of one peak are separate candidates here, as in the paper. Ties keep the lower bin,
    then row-major order. Other keywords as :func:`detect_grasps`; ``min_distance`` is accepted so that a
    card's post-processing can be passed whole, and ignored (dense candidates are never suppressed)."""
    maps = _prepare(quality, cos, sin, width, max_width, top_k, dict(
        min_distance=0, threshold=threshold, quality_sigma=quality_sigma, angle_sigma=angle_sigma,
        width_sigma=width_sigma, jaw_ratio=jaw_ratio))
    q = maps[0]
    flat = q.ravel()
    idx = np.flatnonzero(flat > threshold) if threshold is not None else np.arange(flat.size)
    if idx.size > top_k:
        part = idx[np.argpartition(-flat[idx], top_k - 1)[:top_k]]
        kth = flat[part].min()
        # Ties at the k-th value: the first in (bin, row, col) order, as a full stable sort would keep.
        above = idx[flat[idx] > kth]
        idx = np.concatenate([above, idx[flat[idx] == kth][:top_k - above.size]])
    idx = idx[np.lexsort((idx, -flat[idx]))]
    bins, rows, cols = np.unravel_index(idx, q.shape)
    return _decode(maps, bins, rows, cols, flat[idx], max_width, angle_sigma, width_sigma, jaw_ratio)
