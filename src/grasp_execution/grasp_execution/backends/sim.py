"""The simulated cell's arms as an execution backend (``use_sim:=true`` and the tests).

It does not execute grasps itself: it hands them to ``grasp_sim``'s arm executor (the one
``python -m grasp_sim.trials`` uses), so ROS sessions and the simulator's CLI run the same motions and
the same success test (object height after the lift). The grasp keeps its approach (up to
``world_grasp.MAX_TILT_DEG`` from straight down; ``protocol.approach: vertical`` makes every approach world -z),
point, opening, closing direction and, when the model predicted one, its approach depth.
"""
from __future__ import annotations

import threading

from grasp_perception.geometry import GraspPose6D
from grasp_sim.executors import run_grasp
from grasp_sim.cell_setup import world_T_base
from grasp_sim.world_grasp import executable_grasp

from . import ExecutionResult


class SimBackend:
    def __init__(self, cell, lock: threading.Lock, arm: str, base_frame: str):
        have = "floating" if cell.arm is None else cell.arm.name
        if have != arm:
            raise ValueError(f"sim backend: parameter 'arm' is {arm!r} but the simulated cell has {have!r}")
        self.cell, self.lock, self.arm, self.base_frame = cell, lock, arm, base_frame
        self.world_T_base = world_T_base(arm)

    def execute(self, grasp: GraspPose6D, lift: float) -> ExecutionResult:
        try:
            pose = executable_grasp(grasp.transformed(self.world_T_base), self.cell.settings.protocol.approach)
        except ValueError as exc:
            return ExecutionResult(False, False, f"unreachable: {exc}")
        with self.lock:  # the simulated camera renders the same cell
            result = run_grasp(self.cell, pose, self.arm, **({"lift": lift} if lift > 0 else {}))
        executed = not result.reason.startswith("unreachable")
        return ExecutionResult(bool(result.success), executed, result.reason, float(result.lift_height))

    def joint_state(self) -> tuple[list[str], list[float]]:
        cell = self.cell
        if cell.arm is None:
            return [], []
        arm, m, d = cell.arm, cell.model, cell.data
        with self.lock:
            q = arm.get_q(m, d)
            grip = d.qpos[m.jnt_qposadr[m.joint(arm.full(arm.gripper_joint_names[0])).id]]
        # real joint names; the driven gripper joint in its own unit (WidowX finger m, Robotiq knuckle rad)
        return [*arm.joint_names, arm.gripper_joint_names[0]], [*map(float, q), float(grip)]
