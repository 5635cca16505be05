"""Grasp trials with a simulated arm (WidowX 250s or Kinova Gen3 + Robotiq 2F-85) in the grasp cell.

An arm trial mirrors :func:`grasp_sim.executors.floating.execute_grasp` (same :class:`GraspPose` in, same
:class:`TrialResult` out, same success test) but moves the real kinematic chain: IK for the grasp's
orientation (approach straight down or along the camera axis; yaw or yaw + pi, whichever needs less motion)
to a pre-grasp before the target on the approach, a joint-space min-jerk move there while the gripper
opens, a straight cartesian descent along the approach (IK waypoints), close, a straight vertical lift,
hold, and the transport/shake of ``protocol.transport`` (a turn of the base joint, then an
oscillation of it). Every IK solve is done before the arm moves, so an unreachable grasp fails without
touching the scene. Motion and force figures are the cell's settings (``grippers.<arm>``, ``protocol``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import mujoco
import numpy as np

from ..cell import SimCell
from ..world_grasp import GraspPose, TrialResult
from .common import fingertip_target, judge_lift, planned_opening


class NoStraightPathError(RuntimeError):
    """The straight descent or lift exists pose by pose, but IK would switch joint branches along it."""


@dataclass(frozen=True)
class ArmGraspPlan:
    """Joint-space plan of one arm grasp (arm joints in ``cell.arm.joint_names`` order)."""

    q_pregrasp: np.ndarray      # (dof,)
    descent: np.ndarray         # (k + 1, dof) waypoints, pre-grasp -> grasp, on the approach line
    lift: np.ndarray            # (k + 1, dof) waypoints, grasp -> lifted
    site_quat: np.ndarray       # EE-site orientation (wxyz) held throughout
    site_grasp: np.ndarray      # EE-site position at the grasp
    opening: float              # commanded pad-to-pad opening for the approach, m
    width_clipped: bool         # the planned width exceeded the gripper's max opening


def _require_arm(cell: SimCell, caller: str):
    if getattr(cell, "arm", None) is None:
        raise ValueError(f"{caller}: cell has no arm; build it with SimCell(..., arm='widowx' or 'kinova')")
    return cell.arm


def pad_tip_offset(cell: SimCell, opening: float) -> float:
    """Distance (m) along the approach axis from the arm's EE site to the farthest pad point when the
    gripper is at ``opening`` (the Robotiq pads travel on an arc, so this depends on the opening).
    Purely kinematic: ``cell.data`` is untouched."""
    arm = _require_arm(cell, "pad_tip_offset")
    m = cell.model
    d = mujoco.MjData(m)
    d.qpos[:] = cell.data.qpos
    cell.write_gripper_joints(d.qpos, opening)
    mujoco.mj_kinematics(m, d)
    sid = arm.ee_site_id(m)
    a = d.site_xmat[sid].reshape(3, 3) @ np.asarray(arm.approach_axis, float)
    reach = []
    for g in cell.pad_geoms:
        R = d.geom_xmat[g].reshape(3, 3)
        extent = float(np.sum(np.abs(m.geom_size[g] * (R.T @ a))))  # box half-extent along a
        reach.append(float((d.geom_xpos[g] - d.site_xpos[sid]) @ a) + extent)
    return max(reach)


def _closing_quat(cell: SimCell, q: np.ndarray, yaw: float, approach) -> np.ndarray:
    """The grasp's site orientation (for yaw or yaw + pi) that joint positions ``q`` realise."""
    from ..robots import grasp_orientation
    arm, m = cell.arm, cell.model
    d = mujoco.MjData(m)
    d.qpos[:] = cell.data.qpos
    d.qpos[arm.qpos_adr(m)] = q
    mujoco.mj_kinematics(m, d)
    closing = d.site_xmat[arm.ee_site_id(m)].reshape(3, 3) @ np.asarray(arm.closing_axis, float)
    flip = closing[0] * math.cos(yaw) + closing[1] * math.sin(yaw) < 0
    return grasp_orientation(yaw + (math.pi if flip else 0.0), arm, approach)


