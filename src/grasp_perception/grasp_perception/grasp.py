"""Image-frame grasp representation and its rotated rectangle.

Conventions (shared by every module of the package):

* Pixel coordinates are ``(u, v)`` = (column, row); the image ``v`` axis points down.
* ``angle`` is in radians, measured **anticlockwise as seen on screen** from the image
  ``+u`` axis, wrapped to ``[-pi/2, pi/2)`` (a parallel-jaw grasp is symmetric under a half
  turn). In array terms the opening direction is ``(cos a, -sin a)`` in ``(u, v)``.
  Jacquard's ``theta`` column is clockwise-on-screen degrees, so its loader negates it.
* ``width`` is the gripper **opening** in pixels, along the opening direction.
* ``jaw`` is the **jaw size** in pixels, perpendicular to the opening direction.
* The rectangle corners ``p0..p3`` are ``(u, v)`` rows, with ``p0 -> p1`` along the
  opening direction (length = width) and ``p1 -> p2`` along the jaw (length = jaw). This is
  the order of the Cornell ``cpos`` files and of the GG-CNN/GR-ConvNet code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np


def wrap_angle(angle: float | np.ndarray) -> float | np.ndarray:
    """Wrap an angle (or array of angles) to ``[-pi/2, pi/2)``."""
    return (np.asarray(angle) + np.pi / 2) % np.pi - np.pi / 2 if isinstance(angle, np.ndarray) \
        else (angle + math.pi / 2) % math.pi - math.pi / 2


def angle_difference(a: float, b: float) -> float:
    """Smallest absolute difference between two grasp angles, in ``[0, pi/2]``."""
    return abs(wrap_angle(a - b))


def angle_to_bin(angle: float | np.ndarray, n_bins: int) -> int | np.ndarray:
    """Index of the angle bin holding ``angle``; bins split ``[-pi/2, pi/2)`` into equal parts.

    With 3 bins they are [-90, -30), [-30, 30), [30, 90) degrees, as in ORANGE.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    shifted = np.asarray(wrap_angle(np.asarray(angle, dtype=np.float64))) + np.pi / 2
    idx = np.minimum((shifted * n_bins / np.pi).astype(np.int64), n_bins - 1)
    return int(idx) if np.ndim(idx) == 0 else idx


@dataclass(frozen=True)
class ImageGrasp:
    """A planar grasp in image coordinates (see module docstring for conventions)."""

    u: float
    v: float
    angle: float
    width: float
    jaw: float
    quality: float = 1.0
    angle_bin: int = 0  # index of the network head (angle bin) the grasp came from

    def __post_init__(self):
        for name in ("u", "v", "angle", "width", "jaw", "quality"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"ImageGrasp.{name} must be finite, got {value}")
        if self.width < 0 or self.jaw < 0:
            raise ValueError(f"ImageGrasp width/jaw must be >= 0, got {self.width}/{self.jaw}")
        object.__setattr__(self, "angle", float(wrap_angle(float(self.angle))))

    @property
    def center(self) -> np.ndarray:
        return np.array([self.u, self.v])

    @property
    def direction(self) -> np.ndarray:
        """Unit vector of the opening direction in ``(u, v)``."""
        return np.array([math.cos(self.angle), -math.sin(self.angle)])

    def as_rectangle(self) -> np.ndarray:
        """The four corners ``p0..p3`` as a ``(4, 2)`` float array of ``(u, v)``."""
        return rectangle_corners(self.u, self.v, self.angle, self.width, self.jaw)

    def shifted(self, du: float, dv: float) -> "ImageGrasp":
        return replace(self, u=self.u + du, v=self.v + dv)

    @staticmethod
    def from_rectangle(corners: np.ndarray, quality: float = 1.0) -> "ImageGrasp":
        """Inverse of :meth:`as_rectangle` (exact for any rectangle built by it)."""
        p = np.asarray(corners, dtype=np.float64)
        if p.shape != (4, 2):
            raise ValueError(f"a grasp rectangle needs 4 (u, v) corners, got shape {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError("grasp rectangle corners must be finite")
        du, dv = p[1] - p[0]
        return ImageGrasp(
            u=float(p[:, 0].mean()),
            v=float(p[:, 1].mean()),
            angle=float(math.atan2(-dv, du)),
            width=float(math.hypot(du, dv)),
            jaw=float(np.linalg.norm(p[2] - p[1])),
            quality=quality,
        )


def rectangle_corners(u, v, angle, width, jaw) -> np.ndarray:
    """Corners of a grasp rectangle; vectorised over array inputs (last axes ``(4, 2)``)."""
    u, v, angle, width, jaw = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64)
                                                   for x in (u, v, angle, width, jaw)))
    a = np.stack([np.cos(angle), -np.sin(angle)], axis=-1)  # opening direction
    b = np.stack([np.sin(angle), np.cos(angle)], axis=-1)   # jaw direction (a rotated +90 deg on screen)
    c = np.stack([u, v], axis=-1)
    half_w = (width / 2)[..., None] * a
    half_j = (jaw / 2)[..., None] * b
    p0 = c - half_w - half_j
    p1 = c + half_w - half_j
    p2 = c + half_w + half_j
    p3 = c - half_w + half_j
    return np.stack([p0, p1, p2, p3], axis=-2)
