"""Pinhole camera model and the PLGP depth-noise model.

Frames: the camera **optical frame** is x right, y down, z forward (ROS ``*_optical_frame``),
and ``(u, v)`` = (column, row) with integer values at pixel centres (OpenCV/RealSense convention).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels (no distortion: the RealSense colour stream is rectified)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self):
        if int(self.width) != self.width or int(self.height) != self.height or self.width < 1 or self.height < 1:
            raise ValueError(f"CameraIntrinsics width/height must be positive integers, got {self.width}x{self.height}")
        for name in ("fx", "fy", "cx", "cy"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"CameraIntrinsics.{name} must be finite, got {getattr(self, name)}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"CameraIntrinsics fx/fy must be > 0, got {self.fx}/{self.fy}")

    @classmethod
    def realsense_d435_color(cls, width: int = 640, height: int = 480) -> "CameraIntrinsics":
        """Typical D435 colour-stream intrinsics at 640x480 (fx = fy ~ 615 px, centred principal point).

        This gives a ~55 x 43 deg FOV; the datasheet's 69 x 42 deg is the 16:9 (1920x1080) mode, which
        the 4:3 640x480 mode crops horizontally. Real units differ by a few pixels: override them in
        config with the values from the camera's ``camera_info``. Other sizes scale the 640x480 values.
        """
        s = width / 640.0
        return cls(width, height, 615.0 * s, 615.0 * s, (width - 1) / 2.0, (height - 1) / 2.0)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def fovy_deg(self) -> float:
        """Vertical field of view of a centred camera with this ``fy`` (what a plain MuJoCo ``fovy`` encodes)."""
        return math.degrees(2.0 * math.atan(self.height / (2.0 * self.fy)))

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """``(..., 3)`` points in the optical frame -> ``(..., 2)`` pixel ``(u, v)``; points with z <= 0 give NaN."""
        p = np.asarray(points_cam, dtype=np.float64)
        if p.shape[-1] != 3:
            raise ValueError(f"project: points_cam must have shape (..., 3), got {p.shape}")
        z = p[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([self.fx * p[..., 0] / z + self.cx, self.fy * p[..., 1] / z + self.cy], axis=-1)
        uv[z <= 0] = np.nan
        return uv

    def deproject(self, u, v, depth) -> np.ndarray:
        """Pixel(s) and z-depth (metres along the optical axis, not range) -> ``(..., 3)`` optical-frame points."""
        u, v, z = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float), np.asarray(depth, float))
        return np.stack([(u - self.cx) * z / self.fx, (v - self.cy) * z / self.fy, z], axis=-1)

    def deproject_image(self, depth: np.ndarray) -> np.ndarray:
        """``(H, W)`` z-depth image -> ``(H, W, 3)`` point image (NaN where depth is NaN)."""
        if depth.shape != (self.height, self.width):
            raise ValueError(f"deproject_image: depth shape {depth.shape} != intrinsics {(self.height, self.width)}")
        v, u = np.mgrid[0:self.height, 0:self.width]
        return self.deproject(u, v, depth)

    def mujoco_camera_attributes(self) -> dict[str, str]:
        """MJCF ``<camera>`` attributes that reproduce these intrinsics exactly in MuJoCo's renderer.

        A plain MuJoCo camera (``fovy``) has square pixels and a principal point at the image centre,
        which cannot express ``fx != fy`` or an off-centre ``(cx, cy)``. MuJoCo >= 3 accepts
        ``resolution`` + ``sensorsize`` + ``focalpixel`` + ``principalpixel`` instead. Measured on
        MuJoCo 4.0 (see test_camera.py): the rendered principal point is
        ``((W-1)/2 - principalpixel_x, (H-1)/2 - principalpixel_y)``, so the offsets are negated here.
        The sensor size only sets the length unit of the focal length; any positive value works.
        """
        px = 3e-6  # nominal pixel pitch (m); cancels out of the projection
        ox = (self.width - 1) / 2.0 - self.cx
        oy = (self.height - 1) / 2.0 - self.cy
        return {
            "resolution": f"{self.width} {self.height}",
            "sensorsize": f"{self.width * px:.9g} {self.height * px:.9g}",
            "focalpixel": f"{self.fx:.9g} {self.fy:.9g}",
            "principalpixel": f"{ox:.9g} {oy:.9g}",
        }


def realsense_d435_color(width: int = 640, height: int = 480) -> CameraIntrinsics:
    """Module-level alias of :meth:`CameraIntrinsics.realsense_d435_color`."""
    return CameraIntrinsics.realsense_d435_color(width, height)


class DepthNoise:
    """Depth degradation of PLGP (Pixel-Level Grasp Pose, Sec. III-B), applied to a perfect z-depth image.

    1. Gradient-dependent dropout: a pixel is dropped when ``delta < f(grad)``, ``delta ~ U[0, 1)``,
       with ``f`` a linear map of the local depth gradient to ``[0, 1]``. The paper gives no
       constants; here ``f(g) = clip(g / gradient_scale, 0, 1)`` with ``g`` the central-difference
       gradient magnitude in metres per pixel, so a fixed edge always has the same dropout chance
       (a per-image max normalisation would make it depend on the scene). Dropped pixels are NaN
       (a RealSense reports 0 = no data; NaN is this package's "no return").
    2. Additive zero-mean Gaussian noise, ``sigma_m`` metres per pixel (not given in the paper;
       1 mm is roughly a D435's RMS error at 0.6 m).
    3. Down-sampling by ``downsample`` and up-sampling back, which removes small depth detail that
       a real stereo camera does not resolve (the paper's factor ``n``, value not given).
       Dropped pixels are filled before resampling so holes do not bleed into their neighbours,
       then restored as NaN.

    ``enabled=False`` returns the input unchanged (a copy). Results are reproducible for a seed.
    """

    def __init__(self, enabled: bool = True, seed: int | None = None, *, gradient_scale: float = 0.05,
                 sigma_m: float = 0.001, downsample: int = 2):
        if gradient_scale <= 0:
            raise ValueError(f"DepthNoise gradient_scale must be > 0 m/px, got {gradient_scale}")
        if sigma_m < 0:
            raise ValueError(f"DepthNoise sigma_m must be >= 0, got {sigma_m}")
        if int(downsample) != downsample or downsample < 1:
            raise ValueError(f"DepthNoise downsample must be an integer >= 1, got {downsample}")
        self.enabled = enabled
        self.gradient_scale = float(gradient_scale)
        self.sigma_m = float(sigma_m)
        self.downsample = int(downsample)
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int | np.random.SeedSequence | None) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, depth: np.ndarray) -> np.ndarray:
        depth = np.asarray(depth, dtype=np.float32)
        if depth.ndim != 2:
            raise ValueError(f"DepthNoise: depth must be a 2-D image, got shape {depth.shape}")
        if not self.enabled:
            return depth.copy()
        missing = ~np.isfinite(depth)
        # Fill holes with the nearest-ish valid value (the image median is enough here) so that
        # gradients and resampling are not dominated by NaN/0 edges.
        filled = np.where(missing, np.nanmedian(depth) if (~missing).any() else 0.0, depth).astype(np.float32)
        gy, gx = np.gradient(filled)
        p_drop = np.clip(np.hypot(gx, gy) / self.gradient_scale, 0.0, 1.0)
        dropped = self.rng.random(depth.shape) < p_drop
        noisy = filled + self.rng.normal(0.0, self.sigma_m, depth.shape).astype(np.float32)
        if self.downsample > 1:
            h, w = depth.shape
            small = cv2.resize(noisy, (max(1, w // self.downsample), max(1, h // self.downsample)),
                               interpolation=cv2.INTER_AREA)
            noisy = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        noisy[missing | dropped] = np.nan
        return noisy.astype(np.float32)
