"""Image -> robot-frame geometry, shared by the perception node and the simulator (no ROS imports).

- :class:`CameraIntrinsics`: the pinhole model (projection, deprojection).
- :func:`image_grasp_to_camera_pose`: an image grasp (pixel centre, angle, opening in pixels) plus the
  depth image -> a 6-DoF gripper pose in the camera optical frame, with the opening in metres.
- Rigid transforms as 4x4 matrices (``a_T_b`` maps points in frame b to frame a) and their
  conversions to and from (xyz, quaternion xyzw).

Frames: the camera **optical frame** is x right, y down, z forward (ROS ``*_optical_frame``), and
``(u, v)`` = (column, row) with integer values at pixel centres (OpenCV/RealSense convention).

Grasp frame (the axes of every 6-DoF grasp pose the stack produces; ``grasp_interfaces/msg/Grasp``):
+z is the approach (from the camera into the scene), +x the closing direction (the line joining the
fingertips), +y = z x x. The origin is the grasp point on the surface the camera saw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .grasp import ImageGrasp, wrap_angle

APPROACH_MODES = ("optical_axis", "viewing_ray")
# camera_link (x forward, y left, z up) -> camera_color_optical_frame (x right, y down, z forward),
# the rotation every RealSense driver publishes between the two (REP 103); the small sensor offset
# of a real unit comes from TF or the camera's extrinsics.
LINK_R_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


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



def realsense_d435_color(width: int = 640, height: int = 480) -> CameraIntrinsics:
    """Module-level alias of :meth:`CameraIntrinsics.realsense_d435_color`."""
    return CameraIntrinsics.realsense_d435_color(width, height)


# ----------------------------------------------------------------------------------- rigid transforms
def make_transform(rotation: np.ndarray | None = None, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    T = np.eye(4)
    if rotation is not None:
        T[:3, :3] = rotation
    T[:3, 3] = translation
    return T


def invert_transform(T: np.ndarray) -> np.ndarray:
    R, t = T[:3, :3], T[:3, 3]
    return make_transform(R.T, -R.T @ t)


def transform_from_xyz_quat(xyz, quat_xyzw) -> np.ndarray:
    """4x4 from a translation and a quaternion (x, y, z, w: the ROS order); the quaternion is normalised."""
    q = np.asarray(quat_xyzw, float)
    if q.shape != (4,) or not np.isfinite(q).all() or np.linalg.norm(q) < 1e-9:
        raise ValueError(f"quaternion must be 4 finite numbers (x, y, z, w), not all zero; got {quat_xyzw}")
    t = np.asarray(xyz, float)
    if t.shape != (3,) or not np.isfinite(t).all():
        raise ValueError(f"translation must be 3 finite numbers, got {xyz}")
    return make_transform(Rotation.from_quat(q / np.linalg.norm(q)).as_matrix(), t)


def xyz_quat_from_transform(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(translation, quaternion xyzw) of a 4x4 rigid transform."""
    return np.array(T[:3, 3], float), Rotation.from_matrix(T[:3, :3]).as_quat()


def is_rigid(T: np.ndarray, atol: float = 1e-6) -> bool:
    T = np.asarray(T, float)
    return (T.shape == (4, 4) and np.isfinite(T).all() and np.allclose(T[3], [0, 0, 0, 1])
            and np.allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=atol)
            and np.linalg.det(T[:3, :3]) > 0)


# -------------------------------------------------------------------------------- image grasp -> pose
@dataclass(frozen=True)
class GraspPose6D:
    """A parallel-jaw grasp as a rigid pose in some frame (grasp-frame axes: see the module docstring)."""

    T: np.ndarray        # frame_T_grasp, 4x4
    width_m: float       # opening between the fingertips the grasp needs (no margin)
    depth_m: float       # camera z-depth used for the grasp point
    # How far past the grasp point the fingertips go along the approach, when the model predicts it (the
    # 6-DoF network's approach depth); None: the executor's own grasp_depth.
    approach_depth_m: float | None = None

    @property
    def position(self) -> np.ndarray:
        return self.T[:3, 3]

    @property
    def approach(self) -> np.ndarray:
        return self.T[:3, 2]

    @property
    def closing(self) -> np.ndarray:
        return self.T[:3, 0]

    def transformed(self, a_T_frame: np.ndarray) -> "GraspPose6D":
        """The same grasp expressed in frame ``a`` (``a_T_frame`` maps this pose's frame into ``a``)."""
        return GraspPose6D(np.asarray(a_T_frame, float) @ self.T, self.width_m, self.depth_m, self.approach_depth_m)


