"""Grasp trials with the cell's floating gripper (a hand welded to a mocap body).

Every motion and force figure comes from the cell's settings (``cell.settings``, config/sim/*.yaml):
``grippers.floating`` (approach height, speed, tip clearance, force model) and ``protocol`` (lift, hold,
transport/shake).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..cell import SimCell
from ..hands import hand_quat
from ..world_grasp import GraspPose, TrialResult
from .common import fingertip_target, judge_lift, planned_opening


def _move(cell: SimCell, start: np.ndarray, goal: np.ndarray, quat: np.ndarray, speed: float) -> None:
    """Drive the mocap target along a straight line at ``speed`` m/s (then let it catch up briefly)."""
    dt = cell.model.opt.timestep
    n = max(1, int(math.ceil(np.linalg.norm(goal - start) / (speed * dt))))
    for k in range(1, n + 1):
        cell.set_gripper_target(start + (goal - start) * (k / n), 0.0, quat=quat)
        cell.step()
    cell.step(int(0.1 / dt))


def execute_grasp(cell: SimCell, grasp: GraspPose, *, lift: float | None = None) -> TrialResult:
    """Run one grasp with the floating gripper and report whether an object stayed held.

    The hand appears open (:func:`planned_opening`; a failure after capping says so) ``approach_height``
    before the fingertip target along the grasp's approach (straight down, or the camera's axis), descends
    along it until the fingertips are :func:`grasp_depth` past the grasp point (never closer than
    ``tip_clearance`` to the table: :func:`fingertip_target`), closes with the gripper's force model, lifts
    ``protocol.lift`` straight up, holds ``protocol.hold_s``, carries and shakes the object
    (``protocol.transport``), and judges with :func:`judge_lift`. ``lift`` overrides ``protocol.lift``
    (a ROS execution request's own lift).
    """
    if not cell.active:
        raise ValueError("execute_grasp: the cell has no active objects; call cell.reset(...) first")
    if cell.arm is not None:
        raise ValueError(f"execute_grasp: this cell has the {cell.arm.name} arm; use grasp_sim.executors.run_grasp")
    g, pr = cell.gripper, cell.settings.protocol
    opening, clipped = planned_opening(cell, grasp, g.max_opening)
    note = f" (planned width {grasp.width_m:.3f} m clipped to the max opening {g.max_opening} m)" if clipped else ""
    dt = cell.model.opt.timestep
    z0 = {i: cell.object_pose(i)[0][2] for i in cell.active}
    quat = hand_quat(grasp.approach, grasp.closing)
    tip = fingertip_target(cell, grasp, g.tip_clearance)
    above = tip - np.asarray(grasp.approach) * g.approach_height
    cell.teleport_gripper(above, grasp.yaw, opening, quat=quat)
    _move(cell, above, tip, quat, g.speed)
    fingertip_z = float(cell.hand_pose()[0][2])
    cell.close_gripper()
    top = tip + [0.0, 0.0, pr.lift if lift is None else lift]
    _move(cell, tip, top, quat, g.speed)
    cell.step(int(pr.hold_s / dt))
    _transport(cell, top, quat)
    return dataclasses.replace(judge_lift(cell, z0, note), fingertip_z=fingertip_z)


def _transport(cell: SimCell, start: np.ndarray, quat: np.ndarray) -> None:
    """protocol.transport with the floating hand: carry ``distance`` along world +y, then shake along x."""
    tr = cell.settings.protocol.transport
    dt = cell.model.opt.timestep
    if tr.distance > 0:
        goal = start + [0.0, tr.distance, 0.0]
        _move(cell, start, goal, quat, tr.speed)
        start = goal
    if tr.shake_cycles > 0 and tr.shake_amplitude > 0:
        n = int(round(tr.shake_cycles / tr.shake_frequency / dt))
        for k in range(1, n + 1):
            off = tr.shake_amplitude * math.sin(2 * math.pi * tr.shake_frequency * k * dt)
            cell.set_gripper_target(start + [off, 0.0, 0.0], 0.0, quat=quat)
            cell.step()
        cell.step(int(0.2 / dt))
