"""Grasp trials with the cell's floating gripper, and image grasp -> world grasp conversion."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grasp_perception.geometry import CameraIntrinsics, GraspPose6D, image_grasp_to_camera_pose

from .scene import SimCell


def _wrap_half_pi(a: float) -> float:
    return (a + math.pi / 2) % math.pi - math.pi / 2


@dataclass(frozen=True)
class GraspPose:
    """Top-down world grasp: ``position`` = grasp point (x, y, z; z = observed surface height),
    ``yaw`` = direction of the opening about world z (radians, wrapped to [-pi/2, pi/2)),
    ``width_m`` = planned opening in metres."""

    position: tuple[float, float, float]
    yaw: float
    width_m: float

    def __post_init__(self):
        pos = tuple(float(x) for x in np.ravel(self.position))
        if len(pos) != 3 or not all(math.isfinite(x) for x in pos):
            raise ValueError(f"GraspPose.position must be 3 finite numbers, got {self.position}")
        if not math.isfinite(self.yaw):
            raise ValueError(f"GraspPose.yaw must be finite, got {self.yaw}")
        if not (math.isfinite(self.width_m) and self.width_m >= 0):
            raise ValueError(f"GraspPose.width_m must be finite and >= 0, got {self.width_m}")
        object.__setattr__(self, "position", pos)
        object.__setattr__(self, "yaw", _wrap_half_pi(float(self.yaw)))


@dataclass(frozen=True)
class TrialResult:
    success: bool
    lift_height: float          # rise of the most-lifted active object, metres
    reason: str
    object_index: int | None = None  # that object (index into cell.objects), if any


def _move(cell: SimCell, start: np.ndarray, goal: np.ndarray, yaw: float, speed: float) -> None:
    """Drive the mocap target along a straight line at ``speed`` m/s (then let it catch up briefly)."""
    dt = cell.model.opt.timestep
    n = max(1, int(math.ceil(np.linalg.norm(goal - start) / (speed * dt))))
    for k in range(1, n + 1):
        cell.set_gripper_target(start + (goal - start) * (k / n), yaw)
        cell.step()
    cell.step(int(0.1 / dt))


def execute_grasp(cell: SimCell, grasp: GraspPose, *, grasp_depth: float = 0.025, approach_height: float = 0.15,
                  lift: float = 0.10, hold_s: float = 1.0, speed: float = 0.25, open_margin: float = 0.02,
                  close_s: float = 0.5, success_lift: float = 0.08, tip_clearance: float = 0.002) -> TrialResult:
    """Run one top-down grasp in ``cell`` and report whether an object stayed lifted.

    Sequence: the hand appears open (``width_m + open_margin``, capped at the max opening; a failure
    after capping says so in its reason)
    ``approach_height`` above the fingertip target, descends along world -z (the top-down camera's
    optical axis) until the fingertips are ``grasp_depth`` below the grasp point (never closer than
    ``tip_clearance`` to the table), closes, lifts ``lift`` and holds ``hold_s``. Success: some active
    object rose more than ``success_lift`` and touches both pads.
    """
    if not cell.active:
        raise ValueError("execute_grasp: the cell has no active objects; call cell.reset(...) first")
    g = cell.gripper
    # A wider plan is tried fully open, as a real gripper (and the arm executor) would.
    clipped = grasp.width_m + open_margin > g.max_opening
    note = f" (planned width {grasp.width_m:.3f} m clipped to the max opening {g.max_opening} m)" if clipped else ""
    dt = cell.model.opt.timestep
    z0 = {i: cell.object_pose(i)[0][2] for i in cell.active}
    x, y, z = grasp.position
    tip = np.array([x, y, max(z - grasp_depth, cell.table_z + tip_clearance)])
    above = tip + [0.0, 0.0, approach_height]
    cell.teleport_gripper(above, grasp.yaw, min(g.max_opening, grasp.width_m + open_margin))
    _move(cell, above, tip, grasp.yaw, speed)
    cell.set_opening(0.0)
    cell.step(int(close_s / dt))
    top = tip + [0.0, 0.0, lift]
    _move(cell, tip, top, grasp.yaw, speed)
    cell.step(int(hold_s / dt))

    return judge_lift(cell, z0, success_lift, note)


def judge_lift(cell: SimCell, z0: dict[int, float], success_lift: float, note: str = "") -> TrialResult:
    """After the lift and hold: success if some object rose more than ``success_lift`` (from heights
    ``z0``) and touches both pads. ``note`` is appended to a failure's reason."""
    rise = {i: cell.object_pose(i)[0][2] - z0[i] for i in cell.active}
    best = max(rise, key=rise.get)
    dz = float(rise[best])
    if dz <= success_lift:
        return TrialResult(False, dz, f"no object lifted (max rise {dz * 100:.1f} cm <= {success_lift * 100:.0f} cm)"
                           + note, best if dz > 0.005 else None)
    left, right = cell.finger_contacts(best)
    if not (left and right):
        return TrialResult(False, dz, "object rose but is not held between both fingers" + note, best)
    return TrialResult(True, dz, "lifted and held", best)


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