def grasp_depth_at(depth_image: np.ndarray, u: float, v: float, window: int = 5) -> float | None:
    """Median of the valid (finite, > 0) depths in a ``window`` x ``window`` patch around (u, v), or None.
    The median is robust to stereo dropouts and to pixels that straddle an object edge."""
    z = grasp_depths_at(depth_image, np.array([u], float), np.array([v], float), window)[0]
    return None if math.isnan(z) else float(z)


def grasp_depths_at(depth_image: np.ndarray, u: np.ndarray, v: np.ndarray, window: int = 5) -> np.ndarray:
    """:func:`grasp_depth_at` for many pixels at once: ``(N,)`` medians, NaN where a patch has no valid depth.

    The patch is cut at the image border (not padded), centred on the pixel nearest (u, v)."""
    h, w = depth_image.shape
    if np.size(u) == 0:
        return np.zeros(0)
    half = max(0, window // 2)
    offsets = np.arange(-half, half + 1)
    rows = np.rint(v).astype(np.int64)[:, None] + offsets   # (N, window)
    cols = np.rint(u).astype(np.int64)[:, None] + offsets
    inside = (((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :])
    patch = depth_image[np.clip(rows, 0, h - 1)[:, :, None], np.clip(cols, 0, w - 1)[:, None, :]].astype(np.float64)
    with np.errstate(invalid="ignore"):
        patch[~(inside & np.isfinite(patch) & (patch > 0))] = np.nan
    # Median of each row's valid values: NaNs sort last, so the middle of the first n entries (np.nanmedian
    # is several times slower on many short rows).
    flat = np.sort(patch.reshape(len(rows), -1), axis=1)
    n = np.sum(~np.isnan(flat), axis=1)
    lo, hi = np.maximum(n - 1, 0) // 2, np.maximum(n, 1) // 2
    out = 0.5 * (np.take_along_axis(flat, lo[:, None], 1)[:, 0] + np.take_along_axis(flat, hi[:, None], 1)[:, 0])
    out[n == 0] = np.nan
    return out


def camera_poses(u: np.ndarray, v: np.ndarray, angle: np.ndarray, width_px: np.ndarray, depth_image: np.ndarray,
                 intrinsics: CameraIntrinsics, *, window: int = 5, approach: str = "optical_axis"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched :func:`image_grasp_to_camera_pose` without its argument checks: ``(N, 4, 4)`` optical-frame
    poses, ``(N,)`` openings in metres and ``(N,)`` grasp depths; rows without valid depth are NaN."""
    u, v, angle, width_px = (np.asarray(x, float).reshape(-1) for x in (u, v, angle, width_px))
    z = grasp_depths_at(depth_image, u, v, window)
    p = intrinsics.deproject(u, v, z)                                         # (N, 3)
    if approach == "optical_axis":
        a_dir = np.broadcast_to([0.0, 0.0, 1.0], p.shape)
    else:
        a_dir = p / np.linalg.norm(p, axis=1, keepdims=True)
    ca, sa = np.cos(angle), np.sin(angle)
    # On screen the opening runs along (cos a, -sin a) px; in the optical frame that is (cos a / fx, -sin a / fy).
    d = np.stack([ca / intrinsics.fx, -sa / intrinsics.fy, np.zeros_like(ca)], axis=1)
    x = d - np.sum(d * a_dir, axis=1, keepdims=True) * a_dir
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.stack([a_dir[:, 1] * x[:, 2] - a_dir[:, 2] * x[:, 1],            # a_dir x x, written out: np.cross
                  a_dir[:, 2] * x[:, 0] - a_dir[:, 0] * x[:, 2],            # costs more than the rest together
                  a_dir[:, 0] * x[:, 1] - a_dir[:, 1] * x[:, 0]], axis=1)
    T = np.zeros((len(u), 4, 4))
    T[:, :3, 0], T[:, :3, 1], T[:, :3, 2], T[:, :3, 3], T[:, 3, 3] = x, y, a_dir, p, 1.0
    width_m = width_px * z * np.hypot(ca / intrinsics.fx, sa / intrinsics.fy)
    return T, width_m, z


def image_grasp_to_camera_pose(u: float, v: float, angle: float, width_px: float, depth_image: np.ndarray,
                               intrinsics: CameraIntrinsics, *, window: int = 5,
                               approach: str = "optical_axis", caller: str = "image_grasp_to_camera_pose"
                               ) -> GraspPose6D:
    """An image grasp (grasp_perception conventions: ``u`` column, ``v`` row, ``angle`` anticlockwise on
    screen from +u, ``width_px`` opening in pixels) -> a 6-DoF grasp pose in the camera optical frame.

    Grasp point: the pixel deprojected at the median valid depth of a ``window`` x ``window`` patch.
    Approach (+z): ``optical_axis`` (default) is the camera's optical axis, the direction the PLGP/PDG
    labels assume (they are computed on a parallel depth image), so a top-down camera gives a vertical
    approach wherever the object is in the image; ``viewing_ray`` is the ray from the camera centre
    through the grasp pixel. A tilted or eye-in-hand camera tilts either. Closing (+x): the on-screen
    opening direction (cos a, -sin a) made perpendicular to the approach. Opening in metres: the pixel
    size at that depth along the opening direction (``width_px * z / fx`` when fx = fy).
    Raises ``ValueError`` naming ``caller`` and the parameter for a grasp outside the image, without
    valid depth, or with an unknown approach mode.
    """
    depth_image = np.asarray(depth_image)
    W, H = intrinsics.width, intrinsics.height
    if depth_image.shape != (H, W):
        raise ValueError(f"{caller}: depth_image shape {depth_image.shape} does not match intrinsics {(H, W)}")
    for name, val in (("u", u), ("v", v), ("angle", angle), ("width_px", width_px)):
        if not math.isfinite(val):
            raise ValueError(f"{caller}: {name} must be finite, got {val}")
    if not -0.5 <= u < W - 0.5:
        raise ValueError(f"{caller}: u={u} is outside the image (width {W})")
    if not -0.5 <= v < H - 0.5:
        raise ValueError(f"{caller}: v={v} is outside the image (height {H})")
    if width_px < 0:
        raise ValueError(f"{caller}: width_px must be >= 0, got {width_px}")
    if approach not in APPROACH_MODES:
        raise ValueError(f"{caller}: approach must be one of {APPROACH_MODES}, got {approach!r}")
    T, width_m, z = camera_poses(u, v, angle, width_px, depth_image, intrinsics, window=window, approach=approach)
    if math.isnan(z[0]):
        raise ValueError(f"{caller}: depth_image has no valid depth within {window}x{window} px of (u={u}, v={v})")
    return GraspPose6D(T[0], float(width_m[0]), float(z[0]))


@dataclass(frozen=True)
class PosedImageGrasp(ImageGrasp):
    """An image grasp that stands for a 6-DoF grasp: its projection (:func:`camera_pose_to_image_grasp`),
    carrying the optical-frame pose it came from, so code that ranks, filters or draws image grasps takes it
    as one and code that maps grasps into the world uses the pose itself."""

    camera_pose: GraspPose6D | None = None


def camera_pose_to_image_grasp(pose: GraspPose6D, intrinsics: CameraIntrinsics, quality: float = 1.0,
                               jaw_ratio: float = 0.5) -> PosedImageGrasp:
    """The image grasp a camera-frame 6-DoF grasp looks like (the inverse of :func:`image_grasp_to_camera_pose`
    for a grasp that approaches along the optical axis): the projected grasp point, the on-screen direction and
    length of the projected opening, a jaw ``jaw_ratio`` of it. For overlays and the message's pixel fields of
    grasps that did not come from an image (6-DoF models); a grasp whose opening points at the camera has a
    zero width on screen."""
    p, x = pose.position, pose.closing
    ends = intrinsics.project(np.stack([p - 0.5 * pose.width_m * x, p + 0.5 * pose.width_m * x]))
    (u, v), (du, dv) = intrinsics.project(p), ends[1] - ends[0]
    width = float(np.hypot(du, dv))
    angle = wrap_angle(math.atan2(-dv, du)) if width > 1e-9 else 0.0   # on screen the opening is (cos a, -sin a)
    return PosedImageGrasp(float(u), float(v), float(angle), width, jaw_ratio * width, float(quality),
                           camera_pose=pose)