def _line(cell: SimCell, q_start: np.ndarray, p0: np.ndarray, p1: np.ndarray, quat: np.ndarray, n: int,
          max_step: float, what: str, **ik) -> np.ndarray:
    """IK waypoints along the straight segment p0 -> p1 (site positions), each seeded by the previous one.
    Raises UnreachableError for a point IK cannot reach, NoStraightPathError if IK would jump branches."""
    from ..robots import solve_ik_or_raise
    qs = [np.asarray(q_start, float)]
    for s in np.linspace(0.0, 1.0, n + 1)[1:]:
        q = solve_ik_or_raise(cell.model, cell.data, cell.arm, p0 + s * (p1 - p0), quat, q_init=qs[-1], **ik)
        jump = float(np.max(np.abs(q - qs[-1])))
        if jump > max_step:
            raise NoStraightPathError(f"{what}: IK jumps {jump:.2f} rad between waypoints (> {max_step} rad): "
                               f"no continuous straight path near {np.round(p0 + s * (p1 - p0), 3).tolist()}")
        qs.append(q)
    return np.array(qs)


def plan_arm_grasp(cell: SimCell, grasp: GraspPose, *, waypoints: int = 4, ik_restarts: int = 4,
                   lift: float | None = None) -> ArmGraspPlan:
    """Solve every IK of a grasp with ``cell``'s arm; the cell's state is not changed.

    Target: the pad tips :func:`grasp_sim.executors.common.fingertip_target` (the grasp depth past the grasp
    point along its approach, never closer than ``grippers.<arm>.tip_clearance`` to the table), approached
    from ``approach_height`` before it along the grasp's approach (straight down or the camera's axis),
    opened to :func:`grasp_sim.executors.common.planned_opening`, lifted ``lift`` (default ``protocol.lift``) after
    closing; ``waypoints`` IK points per straight segment.
    Raises :class:`grasp_sim.robots.UnreachableError` naming the first EE-site pose IK cannot reach, or
    :class:`NoStraightPathError` when the straight descent/lift has no continuous joint path.
    """
    from ..robots import grasp_orientation, solve_ik, UnreachableError
    arm = _require_arm(cell, "plan_arm_grasp")
    g = cell.gripper
    lift = cell.settings.protocol.lift if lift is None else lift
    if int(waypoints) < 1:
        raise ValueError(f"plan_arm_grasp: waypoints must be >= 1, got {waypoints}")
    opening, clipped = planned_opening(cell, grasp, arm.gripper_max_width)
    a = np.asarray(grasp.approach)
    tip = fingertip_target(cell, grasp, g.tip_clearance)
    site_grasp = tip - a * pad_tip_offset(cell, opening)  # the site sits behind the pad tips, on the approach
    site_pre = site_grasp - a * g.approach_height
    ik = dict(restarts=int(ik_restarts))

    # Pre-grasp seeded from Home: a well-conditioned elbow-up solution whatever the rest pose is.
    res = solve_ik(cell.model, cell.data, arm, site_pre, yaw=grasp.yaw, approach=a, q_init=arm.home, **ik)
    if not res.converged:
        raise UnreachableError(arm.name, site_pre, grasp_orientation(grasp.yaw, arm, a), res.pos_err,
                               res.rot_err, 2e-3, 0.02)
    q_pre = res.q
    quat = _closing_quat(cell, q_pre, grasp.yaw, a)
    max_step = 0.6  # rad per waypoint (a few cm of travel): more means IK switched to another branch
    descent = _line(cell, q_pre, site_pre, site_grasp, quat, int(waypoints), max_step, "descent", **ik)
    lifted = _line(cell, descent[-1], site_grasp, site_grasp + [0.0, 0.0, lift], quat, int(waypoints), max_step,
                   "lift", **ik)
    return ArmGraspPlan(q_pre, descent, lifted, quat, site_grasp, float(opening), clipped)


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
    from ..robots import joint_trajectory
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
    from ..robots import trajectory_duration
    joint_t = trajectory_duration(cell.arm, np.zeros(cell.arm.dof), np.abs(np.diff(waypoints, axis=0)).sum(0),
                                  speed_scale)
    return max(joint_t, cart_dist / speed)


