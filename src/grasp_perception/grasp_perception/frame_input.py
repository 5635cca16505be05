"""A camera frame -> the network input, at run time: the same values ``datasets.prepare`` gives in
training (a test holds them equal), without the work inference does not need.

What it leaves out: the colour image for a depth-only model (and the depth image's normalisation for an
RGB-only one), the mask, the ground-truth grasps, and the copies. A centre crop is a view into the
frame; inpainting runs only when the window has missing depth; the normalised planes are written into
one buffer allocated once per input size and reused for every frame (the continuous mode's hot path).
The buffer is overwritten by the next call: copy what you keep.
"""
from __future__ import annotations

import numpy as np

from .datasets import CHANNELS, CROPS, GraspSample, InputInfo, prepare_geometry
from .datasets.preprocessing import (DEFAULT_NORMALISATION, check_depth_metres, get_normalisation, inpaint_depth,
                                     invalid_depth)
from .datasets.transforms import center_crop_origin, crop_matrix
from .metric_scale import warp_frame, window_matrix


def support_plane_slope(depth: np.ndarray, inlier_m: float = 0.005, iterations: int = 3, points: int = 1200,
                        flat_m: float = 1e-4) -> tuple[float, float] | None:
    """Slope ``(a, b)`` in metres per pixel (along u, v) of the dominant plane (the table), or None if flat.

    The networks were trained on top-down views, where the table is a constant depth that the input
    normalisation (``depth - mean``) removes; a tilted camera sees the table as a ramp the network has
    never seen (with the default model its best grasps move onto the empty table). Fits
    ``z = a u + b v + c`` by least squares on a fixed grid of about ``points`` pixels (no random draw: the
    same answer every frame), refitted on the points within ``inlier_m`` of the plane (objects are nearer
    than the table). None when the slope moves no pixel by ``flat_m`` (a top-down camera) or too few
    pixels are valid.
    """
    h, w = depth.shape
    stride = max(1, int(round(np.sqrt(h * w / points))))
    off = stride // 2
    grid = depth[off::stride, off::stride]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(grid) & (grid > 0)
    if valid.sum() < 50:
        return None
    v, u = np.nonzero(valid)
    z = grid[v, u].astype(np.float64)
    A = np.column_stack([off + stride * u, off + stride * v, np.ones(u.size)]).astype(np.float64)
    keep = np.ones(z.size, bool)
    for _ in range(iterations):
        coef, *_ = np.linalg.lstsq(A[keep], z[keep], rcond=None)
        resid = z - A @ coef
        keep = np.abs(resid) < max(inlier_m, 3 * np.std(resid[keep]))
        if keep.sum() < 50:
            return None
    a, b = float(coef[0]), float(coef[1])
    if (abs(a) * (w - 1) + abs(b) * (h - 1)) / 2 < flat_m:
        return None
    return a, b


def _plane(slope: tuple[float, float], h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The plane's u and v terms about the image centre, as a row and a column (broadcast, no (H, W) grid)."""
    du = (slope[0] * (np.arange(w) - (w - 1) / 2)).astype(np.float32)[None, :]
    dv = (slope[1] * (np.arange(h) - (h - 1) / 2)).astype(np.float32)[:, None]
    return du, dv


class FrameInput:
    def __init__(self, channels: str, input_size: int, crop: str = "center", inpaint: bool = True,
                 normalisation: str = DEFAULT_NORMALISATION):
        if channels not in CHANNELS:
            raise ValueError(f"channels must be one of {sorted(CHANNELS)}, got {channels!r}")
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
        self.channels, self.size, self.crop, self.inpaint = channels, int(input_size), crop, inpaint
        self.normalisation = get_normalisation(normalisation)
        self.buffer = np.zeros((1, CHANNELS[channels], self.size, self.size), np.float32)
        self._info: dict[tuple[int, int], InputInfo] = {}

    def _window(self, depth: np.ndarray, rgb: np.ndarray | None, scale: float = 1.0,
                centre: tuple[float, float] | None = None):
        """The network's square window of the frame: views for a centre crop, resampled for a resize or for a
        metric rescale (``scale`` input px per frame px about ``centre``, see :mod:`.metric_scale`)."""
        h, w = depth.shape
        s = self.size
        if self.crop == "center" and (scale != 1.0 or centre is not None):
            top, left = center_crop_origin((h, w), s) if s <= min(h, w) else ((h - s) / 2, (w - s) / 2)
            matrix = window_matrix(scale, centre or (left + s / 2, top + s / 2), s)
            d, c, _ = warp_frame(matrix, (s, s), depth, rgb)  # invalid depth stays invalid: inpainted below
            return d, c, InputInfo(matrix=matrix, original_shape=(h, w), input_size=s)
        if self.crop == "center":
            if s > h or s > w:
                raise ValueError(f"centre crop {s}x{s} does not fit in the {h}x{w} image; use a smaller input size")
            top, left = center_crop_origin((h, w), s)
            info = self._info.get((h, w))
            if info is None:
                info = self._info[(h, w)] = InputInfo(matrix=crop_matrix(top, left), original_shape=(h, w), input_size=s)
            window = (slice(top, top + s), slice(left, left + s))
            return depth[window], None if rgb is None else rgb[window], info
        cut, info = prepare_geometry(GraspSample(rgb=rgb, depth=depth, mask=None), s, "resize")
        return cut.depth, cut.rgb, info

    def __call__(self, depth: np.ndarray, rgb: np.ndarray | None = None, level_table: bool = False,
                 scale: float = 1.0, centre: tuple[float, float] | None = None) -> tuple[np.ndarray, InputInfo]:
        """``(1, C, S, S)`` input (the shared buffer) and how it was cut from the frame.

        ``depth`` (H, W) metres, invalid = NaN, inf or <= 0 (depth in other units is a DatasetError);
        ``rgb`` (H, W, 3) uint8 RGB order. ``level_table`` removes the table's slope
        (:func:`support_plane_slope`) from the window the network sees, fitted on that window: for tilted
        cameras; a level table is left as it is. ``scale`` (network-input px per frame px) and ``centre`` (frame
        px, default the frame's centre) resample a centre-crop model's window to its trained metric scale
        (:func:`.metric_scale.input_scale`); 1 and None are the exact crop of training.
        """
        needs_depth = self.channels in ("depth", "rgbd")
        needs_rgb = self.channels in ("rgb", "rgbd")
        if needs_rgb and rgb is None:
            raise ValueError(f"model expects {self.channels!r} input but only depth was given")
        depth = np.asarray(depth, dtype=np.float32)
        check_depth_metres(depth)  # also for an RGB-only model: its depth is used to place the grasps
        d, c, info = self._window(depth, rgb if needs_rgb else None, scale, centre)
        plane = 0
        if needs_depth:
            invalid = invalid_depth(d)
            if self.inpaint and invalid.any():
                d = inpaint_depth(d)
                invalid = invalid_depth(d)
            out = self.buffer[0, 0]
            slope = support_plane_slope(d) if level_table else None
            if slope is not None:
                du, dv = _plane(slope, *d.shape)
                np.subtract(d, du, out=out)
                out -= dv
                d = out  # normalised in place below
            self.normalisation.depth_into(d, invalid, out)
            plane = 1
        if needs_rgb:
            self.normalisation.rgb_into(c, self.buffer[0, plane:plane + 3])
        return self.buffer, info
