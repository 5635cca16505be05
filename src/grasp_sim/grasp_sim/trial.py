"""Grasp trials with the cell's floating gripper, the success rule, and image grasp -> world grasp conversion.

Every motion and force figure comes from the cell's settings (``cell.settings``, config/sim/*.yaml):
``grippers.floating`` (approach height, speed, tip clearance, force model) and ``protocol`` (opening
margin, approach depth, lift, hold, transport/shake, success rule).
"""
from __future__ import annotations

import dataclasses
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


def _move(cell: SimCell, start: np.ndarray, goal: np.ndarray, yaw: float, speed: float) -> None:
    """Drive the mocap target along a straight line at ``speed`` m/s (then let it catch up briefly)."""
    dt = cell.model.opt.timestep
    n = max(1, int(math.ceil(np.linalg.norm(goal - start) / (speed * dt))))
    for k in range(1, n + 1):
        cell.set_gripper_target(start + (goal - start) * (k / n), yaw)
        cell.step()
    cell.step(int(0.1 / dt))


def grasp_depth(cell: SimCell, grasp: GraspPose) -> float:
    """The fingertip depth below the grasp point that is executed: the grasp's own, else the default."""
    return cell.settings.protocol.default_grasp_depth if grasp.depth_m is None else grasp.depth_m


def planned_opening(cell: SimCell, grasp: GraspPose, max_opening: float) -> tuple[float, bool]:
    """(opening, clipped): the grasp's width + the settings' open margin (``protocol.open_margin``, by default
    ``labels.width_tolerance``), capped at the gripper's max."""
    want = grasp.width_m + cell.settings.open_margin
    return min(want, max_opening), want > max_opening


def execute_grasp(cell: SimCell, grasp: GraspPose, *, lift: float | None = None) -> TrialResult:
    """Run one top-down grasp with the floating gripper and report whether an object stayed held.

    The hand appears open (:func:`planned_opening`; a failure after capping says so) ``approach_height``
    above the fingertip target, descends along world -z (the top-down camera's optical axis) until the
    fingertips are :func:`grasp_depth` below the grasp point (never closer than ``tip_clearance`` to the
    table), closes with the gripper's force model, lifts ``protocol.lift``, holds ``protocol.hold_s``,
    carries and shakes the object (``protocol.transport``), and judges with :func:`judge_lift`. ``lift``
    overrides ``protocol.lift`` (a ROS execution request's own lift).
    """
    if not cell.active:
        raise ValueError("execute_grasp: the cell has no active objects; call cell.reset(...) first")
    if cell.arm is not None:
        raise ValueError(f"execute_grasp: this cell has the {cell.arm.name} arm; use grasp_sim.arm_trial.run_grasp")
    g, pr = cell.gripper, cell.settings.protocol
    opening, clipped = planned_opening(cell, grasp, g.max_opening)
    note = f" (planned width {grasp.width_m:.3f} m clipped to the max opening {g.max_opening} m)" if clipped else ""
    dt = cell.model.opt.timestep
    z0 = {i: cell.object_pose(i)[0][2] for i in cell.active}
    x, y, z = grasp.position
    tip = np.array([x, y, max(z - grasp_depth(cell, grasp), cell.table_z + g.tip_clearance)])
    above = tip + [0.0, 0.0, g.approach_height]
    cell.teleport_gripper(above, grasp.yaw, opening)
    _move(cell, above, tip, grasp.yaw, g.speed)
    fingertip_z = float(cell.hand_pose()[0][2])
    cell.close_gripper()
    top = tip + [0.0, 0.0, pr.lift if lift is None else lift]
    _move(cell, tip, top, grasp.yaw, g.speed)
    cell.step(int(pr.hold_s / dt))
    _transport(cell, top, grasp.yaw)
    return dataclasses.replace(judge_lift(cell, z0, note), fingertip_z=fingertip_z)


def _transport(cell: SimCell, start: np.ndarray, yaw: float) -> None:
    """protocol.transport with the floating hand: carry ``distance`` along world +y, then shake along x."""
    tr = cell.settings.protocol.transport
    dt = cell.model.opt.timestep
    if tr.distance > 0:
        goal = start + [0.0, tr.distance, 0.0]
        _move(cell, start, goal, yaw, tr.speed)
        start = goal
    if tr.shake_cycles > 0 and tr.shake_amplitude > 0:
        n = int(round(tr.shake_cycles / tr.shake_frequency / dt))
        for k in range(1, n + 1):
            off = tr.shake_amplitude * math.sin(2 * math.pi * tr.shake_frequency * k * dt)
            cell.set_gripper_target(start + [off, 0.0, 0.0], yaw)
            cell.step()
        cell.step(int(0.2 / dt))


def judge_lift(cell: SimCell, z0: dict[int, float], note: str = "") -> TrialResult:
    """The success rule (``protocol.success``): some object rose more than ``min_rise`` (from heights ``z0``)
    and, with ``both_pads``, touches both pads. ``note`` is appended to a failure's reason."""
    rule = cell.settings.protocol.success
    rise = {i: cell.object_pose(i)[0][2] - z0[i] for i in cell.active}
    best = max(rise, key=rise.get)
    dz = float(rise[best])
    if dz <= rule.min_rise:
        return TrialResult(False, dz, f"no object lifted (max rise {dz * 100:.1f} cm <= {rule.min_rise * 100:.0f} cm)"
                           + note, best if dz > 0.005 else None)
    left, right = cell.finger_contacts(best)
    if rule.both_pads and not (left and right):
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
