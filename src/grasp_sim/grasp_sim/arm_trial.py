"""Grasp trials with a simulated arm (WidowX 250s or Kinova Gen3 + Robotiq 2F-85) in the grasp cell,
and one entry point, :func:`run_grasp`, for every gripper a trial can use.

An arm trial mirrors :func:`grasp_sim.trial.execute_grasp` (same :class:`GraspPose` in, same
:class:`TrialResult` out, same success test) but moves the real kinematic chain: top-down IK (yaw or
yaw + pi, whichever needs less motion) to a pre-grasp above the target, a joint-space min-jerk move
there while the gripper opens, a straight-down cartesian descent (IK waypoints), close, a straight
lift, hold. Every IK solve is done before the arm moves, so an unreachable grasp fails without
touching the scene.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import mujoco
import numpy as np

from .scene import SimCell
from .trial import GraspPose, TrialResult, execute_grasp, judge_lift

GRIPPERS = ("floating", "widowx", "kinova")


class NoStraightPathError(RuntimeError):
    """The straight descent or lift exists pose by pose, but IK would switch joint branches along it."""


@dataclass(frozen=True)
class ArmGraspPlan:
    """Joint-space plan of one top-down arm grasp (arm joints in ``cell.arm.joint_names`` order)."""

    q_pregrasp: np.ndarray      # (dof,)
    descent: np.ndarray         # (k + 1, dof) waypoints, pre-grasp -> grasp, on a vertical line
    lift: np.ndarray            # (k + 1, dof) waypoints, grasp -> lifted
    site_quat: np.ndarray       # EE-site orientation (wxyz) held throughout
    site_grasp: np.ndarray      # EE-site position at the grasp
    opening: float              # commanded pad-to-pad opening for the approach, m
    width_clipped: bool         # the planned width exceeded the gripper's max opening


def _require_arm(cell: SimCell, caller: str):
    if getattr(cell, "arm", None) is None:
        raise ValueError(f"{caller}: cell has no arm; build it with SimCell(..., arm='widowx' or 'kinova')")
    return cell.arm


def _set_gripper_joints(cell: SimCell, qpos: np.ndarray, opening: float) -> None:
    """Write the gripper joints (driven + mimics) of ``qpos`` for a pad-to-pad ``opening``."""
    arm = cell.arm
    ctrl = arm.width_to_ctrl(min(max(opening, arm.gripper_min_width), arm.gripper_max_width))
    qpos[cell._grip_drive_qadr] = ctrl
    for qa, c0, c1 in cell._grip_mimics:
        qpos[qa] = c0 + c1 * ctrl


def pad_tip_offset(cell: SimCell, opening: float) -> float:
    """Distance (m) along the approach axis from the arm's EE site to the farthest pad point when the
    gripper is at ``opening`` (the Robotiq pads travel on an arc, so this depends on the opening).
    Purely kinematic: ``cell.data`` is untouched."""
    arm = _require_arm(cell, "pad_tip_offset")
    m = cell.model
    d = mujoco.MjData(m)
    d.qpos[:] = cell.data.qpos
    _set_gripper_joints(cell, d.qpos, opening)
    mujoco.mj_kinematics(m, d)
    sid = arm.ee_site_id(m)
    a = d.site_xmat[sid].reshape(3, 3) @ np.asarray(arm.approach_axis, float)
    reach = []
    for g in cell._pad_geoms:
        R = d.geom_xmat[g].reshape(3, 3)
        extent = float(np.sum(np.abs(m.geom_size[g] * (R.T @ a))))  # box half-extent along a
        reach.append(float((d.geom_xpos[g] - d.site_xpos[sid]) @ a) + extent)
    return max(reach)


def _closing_quat(cell: SimCell, q: np.ndarray, yaw: float) -> np.ndarray:
    """The top-down site orientation (for yaw or yaw + pi) that joint positions ``q`` realise."""
    from .robots import top_down_grasp_orientation
    arm, m = cell.arm, cell.model
    d = mujoco.MjData(m)
    d.qpos[:] = cell.data.qpos
    d.qpos[arm.qpos_adr(m)] = q
    mujoco.mj_kinematics(m, d)
    closing = d.site_xmat[arm.ee_site_id(m)].reshape(3, 3) @ np.asarray(arm.closing_axis, float)
    flip = closing[0] * math.cos(yaw) + closing[1] * math.sin(yaw) < 0
    return top_down_grasp_orientation(yaw + (math.pi if flip else 0.0), arm)


def _line(cell: SimCell, q_start: np.ndarray, p0: np.ndarray, p1: np.ndarray, quat: np.ndarray, n: int,
          max_step: float, what: str, **ik) -> np.ndarray:
    """IK waypoints along the straight segment p0 -> p1 (site positions), each seeded by the previous one.
    Raises UnreachableError for a point IK cannot reach, NoStraightPathError if IK would jump branches."""
    from .robots import solve_ik_or_raise
    qs = [np.asarray(q_start, float)]
    for s in np.linspace(0.0, 1.0, n + 1)[1:]:
        q = solve_ik_or_raise(cell.model, cell.data, cell.arm, p0 + s * (p1 - p0), quat, q_init=qs[-1], **ik)
        jump = float(np.max(np.abs(q - qs[-1])))
        if jump > max_step:
            raise NoStraightPathError(f"{what}: IK jumps {jump:.2f} rad between waypoints (> {max_step} rad): "
                               f"no continuous straight path near {np.round(p0 + s * (p1 - p0), 3).tolist()}")
        qs.append(q)
    return np.array(qs)


def plan_arm_grasp(cell: SimCell, grasp: GraspPose, *, grasp_depth: float = 0.025, approach_height: float = 0.12,
                   lift: float = 0.10, open_margin: float = 0.02, tip_clearance: float = 0.004,
                   waypoints: int = 4, ik_restarts: int = 4) -> ArmGraspPlan:
    """Solve every IK of a top-down grasp with ``cell``'s arm; the cell's state is not changed.

    Target: the pad tips ``grasp_depth`` below the grasp point (never closer than ``tip_clearance`` to the
    table), approached from ``approach_height`` straight above and lifted ``lift`` after closing.
    Raises :class:`grasp_sim.robots.UnreachableError` naming the first EE-site pose IK cannot reach, or
    :class:`NoStraightPathError` when the straight descent/lift has no continuous joint path.
    """
    from .robots import solve_ik, top_down_grasp_orientation, UnreachableError
    arm = _require_arm(cell, "plan_arm_grasp")
    for name, val in (("grasp_depth", grasp_depth), ("tip_clearance", tip_clearance), ("open_margin", open_margin)):
        if not (math.isfinite(val) and val >= 0):
            raise ValueError(f"plan_arm_grasp: {name} must be >= 0 m, got {val}")
    for name, val in (("approach_height", approach_height), ("lift", lift)):
        if not (math.isfinite(val) and val > 0):
            raise ValueError(f"plan_arm_grasp: {name} must be > 0 m, got {val}")
    if int(waypoints) < 1:
        raise ValueError(f"plan_arm_grasp: waypoints must be >= 1, got {waypoints}")
    opening = min(grasp.width_m + open_margin, arm.gripper_max_width)
    x, y, z = grasp.position
    tip_z = max(z - grasp_depth, cell.table_z + tip_clearance)
    site_grasp = np.array([x, y, tip_z + pad_tip_offset(cell, opening)])  # top-down: approach = world -z
    site_pre = site_grasp + [0.0, 0.0, approach_height]
    ik = dict(restarts=int(ik_restarts))

    # Pre-grasp seeded from Home: a well-conditioned elbow-up solution whatever the rest pose is.
    res = solve_ik(cell.model, cell.data, arm, site_pre, yaw=grasp.yaw, q_init=arm.home, **ik)
    if not res.converged:
        raise UnreachableError(arm.name, site_pre, top_down_grasp_orientation(grasp.yaw, arm), res.pos_err,
                               res.rot_err, 2e-3, 0.02)
    q_pre = res.q
    quat = _closing_quat(cell, q_pre, grasp.yaw)
    max_step = 0.6  # rad per waypoint (a few cm of travel): more means IK switched to another branch
    descent = _line(cell, q_pre, site_pre, site_grasp, quat, int(waypoints), max_step, "descent", **ik)
    lifted = _line(cell, descent[-1], site_grasp, site_grasp + [0.0, 0.0, lift], quat, int(waypoints), max_step,
                   "lift", **ik)
    return ArmGraspPlan(q_pre, descent, lifted, quat, site_grasp, float(opening),
                        grasp.width_m > arm.gripper_max_width)


def _unwrap_continuous(cell: SimCell, q_from: np.ndarray, q_to: np.ndarray) -> np.ndarray:
    """Shift continuous joints of ``q_to`` by 2*pi multiples to the equivalent nearest ``q_from``."""
    lo, _ = cell.arm.joint_limits(cell.model)
    out = np.array(q_to, float)
    cont = ~np.isfinite(lo)
    out[cont] = q_from[cont] + (out[cont] - q_from[cont] + math.pi) % (2 * math.pi) - math.pi
    return out


def _follow(cell: SimCell, waypoints: np.ndarray, duration: float, settle_s: float) -> None:
    """Servo the arm through ``waypoints`` (piecewise-linear in joint space) on one min-jerk time law, so a
    multi-waypoint line starts and stops smoothly without stopping at each waypoint; then settle."""
    from .robots import joint_trajectory
    m, d = cell.model, cell.data
    dt = m.opt.timestep
    act = cell.arm.actuator_ids(m)
    _, s, _ = joint_trajectory([0.0], [1.0], max(duration, dt), dt)  # path parameter 0 -> 1
    k = len(waypoints) - 1
    for si in s[1:, 0]:
        f = min(si * k, k - 1e-12)
        i = int(f)
        d.ctrl[act] = waypoints[i] + (f - i) * (waypoints[i + 1] - waypoints[i])
        mujoco.mj_step(m, d)
    d.ctrl[act] = waypoints[-1]
    mujoco.mj_step(m, d, nstep=max(1, int(settle_s / dt)))


def _path_duration(cell: SimCell, waypoints: np.ndarray, cart_dist: float, speed: float, speed_scale: float) -> float:
    """Min-jerk duration: average cartesian ``speed`` m/s, but no joint above ``speed_scale`` x its limit."""
    from .robots import trajectory_duration
    joint_t = trajectory_duration(cell.arm, np.zeros(cell.arm.dof), np.abs(np.diff(waypoints, axis=0)).sum(0),
                                  speed_scale)
    return max(joint_t, cart_dist / speed)


def execute_grasp_with_arm(cell: SimCell, grasp: GraspPose, *, grasp_depth: float = 0.025,
                           approach_height: float = 0.12, lift: float = 0.10, hold_s: float = 1.0,
                           speed: float = 0.15, speed_scale: float = 0.5, open_margin: float = 0.02,
                           close_s: float = 0.6, success_lift: float = 0.08, tip_clearance: float = 0.004,
                           waypoints: int = 4, ik_restarts: int = 4) -> TrialResult:
    """Run one top-down grasp with the cell's arm from its current pose; report whether an object stayed lifted.

    Sequence: plan (:func:`plan_arm_grasp`); min-jerk joint move to the pre-grasp ``approach_height`` above
    the target (joints at most ``speed_scale`` x their velocity limits) while the gripper opens to
    ``min(width_m + open_margin, max)``; straight descent at ~``speed`` m/s; close for ``close_s``; straight
    lift of ``lift``; hold ``hold_s``. Success, as for the floating gripper: some active object rose more
    than ``success_lift`` and touches both pads. An unreachable grasp returns success=False with a reason
    starting "unreachable:" (the arm does not move). A width above the gripper's max is clipped to it,
    and a failure reason says so.
    """
    from .robots import UnreachableError, set_gripper_width
    arm = _require_arm(cell, "execute_grasp_with_arm")
    if not cell.active:
        raise ValueError("execute_grasp_with_arm: the cell has no active objects; call cell.reset(...) first")
    try:
        plan = plan_arm_grasp(cell, grasp, grasp_depth=grasp_depth, approach_height=approach_height, lift=lift,
                              open_margin=open_margin, tip_clearance=tip_clearance, waypoints=waypoints,
                              ik_restarts=ik_restarts)
    except (UnreachableError, NoStraightPathError) as exc:
        return TrialResult(False, 0.0, f"unreachable: grasp at {np.round(grasp.position, 3).tolist()} "
                                       f"yaw {grasp.yaw:.2f}: {exc}")

    m, d = cell.model, cell.data
    z0 = {i: cell.object_pose(i)[0][2] for i in cell.active}
    q_now = arm.get_q(m, d)
    q_pre = _unwrap_continuous(cell, q_now, plan.q_pregrasp)
    shift = q_pre - plan.q_pregrasp  # keep descent/lift on the same 2*pi branch as the pre-grasp
    set_gripper_width(d, arm, plan.opening)
    path = np.array([q_now, q_pre])
    _follow(cell, path, _path_duration(cell, path, 0.0, speed, speed_scale), 0.2)
    _follow(cell, plan.descent + shift, _path_duration(cell, plan.descent, approach_height, speed, speed_scale), 0.1)
    reached = float(np.linalg.norm(arm.ee_pose(m, d)[0] - plan.site_grasp))
    set_gripper_width(d, arm, 0.0)  # clipped to the gripper's min: squeeze with the servo's force limit
    mujoco.mj_step(m, d, nstep=int(close_s / m.opt.timestep))
    _follow(cell, plan.lift + shift, _path_duration(cell, plan.lift, lift, speed, speed_scale), 0.0)
    mujoco.mj_step(m, d, nstep=int(hold_s / m.opt.timestep))

    notes = []
    if plan.width_clipped:
        notes.append(f"planned width {grasp.width_m:.3f} m exceeds the {arm.name} gripper's max "
                     f"{arm.gripper_max_width:.3f} m (clipped)")
    if grasp.width_m < arm.gripper_min_width:
        notes.append(f"planned width {grasp.width_m:.3f} m is below the {arm.name} gripper's min "
                     f"{arm.gripper_min_width:.3f} m")
    if reached > 0.01:
        notes.append(f"TCP stopped {reached * 100:.1f} cm from the grasp pose (blocked?)")
    return judge_lift(cell, z0, success_lift, "".join(f"; {n}" for n in notes))


def make_cell(objects: Sequence, gripper: str = "floating", **kwargs) -> SimCell:
    """A SimCell for ``gripper`` ("floating", "widowx" or "kinova"); ``kwargs`` go to SimCell."""
    if gripper not in GRIPPERS:
        raise ValueError(f"make_cell: gripper must be one of {GRIPPERS}, got {gripper!r}")
    return SimCell(objects, arm=None if gripper == "floating" else gripper, **kwargs)


def run_grasp(cell: SimCell, grasp: GraspPose, gripper: str = "floating", **kwargs) -> TrialResult:
    """Execute ``grasp`` with ``gripper`` ("floating", "widowx" or "kinova"), which must be what ``cell`` was
    built with (see :func:`make_cell`); ``kwargs`` go to the executor."""
    if gripper not in GRIPPERS:
        raise ValueError(f"run_grasp: gripper must be one of {GRIPPERS}, got {gripper!r}")
    have = "floating" if getattr(cell, "arm", None) is None else cell.arm.name
    if gripper != have:
        raise ValueError(f"run_grasp: gripper={gripper!r} but the cell was built with "
                         f"{'no arm (floating gripper)' if have == 'floating' else f'arm={have!r}'}; "
                         f"build it with make_cell(objects, {gripper!r})")
    if gripper == "floating":
        return execute_grasp(cell, grasp, **kwargs)
    return execute_grasp_with_arm(cell, grasp, **kwargs)
