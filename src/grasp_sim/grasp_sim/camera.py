"""The simulated camera's MuJoCo attributes and the PLGP depth-noise model.

The pinhole model itself (:class:`CameraIntrinsics`) lives in ``grasp_perception.geometry``, shared with
the perception node; it is re-exported here for the simulator's callers.
"""
from __future__ import annotations

import cv2
import numpy as np
from grasp_perception.geometry import CameraIntrinsics, realsense_d435_color

__all__ = ["CameraIntrinsics", "DepthNoise", "mujoco_camera_attributes", "perturbed_pose", "realsense_d435_color"]


def mujoco_camera_attributes(intrinsics: CameraIntrinsics) -> dict[str, str]:
    """MJCF ``<camera>`` attributes that reproduce these intrinsics exactly in MuJoCo's renderer.

    A plain MuJoCo camera (``fovy``) has square pixels and a principal point at the image centre,
    which cannot express ``fx != fy`` or an off-centre ``(cx, cy)``. MuJoCo >= 3 accepts
    ``resolution`` + ``sensorsize`` + ``focalpixel`` + ``principalpixel`` instead. Measured on
    MuJoCo 4.0 (see test_camera.py): the rendered principal point is
    ``((W-1)/2 - principalpixel_x, (H-1)/2 - principalpixel_y)``, so the offsets are negated here.
    The sensor size only sets the length unit of the focal length; any positive value works.
    """
    px = 3e-6  # nominal pixel pitch (m); cancels out of the projection
    ox = (intrinsics.width - 1) / 2.0 - intrinsics.cx
    oy = (intrinsics.height - 1) / 2.0 - intrinsics.cy
    return {
        "resolution": f"{intrinsics.width} {intrinsics.height}",
        "sensorsize": f"{intrinsics.width * px:.9g} {intrinsics.height * px:.9g}",
        "focalpixel": f"{intrinsics.fx:.9g} {intrinsics.fy:.9g}",
        "principalpixel": f"{ox:.9g} {oy:.9g}",
    }


class DepthNoise:
    """Depth degradation of PLGP (Pixel-Level Grasp Pose, Sec. III-B), applied to a perfect z-depth image.

    1. Gradient-dependent dropout: a pixel is dropped when ``delta < f(grad)``, ``delta ~ U[0, 1)``,
       with ``f`` a linear map of the local depth gradient to ``[0, 1]``. The paper gives no
       constants; here ``f(g) = clip(g / gradient_scale, 0, 1)`` with ``g`` the central-difference
       gradient magnitude in metres per pixel, so a fixed edge always has the same dropout chance
       (a per-image max normalisation would make it depend on the scene). Dropped pixels are NaN
       (a RealSense reports 0 = no data; NaN is this package's "no return").
    2. Additive zero-mean Gaussian noise of standard deviation ``sigma_m + sigma_z2 * z**2`` metres at
       depth ``z`` (not given in the paper; the depth-dependent term is a stereo camera's RMS error, see
       ``camera.depth_noise`` in config/sim/realistic.yaml).
    3. Down-sampling by ``downsample`` and up-sampling back, which removes small depth detail that
       a real stereo camera does not resolve (the paper's factor ``n``, value not given).
       Dropped pixels are filled before resampling so holes do not bleed into their neighbours,
       then restored as NaN.

    ``enabled=False`` returns the input unchanged (a copy). Results are reproducible for a seed.
    """

    def __init__(self, enabled: bool = True, seed: int | None = None, *, gradient_scale: float = 0.05,
                 sigma_m: float = 0.001, downsample: int = 2, sigma_z2: float = 0.0):
        if gradient_scale <= 0:
            raise ValueError(f"DepthNoise gradient_scale must be > 0 m/px, got {gradient_scale}")
        if sigma_m < 0 or sigma_z2 < 0:
            raise ValueError(f"DepthNoise sigma_m and sigma_z2 must be >= 0, got {sigma_m}, {sigma_z2}")
        if int(downsample) != downsample or downsample < 1:
            raise ValueError(f"DepthNoise downsample must be an integer >= 1, got {downsample}")
        self.enabled = enabled
        self.gradient_scale = float(gradient_scale)
        self.sigma_m = float(sigma_m)
        self.sigma_z2 = float(sigma_z2)
        self.downsample = int(downsample)
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_settings(cls, noise, seed: int | None = None) -> "DepthNoise":
        """From ``camera.depth_noise`` of the sim settings (:class:`grasp_sim.settings.DepthNoiseSettings`)."""
        return cls(enabled=noise.enabled, seed=seed, gradient_scale=noise.gradient_scale, sigma_m=noise.sigma_base,
                   downsample=noise.downsample, sigma_z2=noise.sigma_z2)

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
        sigma = self.sigma_m + self.sigma_z2 * filled.astype(np.float64) ** 2
        noisy = filled + (self.rng.normal(0.0, 1.0, depth.shape) * sigma).astype(np.float32)
        if self.downsample > 1:
            h, w = depth.shape
            small = cv2.resize(noisy, (max(1, w // self.downsample), max(1, h // self.downsample)),
                               interpolation=cv2.INTER_AREA)
            noisy = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        noisy[missing | dropped] = np.nan
        return noisy.astype(np.float32)


def perturbed_pose(pose: np.ndarray, translation_sigma: float, rotation_sigma_deg: float,
                   rng: np.random.Generator) -> np.ndarray:
    """``pose`` (4x4) moved by a random hand-eye calibration error: a translation with N(0, sigma) per axis
    and a rotation about a random axis by |N(0, sigma)| degrees (zero sigmas return a copy)."""
    out = np.array(pose, dtype=np.float64)
    if translation_sigma > 0:
        out[:3, 3] += rng.normal(0.0, translation_sigma, 3)
    if rotation_sigma_deg > 0:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        rvec = axis * np.deg2rad(rng.normal(0.0, rotation_sigma_deg))
        R, _ = cv2.Rodrigues(rvec)
        out[:3, :3] = R @ out[:3, :3]
    return out


def look_at_camera_pose(position, target=(0.0, 0.0, 0.0)) -> np.ndarray:
    """world_T_optical of a camera at ``position`` looking at ``target``, image +v as close to world -y as the
    view allows (so a camera straight above has image +u = world +x, as ``top_down_camera_pose``)."""
    pos, tgt = np.asarray(position, float), np.asarray(target, float)
    z = tgt - pos
    if np.linalg.norm(z) < 1e-9:
        raise ValueError(f"look_at_camera_pose: position and target coincide ({pos.tolist()})")
    z /= np.linalg.norm(z)
    x = np.cross([0.0, -1.0, 0.0], z)
    if np.linalg.norm(x) < 1e-6:
        raise ValueError("look_at_camera_pose: the view direction is along world y; no image orientation is defined")
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    T[:3, 3] = pos
    return T


def random_viewpoint(height: float, max_offset: float, rng: np.random.Generator) -> np.ndarray:
    """PLGP's viewpoint (eqs. 2-4): the camera ``height`` above the tray, moved by (a1, a2) drawn uniformly
    in [-max_offset, max_offset]^2, looking at the tray centre."""
    dx, dy = rng.uniform(-max_offset, max_offset, 2) if max_offset > 0 else (0.0, 0.0)
    return look_at_camera_pose((dx, dy, height))
