"""Network-input pre-processing: depth inpainting, the depth-unit check and the named normalisations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .sample import DatasetError

CHANNELS = {"depth": 1, "rgb": 3, "rgbd": 4}

#: plausible median depth of a scene in metres; outside it the image is in other units (millimetres)
DEPTH_RANGE_M = (0.05, 20.0)
_UNIT_CHECK_PIXELS = 4096  # a median for a unit check needs no more; keeps the check ~0.1 ms per image


def check_depth_metres(depth: np.ndarray, where: str = "depth image") -> None:
    """Raise :class:`DatasetError` naming ``where`` if float depth is not in metres.

    Tests the median of the valid pixels (on a regular grid of about 4096 of them) against
    :data:`DEPTH_RANGE_M`: a 16-bit sensor image read as millimetres has a median of hundreds. An image
    with no valid pixel passes (its own error comes where it is normalised or inpainted).
    """
    d = np.asarray(depth)
    if d.ndim != 2 or d.size == 0:
        return
    stride = max(1, int(np.sqrt(d.size / _UNIT_CHECK_PIXELS)))
    with np.errstate(invalid="ignore"):
        grid = d[::stride, ::stride]
        valid = grid[np.isfinite(grid) & (grid > 0)]
        if valid.size == 0 and stride > 1:  # a few valid pixels between the grid's
            valid = d[np.isfinite(d) & (d > 0)]
    if valid.size == 0:
        return
    median = float(np.median(valid))
    lo, hi = DEPTH_RANGE_M
    if median > hi:
        raise DatasetError(f"{where}: median depth {median:.4g} is not a distance in metres (expected "
                           f"{lo}-{hi} m); it looks like millimetres: depth must be float metres (x 0.001)")
    if median < lo:
        raise DatasetError(f"{where}: median depth {median:.4g} is not a distance in metres (expected "
                           f"{lo}-{hi} m); depth must be float metres from the camera")


def invalid_depth(depth: np.ndarray) -> np.ndarray:
    """Boolean map of pixels with no usable depth (NaN, inf, <= 0)."""
    d = np.asarray(depth)
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(d) & (d > 0))


def inpaint_depth(depth: np.ndarray) -> np.ndarray:
    """Fill invalid pixels (NaN/inf/<=0) of a depth image; returns a new float32 array.

    As GG-CNN: add a 1-px reflected border (inpainting is poor at the image edge), scale by the
    max |depth| into [0, 1], run OpenCV's Navier-Stokes inpainting with radius 1, undo both.
    INPAINT_TELEA is *not* used: on float32 input it produces values far outside the valid
    range, negative depths included. Filled values are clipped to the valid depth range.
    """
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"depth must be 2-D, got shape {d.shape}")
    invalid = invalid_depth(d)
    if not invalid.any():
        return d.copy()
    if invalid.all():
        raise DatasetError("cannot inpaint a depth image with no valid pixel")
    valid = d[~invalid]
    lo, hi = float(valid.min()), float(valid.max())
    filled = np.where(invalid, 0.0, d).astype(np.float32)
    filled = cv2.copyMakeBorder(filled, 1, 1, 1, 1, cv2.BORDER_DEFAULT)
    mask = cv2.copyMakeBorder(invalid.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_DEFAULT)
    scale = hi  # valid depths are > 0, so the max |depth| is the max valid depth
    out = cv2.inpaint(filled / scale, mask, 1, cv2.INPAINT_NS)[1:-1, 1:-1] * scale
    out = np.where(invalid, np.clip(out, lo, hi), d)
    return out.astype(np.float32)


def normalise_depth(depth: np.ndarray) -> np.ndarray:
    """``clip(d - mean(d), -1, 1)`` in metres (GG-CNN); remaining NaNs become 0 (the mean)."""
    d = np.asarray(depth, dtype=np.float32)
    out = np.empty(d.shape, np.float32)
    normalise_depth_into(d, invalid_depth(d), out)
    return out


def normalise_depth_into(depth: np.ndarray, invalid: np.ndarray, out: np.ndarray) -> None:
    """:func:`normalise_depth` written into ``out`` (float32, same shape), ``invalid`` already known."""
    if invalid.all():
        raise DatasetError("depth image has no valid pixel to normalise")
    mean = depth[~invalid].mean()  # a 1-D copy: the same summation order for a view and a copy
    np.subtract(depth, mean, out=out)
    np.clip(out, -1.0, 1.0, out=out)
    if invalid.any():
        out[invalid] = 0.0


def normalise_rgb(rgb: np.ndarray) -> np.ndarray:
    """``rgb / 255 - mean`` with one mean over the whole image, all channels (no std); ``(H, W, 3)``."""
    rgb = np.asarray(rgb)
    out = np.empty((3,) + rgb.shape[:2], np.float32)
    normalise_rgb_into(rgb, out)
    return out.transpose(1, 2, 0)


def normalise_rgb_into(rgb: np.ndarray, out: np.ndarray) -> None:
    """:func:`normalise_rgb` written channels-first into ``out`` (3, H, W) float32."""
    out[...] = np.moveaxis(np.asarray(rgb), -1, 0)
    np.divide(out, 255.0, out=out)
    out -= out.mean()


@dataclass(frozen=True)
class Normalisation:
    """How depth (metres) and colour become network input values; a model card names one."""

    depth_into: Callable[[np.ndarray, np.ndarray, np.ndarray], None]  # (depth, invalid, out (H, W))
    rgb_into: Callable[[np.ndarray, np.ndarray], None]                # (rgb (H, W, 3), out (3, H, W))
    formulas: dict                                                   # what format-1 model cards wrote


#: the named normalisations a model card may choose (``normalisation:``); code, not free text
NORMALISATIONS = {
    # GG-CNN's: depth minus its mean, clipped to +-1 m; colour / 255 minus one mean over all channels.
    "mean_centred": Normalisation(normalise_depth_into, normalise_rgb_into,
                                  {"depth": "clip(depth_m - mean(depth_m), -1, 1)",
                                   "rgb": "rgb / 255 - mean(rgb / 255)"}),
}
DEFAULT_NORMALISATION = "mean_centred"


def get_normalisation(name: str) -> Normalisation:
    try:
        return NORMALISATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown normalisation {name!r}; choices: {sorted(NORMALISATIONS)}") from None


def make_input(rgb: np.ndarray | None, depth: np.ndarray | None, channels: str,
               normalisation: str = DEFAULT_NORMALISATION) -> np.ndarray:
    """Normalised network input ``(C, H, W)`` float32; ``rgbd`` order is ``[depth, r, g, b]``."""
    if channels not in CHANNELS:
        raise ValueError(f"channels must be one of {sorted(CHANNELS)}, got {channels!r}")
    norm = get_normalisation(normalisation)
    needs_depth, needs_rgb = channels in ("depth", "rgbd"), channels in ("rgb", "rgbd")
    if needs_depth and depth is None:
        raise ValueError(f"model expects {channels!r} input but the sample has no depth image")
    if needs_rgb and rgb is None:
        what = "RGB-D" if channels == "rgbd" else "RGB"
        raise ValueError(f"model expects {what} input but the sample has depth only")
    if needs_rgb:
        rgb = np.asarray(rgb)
        if depth is not None and rgb.shape[:2] != np.shape(depth):
            raise ValueError(f"rgb shape {rgb.shape[:2]} differs from depth shape {np.shape(depth)}")
    shape = np.shape(depth) if needs_depth else rgb.shape[:2]
    out = np.empty((CHANNELS[channels],) + tuple(shape), np.float32)
    if needs_depth:
        d = np.asarray(depth, dtype=np.float32)
        norm.depth_into(d, invalid_depth(d), out[0])
    if needs_rgb:
        norm.rgb_into(rgb, out[int(needs_depth):])
    return out
