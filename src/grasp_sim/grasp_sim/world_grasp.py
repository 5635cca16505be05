"""World grasps as the simulated executors take them, and the image grasp -> world grasp conversion.

A :class:`GraspPose` is what every executor (:mod:`grasp_sim.executors`) runs and a :class:`TrialResult`
what it returns. :func:`image_grasp_to_world` maps a network's image grasp through the camera intrinsics
and pose with the perception node's own geometry (:mod:`grasp_perception.geometry`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grasp_perception.geometry import CameraIntrinsics, GraspPose6D, image_grasp_to_camera_pose


def _wrap_half_pi(a: float) -> float:
    return (a + math.pi / 2) % math.pi - math.pi / 2


VERTICAL = (0.0, 0.0, -1.0)


def closing_direction(yaw: float, approach=VERTICAL) -> np.ndarray:
    """The unit opening direction with horizontal direction ``yaw``, tipped out of the horizontal plane just
    enough to be perpendicular to ``approach`` (for a vertical approach: horizontal). ``yaw + pi`` gives the
    opposite direction (the same grasp, fingers swapped)."""
    a = np.asarray(approach, float)
    h = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    c = h - (h @ a) / a[2] * np.array([0.0, 0.0, 1.0])
    return c / np.linalg.norm(c)
MAX_TILT_DEG = 60.0  # an approach further from vertical than this is not a grasp from above


@dataclass(frozen=True)
class GraspPose:
    """A world grasp from above: ``position`` = grasp point (x, y, z; z = observed surface height),
    ``yaw`` = the horizontal direction of the opening about world z (radians, wrapped to [-pi/2, pi/2)),
    ``width_m`` = planned opening in metres, ``depth_m`` = how far past the grasp point the fingertips go
    along the approach (a label's approach depth, PLGP's d; None = ``protocol.default_grasp_depth``),
    ``approach`` = the unit direction the fingers travel in (world; default straight down; PLGP's grasps
    approach along the camera's optical axis). The opening direction is :attr:`closing`: perpendicular to the
    approach, with horizontal direction ``yaw``."""

    position: tuple[float, float, float]
    yaw: float
    width_m: float
    depth_m: float | None = None
    approach: tuple[float, float, float] = VERTICAL

    def __post_init__(self):
        pos = tuple(float(x) for x in np.ravel(self.position))
        if len(pos) != 3 or not all(math.isfinite(x) for x in pos):
            raise ValueError(f"GraspPose.position must be 3 finite numbers, got {self.position}")
        if not math.isfinite(self.yaw):
            raise ValueError(f"GraspPose.yaw must be finite, got {self.yaw}")
        if not (math.isfinite(self.width_m) and self.width_m >= 0):
            raise ValueError(f"GraspPose.width_m must be finite and >= 0, got {self.width_m}")
        if self.depth_m is not None and not (math.isfinite(self.depth_m) and self.depth_m >= 0):
            raise ValueError(f"GraspPose.depth_m must be None or finite and >= 0, got {self.depth_m}")
        a = np.asarray(self.approach, float).ravel()
        if a.shape != (3,) or not np.isfinite(a).all() or np.linalg.norm(a) < 1e-9:
            raise ValueError(f"GraspPose.approach must be a non-zero 3-vector, got {self.approach}")
        a = a / np.linalg.norm(a)
        if a[2] > -math.cos(math.radians(MAX_TILT_DEG)):
            raise ValueError(f"GraspPose.approach {np.round(a, 3).tolist()} is more than {MAX_TILT_DEG:g} deg from "
                             f"straight down")
        object.__setattr__(self, "position", pos)
        object.__setattr__(self, "yaw", _wrap_half_pi(float(self.yaw)))
        object.__setattr__(self, "approach", tuple(float(x) for x in a))

    @property
    def closing(self) -> np.ndarray:
        """The unit opening direction (:func:`closing_direction` of ``yaw`` and the approach)."""
        return closing_direction(self.yaw, self.approach)

    def along_approach(self, distance: float) -> np.ndarray:
        """The point ``distance`` m past the grasp point along the approach (negative: before it)."""
        return np.asarray(self.position) + distance * np.asarray(self.approach)


@dataclass(frozen=True)
class TrialResult:
    success: bool
    lift_height: float          # rise of the most-lifted active object, metres
    reason: str
    object_index: int | None = None  # that object (index into cell.objects), if any
    fingertip_z: float | None = None  # measured fingertip height (world z) when the fingers started closing


def executable_grasp(world_grasp: GraspPose6D, approach: str = "camera") -> GraspPose:
    """The :class:`GraspPose` the cell's executors run for a 6-DoF world grasp: same grasp point, opening and
    approach depth (``approach_depth_m``), yaw = the horizontal direction of the closing axis.
    ``approach="camera"`` keeps the grasp's own approach (the camera's optical axis for an image grasp, as PLGP
    defines its grasps); ``"vertical"`` turns it into a top-down grasp (world -z). Raises ValueError when the closing axis is vertical or the approach is not
    from above (:data:`MAX_TILT_DEG`)."""
    if approach not in ("camera", "vertical"):
        raise ValueError(f"executable_grasp: approach must be 'camera' or 'vertical', got {approach!r}")
    x = world_grasp.closing
    if math.hypot(x[0], x[1]) < 1e-6:
        raise ValueError("executable_grasp: the opening direction is vertical in the world (the camera "
                         "looks sideways); a grasp from above cannot represent it")
    return GraspPose(tuple(world_grasp.position), math.atan2(x[1], x[0]), world_grasp.width_m,
                     world_grasp.approach_depth_m,
                     approach=VERTICAL if approach == "vertical" else tuple(world_grasp.approach))


def image_grasp_to_world(u: float, v: float, angle: float, width_px: float, depth_image: np.ndarray,
                         intrinsics: CameraIntrinsics, camera_pose: np.ndarray, *, window: int = 5,
                         approach: str = "camera") -> GraspPose:
    """An image grasp (grasp_perception conventions) seen by a camera at ``camera_pose`` (world_T_optical)
    -> the world :class:`GraspPose` the simulated executors take, approaching along the camera's optical
    axis (``approach="camera"``, PLGP's definition) or straight down (``"vertical"``).

    The 6-DoF pose comes from :func:`grasp_perception.geometry.image_grasp_to_camera_pose`, the code the
    perception node uses; this only moves it into the world (:func:`executable_grasp`). Raises ``ValueError``
    naming the parameter for a grasp outside the image or without valid depth.
    """
    T = np.asarray(camera_pose, float)
    if T.shape != (4, 4):
        raise ValueError(f"image_grasp_to_world: camera_pose must be 4x4, got {T.shape}")
    pose = image_grasp_to_camera_pose(u, v, angle, width_px, depth_image, intrinsics, window=window,
                                      caller="image_grasp_to_world")
    return executable_grasp(pose.transformed(T), approach)
