"""Geometric transforms applied to images and grasps together, so labels stay aligned.

Every op is a 2x3 affine matrix ``M`` mapping source pixel ``(u, v)`` to output ``(u, v)``,
with pixel centres at integer coordinates (OpenCV's convention for ``warpAffine`` and
``resize``). Depth and mask are warped with nearest-neighbour so invalid (NaN) depth never mixes
with valid depth; RGB is interpolated. Grasps whose centre leaves the output are dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..grasp import ImageGrasp
from .sample import GraspSample

_BORDERS = {"replicate": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT_101,
            "constant": cv2.BORDER_CONSTANT}


def _size2(size) -> tuple[int, int]:
    """``int`` or ``(h, w)`` -> ``(h, w)``."""
    h, w = (size, size) if np.isscalar(size) else size
    if int(h) != h or int(w) != w or h < 1 or w < 1:
        raise ValueError(f"size must be a positive int or (h, w), got {size!r}")
    return int(h), int(w)


def compose(*matrices: np.ndarray) -> np.ndarray:
    """``compose(A, B)`` applies ``B`` first, then ``A`` (like matrix products)."""
    out = np.eye(3)
    for m in matrices:
        out = out @ np.vstack([np.asarray(m, dtype=np.float64), [0.0, 0.0, 1.0]])
    return out[:2]


def invert(matrix: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64)))


def _transform_fields(fields: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``(n, 5)`` rows of ``u, v, angle, width, jaw`` through an affine (exact for similarities).

    Vectorised because dense (PDG) labels give thousands of grasps per training image.
    """
    m = np.asarray(matrix, dtype=np.float64)
    a = m[:, :2]
    u, v, angle, width, jaw = fields.T
    cos, sin = np.cos(angle), np.sin(angle)
    centre = a @ np.stack([u, v]) + m[:, 2:3]
    d = a @ np.stack([cos, -sin])  # opening direction
    j = a @ np.stack([sin, cos])   # jaw direction
    return np.stack([centre[0], centre[1], np.arctan2(-d[1], d[0]),
                     width * np.hypot(d[0], d[1]), jaw * np.hypot(j[0], j[1])], axis=1)


def transform_grasp(g: ImageGrasp, matrix: np.ndarray) -> ImageGrasp:
    """Map a grasp through an affine (rotation/scale/flip/shift; exact for similarities)."""
    u, v, angle, width, jaw = _transform_fields(np.array([[g.u, g.v, g.angle, g.width, g.jaw]]), matrix)[0].tolist()
    return replace(g, u=u, v=v, angle=angle, width=width, jaw=jaw)


def transform_grasps(grasps, matrix: np.ndarray, shape: tuple[int, int]) -> list[ImageGrasp]:
    """The grasps moved by ``matrix`` whose centre pixel (nearest integer) exists in an image of ``shape``."""
    grasps = list(grasps)
    if not grasps:
        return []
    moved = _transform_fields(np.array([[g.u, g.v, g.angle, g.width, g.jaw] for g in grasps]), matrix)
    col, row = np.floor(moved[:, 0] + 0.5), np.floor(moved[:, 1] + 0.5)
    keep = np.flatnonzero((col >= 0) & (col < shape[1]) & (row >= 0) & (row < shape[0]))
    return [ImageGrasp(*moved[k].tolist(), quality=grasps[k].quality, angle_bin=grasps[k].angle_bin)
            for k in keep.tolist()]


def warp(sample: GraspSample, matrix: np.ndarray, size, border: str = "constant") -> GraspSample:
    """Apply affine ``matrix`` to every image and grasp of ``sample``; output ``size`` (h, w).

    ``border``: "constant" fills outside pixels with NaN depth, black RGB and False mask;
    "replicate"/"reflect" extend the image instead.
    """
    h, w = _size2(size)
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {sorted(_BORDERS)}, got {border!r}")
    m = np.asarray(matrix, dtype=np.float64)
    mode = _BORDERS[border]

    def apply(image, interp, fill):
        return cv2.warpAffine(image, m, (w, h), flags=interp, borderMode=mode, borderValue=fill)

    depth = apply(sample.depth, cv2.INTER_NEAREST, float("nan"))
    rgb = None if sample.rgb is None else apply(sample.rgb, cv2.INTER_LINEAR, (0, 0, 0))
    mask = None if sample.mask is None else \
        apply(sample.mask.astype(np.uint8), cv2.INTER_NEAREST, 0).astype(bool)
    return replace(sample, rgb=rgb, depth=depth, mask=mask,
                   grasps=transform_grasps(sample.grasps, m, (h, w)))


def resize_matrix(src_shape: tuple[int, int], size) -> np.ndarray:
    """Affine of ``cv2.resize`` from ``src_shape`` (h, w) to ``size`` (pixel-centre aligned)."""
    (sh, sw), (h, w) = src_shape, _size2(size)
    fx, fy = w / sw, h / sh
    return np.array([[fx, 0.0, 0.5 * (fx - 1)], [0.0, fy, 0.5 * (fy - 1)]])


