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

from .datasets import GraspSample, InputInfo, prepare_geometry
from .datasets.preprocessing import CHANNELS, inpaint_depth, invalid_depth, normalise_depth_into, normalise_rgb_into
from .datasets.transforms import center_crop_origin, crop_matrix


class FrameInput:
    def __init__(self, channels: str, input_size: int, crop: str = "center", inpaint: bool = True):
        if channels not in CHANNELS:
            raise ValueError(f"channels must be one of {sorted(CHANNELS)}, got {channels!r}")
        if crop not in ("center", "resize"):
            raise ValueError(f"crop must be 'resize' or 'center', got {crop!r}")
        self.channels, self.size, self.crop, self.inpaint = channels, int(input_size), crop, inpaint
        self.buffer = np.zeros((1, CHANNELS[channels], self.size, self.size), np.float32)
        self._info: dict[tuple[int, int], InputInfo] = {}

    def _window(self, depth: np.ndarray, rgb: np.ndarray | None):
        """The network's square window of the frame: views for a centre crop, resampled for a resize."""
        h, w = depth.shape
        s = self.size
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

    def __call__(self, depth: np.ndarray, rgb: np.ndarray | None = None) -> tuple[np.ndarray, InputInfo]:
        """``(1, C, S, S)`` input (the shared buffer) and how it was cut from the frame.

        ``depth`` (H, W) metres, invalid = NaN, inf or <= 0; ``rgb`` (H, W, 3) uint8 RGB order.
        """
        needs_depth = self.channels in ("depth", "rgbd")
        needs_rgb = self.channels in ("rgb", "rgbd")
        if needs_rgb and rgb is None:
            raise ValueError(f"model expects {self.channels!r} input but only depth was given")
        d, c, info = self._window(np.asarray(depth, dtype=np.float32), rgb if needs_rgb else None)
        plane = 0
        if needs_depth:
            invalid = invalid_depth(d)
            if self.inpaint and invalid.any():
                d = inpaint_depth(d)
                invalid = invalid_depth(d)
            normalise_depth_into(d, invalid, self.buffer[0, 0])
            plane = 1
        if needs_rgb:
            normalise_rgb_into(c, self.buffer[0, plane:plane + 3])
        return self.buffer, info
