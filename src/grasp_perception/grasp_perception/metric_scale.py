"""Cameras the model never saw: rescale a frame to the metric scale the model was trained at.

A generative grasp network learns objects and gripper openings in *pixels*, so a model trained with a camera
at 0.6 m sees a 4 cm box as ~40 px wide; the same box is 60 px at 0.4 m and 80 px in a 1280x720 frame at 0.6 m,
and its grasps come out wrong. The card records the scale the network input had in training
(``metres_per_pixel`` on the work surface: surface depth / focal length). At run time a frame's own scale
is its surface depth over its focal length, and the frame is resampled by the ratio before the network
window is cut, so every camera gives the network the input it was trained on; grasps are mapped back through
the same affine, so widths in metres come out right whatever the resolution or height.

The surface depth is a high percentile of the valid depth in the workspace region: the work surface is the
farthest large surface there (objects are nearer), and a percentile below 100 ignores the holes and the
far edges of a tilted view.
"""
from __future__ import annotations

import math

import numpy as np

# Ratios within this of 1 are treated as 1: the exact centre crop of training (the zoom augmentation already
# covers a few per cent), and no resampling cost for the camera the model was trained with.
SCALE_TOLERANCE = 0.03
SURFACE_PERCENTILE = 80.0
_GRID_POINTS = 4000  # pixels sampled for the percentile (a fixed grid: the same answer every frame)


def surface_depth(depth: np.ndarray, region: tuple[float, float, float, float] | None = None) -> float:
    """The work surface's depth (m) in ``region`` = ``(u_min, v_min, u_max, v_max)`` px (None: the central half
    of the frame): the :data:`SURFACE_PERCENTILE` percentile of its valid pixels, on a fixed sub-grid."""
    h, w = depth.shape
    if region is None:
        region = (w / 4, h / 4, 3 * w / 4, 3 * h / 4)
    u0, v0, u1, v1 = (int(round(x)) for x in region)
    u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, w), min(v1, h)
    if u1 <= u0 or v1 <= v0:
        raise ValueError(f"surface_depth: region {region} does not overlap the {w}x{h} frame")
    stride = max(1, int(math.sqrt((u1 - u0) * (v1 - v0) / _GRID_POINTS)))
    sub = depth[v0:v1:stride, u0:u1:stride]
    with np.errstate(invalid="ignore"):
        valid = sub[np.isfinite(sub) & (sub > 0)]
    if valid.size == 0:
        raise ValueError(f"surface_depth: no valid depth in the region {region} of the {w}x{h} frame")
    return float(np.percentile(valid, SURFACE_PERCENTILE))


def frame_metres_per_pixel(depth: np.ndarray, fx: float, fy: float,
                           region: tuple[float, float, float, float] | None = None) -> float:
    """Metres per pixel of this frame on its work surface."""
    if not (fx > 0 and fy > 0):
        raise ValueError(f"focal lengths must be > 0 px, got fx={fx}, fy={fy}")
    return surface_depth(depth, region) / (0.5 * (fx + fy))


def input_scale(model_metres_per_pixel: float | None, depth: np.ndarray, fx: float, fy: float,
                region: tuple[float, float, float, float] | None = None) -> float:
    """Network-input pixels per frame pixel that bring this frame to the model's trained scale (1.0 when the
    card records no scale, or when the ratio is within :data:`SCALE_TOLERANCE`)."""
    if model_metres_per_pixel is None:
        return 1.0
    s = frame_metres_per_pixel(depth, fx, fy, region) / model_metres_per_pixel
    return 1.0 if abs(s - 1.0) <= SCALE_TOLERANCE else s


def window_matrix(scale: float, centre: tuple[float, float], size: int) -> np.ndarray:
    """2x3 affine from frame pixels to network-input pixels: scale about ``centre`` (frame px), which lands on
    the middle of the ``size`` square window. At scale 1 with the centre of a centre crop it is that crop."""
    cu, cv = centre
    half = size / 2.0
    return np.array([[scale, 0.0, half - scale * cu], [0.0, scale, half - scale * cv]])


def warp_frame(matrix: np.ndarray, size: tuple[int, int], depth: np.ndarray, rgb: np.ndarray | None = None,
               labels: np.ndarray | None = None):
    """``depth``, ``rgb`` and ``labels`` (an integer image: mask, segmentation) through the 2x3 ``matrix`` into a
    ``size`` = (width, height) image: ``(depth, rgb, labels)``, None where not given.

    Nearest for depth and labels: invalid depth stays invalid (to be inpainted later) instead of being blended
    into its neighbours, and ids stay ids; outside the frame is invalid depth, black colour, label 0. Linear for
    colour. The one place these rules live: the run-time window and the training data's rescale share them.
    """
    import cv2

    d = cv2.warpAffine(np.asarray(depth, np.float32), matrix, size, flags=cv2.INTER_NEAREST,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    c = None if rgb is None else cv2.warpAffine(rgb, matrix, size, flags=cv2.INTER_LINEAR,
                                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    m = None
    if labels is not None:
        lab = np.asarray(labels)
        m = cv2.warpAffine(lab.astype(np.int32) if lab.dtype == bool else lab, matrix, size, flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(lab.dtype)
    return d, c, m


def rescale_frame(scale: float, depth: np.ndarray, rgb: np.ndarray | None = None, labels=None):
    """The whole frame resampled by ``scale`` (output px per input px, about the pixel origin, as
    :func:`window_matrix`): ``(depth, rgb, labels, (width, height))``. The camera that would have taken it has
    the intrinsics ``fx, fy, cx, cy`` times ``scale``."""
    h, w = np.shape(depth)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    matrix = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]])
    return (*warp_frame(matrix, size, depth, rgb, labels), size)

