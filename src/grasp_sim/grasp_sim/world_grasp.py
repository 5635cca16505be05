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


@dataclass(frozen=True)
class GraspPose:
    """Top-down world grasp: ``position`` = grasp point (x, y, z; z = observed surface height),
    ``yaw`` = direction of the opening about world z (radians, wrapped to [-pi/2, pi/2)),
    ``width_m`` = planned opening in metres, ``depth_m`` = how far below the grasp point the fingertips go
    (a label's approach depth, PLGP's d; None = ``protocol.default_grasp_depth``)."""

    position: tuple[float, float, float]
    yaw: float
    width_m: float
    depth_m: float | None = None

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
        object.__setattr__(self, "position", pos)
        object.__setattr__(self, "yaw", _wrap_half_pi(float(self.yaw)))


@dataclass(frozen=True)
class TrialResult:
    success: bool
    lift_height: float          # rise of the most-lifted active object, metres
    reason: str
    object_index: int | None = None  # that object (index into cell.objects), if any
    fingertip_z: float | None = None  # measured fingertip height (world z) when the fingers started closing


def top_down_grasp(world_grasp: GraspPose6D) -> GraspPose:
    """The top-down :class:`GraspPose` the cell's executors run for a 6-DoF world grasp: same grasp point and
    opening, yaw = the closing axis projected onto the horizontal plane (the approach becomes world -z)."""
    x = world_grasp.closing
    if math.hypot(x[0], x[1]) < 1e-6:
        raise ValueError("image_grasp_to_world: the opening direction is vertical in the world (camera_pose "
                         "looks sideways); a top-down GraspPose cannot represent it")
    return GraspPose(tuple(world_grasp.position), math.atan2(x[1], x[0]), world_grasp.width_m)


def image_grasp_to_world(u: float, v: float, angle: float, width_px: float, depth_image: np.ndarray,
                         intrinsics: CameraIntrinsics, camera_pose: np.ndarray, *, window: int = 5) -> GraspPose:
    """An image grasp (grasp_perception conventions) seen by a camera at ``camera_pose`` (world_T_optical)
    -> the top-down world :class:`GraspPose` the simulated executors take.

    The 6-DoF pose comes from :func:`grasp_perception.geometry.image_grasp_to_camera_pose`, the code the
    perception node uses; this only moves it into the world and keeps its yaw. Raises ``ValueError``
    naming the parameter for a grasp outside the image or without valid depth.
    """
    T = np.asarray(camera_pose, float)
    if T.shape != (4, 4):
        raise ValueError(f"image_grasp_to_world: camera_pose must be 4x4, got {T.shape}")
    pose = image_grasp_to_camera_pose(u, v, angle, width_px, depth_image, intrinsics, window=window,
                                      caller="image_grasp_to_world")
    return top_down_grasp(pose.transformed(T))