def execute_grasp_with_arm(cell: SimCell, grasp: GraspPose, *, speed_scale: float = 0.5, waypoints: int = 4,
                           ik_restarts: int = 4, lift: float | None = None) -> TrialResult:
    """Run one grasp with the cell's arm from its current pose; report whether an object stayed held.

    Sequence: plan (:func:`plan_arm_grasp`); min-jerk joint move to the pre-grasp ``approach_height`` before
    the target on the approach (joints at most ``speed_scale`` x their velocity limits) while the gripper
    opens to the planned opening; straight descent along the approach at ~``speed`` m/s; close with the
    gripper's force model (:meth:`SimCell.close_gripper`); straight lift of ``protocol.lift``; hold
    ``protocol.hold_s``; transport and shake (``protocol.transport``). Success:
    :func:`grasp_sim.executors.common.judge_lift`. An unreachable grasp
    returns success=False with a reason starting "unreachable:" (the arm does not move). A width above the
    gripper's max is clipped to it, and a failure reason says so. ``lift`` overrides ``protocol.lift``.
    """
    from ..robots import UnreachableError
    arm = _require_arm(cell, "execute_grasp_with_arm")
    if not cell.active:
        raise ValueError("execute_grasp_with_arm: the cell has no active objects; call cell.reset(...) first")
    g, pr = cell.gripper, cell.settings.protocol
    try:
        plan = plan_arm_grasp(cell, grasp, waypoints=waypoints, ik_restarts=ik_restarts, lift=lift)
    except (UnreachableError, NoStraightPathError) as exc:
        return TrialResult(False, 0.0, f"unreachable: grasp at {np.round(grasp.position, 3).tolist()} "
                                       f"yaw {grasp.yaw:.2f}: {exc}")

    m, d = cell.model, cell.data
    z0 = {i: cell.object_pose(i)[0][2] for i in cell.active}
    q_now = arm.get_q(m, d)
    q_pre = _unwrap_continuous(cell, q_now, plan.q_pregrasp)
    shift = q_pre - plan.q_pregrasp  # keep descent/lift on the same 2*pi branch as the pre-grasp
    cell.set_opening(plan.opening)
    path = np.array([q_now, q_pre])
    _follow(cell, path, _path_duration(cell, path, 0.0, g.speed, speed_scale), 0.2)
    _follow(cell, plan.descent + shift, _path_duration(cell, plan.descent, g.approach_height, g.speed, speed_scale),
            0.1)
    site_now = arm.ee_pose(m, d)[0]
    reached = float(np.linalg.norm(site_now - plan.site_grasp))
    fingertip_z = float(site_now[2] - pad_tip_offset(cell, plan.opening))
    cell.close_gripper()
    lift_m = pr.lift if lift is None else lift
    _follow(cell, plan.lift + shift, _path_duration(cell, plan.lift, lift_m, g.speed, speed_scale), 0.0)
    mujoco.mj_step(m, d, nstep=int(pr.hold_s / m.opt.timestep))
    _transport_with_arm(cell)

    notes = []
    if plan.width_clipped:
        notes.append(f"planned width {grasp.width_m:.3f} m exceeds the {arm.name} gripper's max "
                     f"{arm.gripper_max_width:.3f} m (clipped)")
    if grasp.width_m < arm.gripper_min_width:
        notes.append(f"planned width {grasp.width_m:.3f} m is below the {arm.name} gripper's min "
                     f"{arm.gripper_min_width:.3f} m")
    if reached > 0.01:
        notes.append(f"TCP stopped {reached * 100:.1f} cm from the grasp pose (blocked?)")
    result = judge_lift(cell, z0, "".join(f"; {n}" for n in notes))
    return dataclasses.replace(result, fingertip_z=fingertip_z)


def _transport_with_arm(cell: SimCell) -> None:
    """protocol.transport with an arm: turn the base joint so the TCP travels ``distance`` on its arc, then
    oscillate the base joint by ``shake_amplitude`` (at the TCP) ``shake_cycles`` times."""
    tr = cell.settings.protocol.transport
    arm, m, d = cell.arm, cell.model, cell.data
    act = arm.actuator_ids(m)
    tcp = arm.ee_pose(m, d)[0]
    radius = max(float(np.hypot(*(tcp[:2] - cell.arm_base_pos[:2]))), 0.05)
    q = np.array(d.ctrl[act])
    dt = m.opt.timestep
    if tr.distance > 0:
        goal = q.copy()
        goal[0] += tr.distance / radius  # the base yaw joint (WidowX waist, Kinova joint_1)
        _follow(cell, np.array([q, goal]), max(tr.distance / tr.speed, dt), 0.1)
        q = goal
    if tr.shake_cycles > 0 and tr.shake_amplitude > 0:
        n = int(round(tr.shake_cycles / tr.shake_frequency / dt))
        for k in range(1, n + 1):
            d.ctrl[act[0]] = q[0] + tr.shake_amplitude / radius * math.sin(2 * math.pi * tr.shake_frequency * k * dt)
            mujoco.mj_step(m, d)
        d.ctrl[act[0]] = q[0]
        mujoco.mj_step(m, d, nstep=int(0.2 / dt))