def resize(sample: GraspSample, size) -> GraspSample:
    """Resize the whole image to ``size`` (int = square). The aspect ratio must be kept (within
    a pixel of rounding): an anisotropic scale would turn grasp rectangles into parallelograms,
    so crop to the target aspect first."""
    h, w = _size2(size)
    sh, sw = sample.shape
    if abs(sh * w / sw - h) > 1.0:
        raise ValueError(f"resize from {sh}x{sw} to {h}x{w} would change the aspect ratio; "
                         f"crop first (e.g. center_crop to a square)")
    m = resize_matrix((sh, sw), (h, w))
    down = h * w < sh * sw
    rgb = None
    if sample.rgb is not None:  # INTER_AREA anti-aliases when shrinking (1024 -> 300)
        rgb = cv2.resize(sample.rgb, (w, h), interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)
    warped = warp(replace(sample, rgb=None), m, (h, w), border="replicate")
    return replace(warped, rgb=rgb)


def crop_matrix(top: int, left: int) -> np.ndarray:
    return np.array([[1.0, 0.0, -left], [0.0, 1.0, -top]])


def crop(sample: GraspSample, top: int, left: int, size) -> GraspSample:
    """Cut the window ``[top:top+h, left:left+w]``; it must lie inside the image."""
    h, w = _size2(size)
    sh, sw = sample.shape
    if top < 0 or left < 0 or top + h > sh or left + w > sw:
        raise ValueError(f"crop window top={top} left={left} size={h}x{w} does not fit in the "
                         f"{sh}x{sw} image")
    window = (slice(top, top + h), slice(left, left + w))
    return replace(sample,
                   rgb=None if sample.rgb is None else sample.rgb[window].copy(),
                   depth=sample.depth[window].copy(),
                   mask=None if sample.mask is None else sample.mask[window].copy(),
                   grasps=transform_grasps(sample.grasps, crop_matrix(top, left), (h, w)))


def center_crop_origin(shape: tuple[int, int], size) -> tuple[int, int]:
    """``(top, left)`` of a centred window of ``size`` in an image of ``shape``."""
    h, w = _size2(size)
    return (shape[0] - h) // 2, (shape[1] - w) // 2


def center_crop(sample: GraspSample, size) -> GraspSample:
    top, left = center_crop_origin(sample.shape, size)
    return crop(sample, top, left, size)


@dataclass
class Augment:
    """Random rotation, zoom, horizontal flip and translation, as one affine warp.

    * ``rotation_deg``: angle drawn uniformly from ``[-rotation_deg, rotation_deg]``, about the
      image centre, anticlockwise on screen for positive values (grasp angles turn the same way).
    * ``zoom``: factor ``z`` in ``[lo, hi]``; a centred window ``z`` times the image size is
      scaled back to full size (so grasps grow by ``1/z``), as GG-CNN's crop-and-resize.
    * ``flip``: mirror left-right with probability 0.5 (grasp angle -> -angle).
    * ``translation_px``: shift drawn uniformly from ``[-t, t]`` per axis.
    * ``border``: how pixels that come from outside the image are filled. "replicate" (default)
      extends the edge (usually background); "reflect" can mirror unlabelled objects in;
      "constant" gives NaN depth, which :func:`inpaint_depth` later fills.
    """

    rotation_deg: float = 180.0
    zoom: tuple[float, float] = (0.8, 1.0)
    flip: bool = True
    translation_px: float = 0.0
    border: str = "replicate"

    def __post_init__(self):
        lo, hi = self.zoom
        if not 0 < lo <= hi:
            raise ValueError(f"zoom must be (lo, hi) with 0 < lo <= hi, got {self.zoom}")
        if self.rotation_deg < 0 or self.translation_px < 0:
            raise ValueError("rotation_deg and translation_px must be >= 0")
        if self.border not in _BORDERS:
            raise ValueError(f"border must be one of {sorted(_BORDERS)}, got {self.border!r}")

    def sample_params(self, rng: np.random.Generator) -> dict:
        # always draw every value so the random stream does not depend on which ops are enabled
        rot = rng.uniform(-1.0, 1.0) * self.rotation_deg
        zoom = rng.uniform(*self.zoom)
        flip = bool(rng.random() < 0.5) and self.flip
        shift = rng.uniform(-1.0, 1.0, size=2) * self.translation_px
        return {"rotation_deg": float(rot), "zoom": float(zoom), "flip": flip,
                "translation": (float(shift[0]), float(shift[1]))}

    @staticmethod
    def matrix(params: dict, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        cu, cv = (w - 1) / 2.0, (h - 1) / 2.0
        t = math.radians(params["rotation_deg"])
        # anticlockwise on screen with v pointing down: (1, 0) -> (cos t, -sin t)
        rot = np.array([[math.cos(t), math.sin(t), 0.0], [-math.sin(t), math.cos(t), 0.0]])
        s = 1.0 / params["zoom"]
        scale = np.array([[s, 0.0, 0.0], [0.0, s, 0.0]])
        flip = np.array([[-1.0 if params["flip"] else 1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        du, dv = params["translation"]
        to_origin = np.array([[1.0, 0.0, -cu], [0.0, 1.0, -cv]])
        back = np.array([[1.0, 0.0, cu + du], [0.0, 1.0, cv + dv]])
        return compose(back, scale, rot, flip, to_origin)

    def __call__(self, sample: GraspSample, rng: np.random.Generator) -> GraspSample:
        m = self.matrix(self.sample_params(rng), sample.shape)
        return warp(sample, m, sample.shape, border=self.border)
