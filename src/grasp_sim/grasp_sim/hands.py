"""The gripper a :class:`~grasp_sim.cell.SimCell` grasps with, one class per kind, so the cell never asks
which one it has:

- :class:`FloatingHand`: a free "hand" body welded to a mocap target (posed in 6-DoF by writing the
  target), two slide fingers coupled by an equality, one position actuator;
- :class:`ArmGripper`: an arm's own gripper (WidowX fingers, Robotiq 2F-85 linkage), carried by the arm's
  joints.

Both give the cell the same things: the pads (``pad_geoms``), the force-model drive (``drive``, see
:mod:`grasp_sim.grip`), the bodies the segmentation labels as gripper, ``park``, ``opening`` and ``pose``.
What only one kind can do (teleporting the floating hand, posing the arm's joints) is on that class.
"""
from __future__ import annotations

import math
from typing import Sequence

import mujoco
import numpy as np

from .grip import GripDrive


def yaw_quat(yaw: float) -> np.ndarray:
    """wxyz quaternion of a rotation by ``yaw`` about world z (the floating hand, top-down)."""
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


def hand_quat(approach: Sequence[float], closing: Sequence[float]) -> np.ndarray:
    """The floating hand's orientation (wxyz) for a grasp: its fingers extend along hand +z, so hand z points
    back along the ``approach``; they open along hand x = ``closing`` (perpendicular to the approach)."""
    z = -np.asarray(approach, float) / np.linalg.norm(approach)
    x = np.asarray(closing, float) - (np.asarray(closing, float) @ z) * z
    x /= np.linalg.norm(x)
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(np.column_stack([x, np.cross(z, x), z])).ravel())
    return q


class FloatingHand:
    """The floating parallel-jaw gripper of a cell without an arm (MJCF bodies ``hand``, ``finger_left`` /
    ``finger_right``, mocap ``gripper_mocap``, actuator ``fingers``)."""

    kind = "floating"

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, settings, park_position: np.ndarray):
        self.model, self.data, self.settings = model, data, settings
        self.park_position = np.asarray(park_position, float)
        name2id = lambda t, n: mujoco.mj_name2id(model, t, n)  # noqa: E731
        self.mocap = model.body_mocapid[name2id(mujoco.mjtObj.mjOBJ_BODY, "gripper_mocap")]
        joint = name2id(mujoco.mjtObj.mjOBJ_JOINT, "hand_free")
        self._qadr, self._dadr = model.jnt_qposadr[joint], model.jnt_dofadr[joint]
        fingers = [name2id(mujoco.mjtObj.mjOBJ_JOINT, n) for n in ("finger_left", "finger_right")]
        self._finger_qadr = [model.jnt_qposadr[j] for j in fingers]
        self._finger_dadr = [model.jnt_dofadr[j] for j in fingers]
        self.pad_geoms = tuple(name2id(mujoco.mjtObj.mjOBJ_GEOM, n) for n in ("pad_left", "pad_right"))
        self.bodies = [name2id(mujoco.mjtObj.mjOBJ_BODY, n) for n in ("hand", "finger_left", "finger_right")]
        self.max_opening = settings.max_opening
        self.drive = GripDrive(model, name2id(mujoco.mjtObj.mjOBJ_ACTUATOR, "fingers"), settings,
                               lambda w: 0.5 * w, lambda c: 2.0 * c, 0.0, settings.max_opening)

    def park(self) -> None:
        """To ``park_position``, open."""
        self.teleport(self.park_position, 0.0, self.max_opening)

    def teleport(self, position: Sequence[float], yaw: float, opening: float, quat=None) -> None:
        """The hand (fingertip centre) at ``position`` with ``yaw`` (or orientation ``quat``, wxyz) and finger
        ``opening``, at rest."""
        d = self.data
        q = yaw_quat(yaw) if quat is None else np.asarray(quat, float)
        d.mocap_pos[self.mocap], d.mocap_quat[self.mocap] = position, q
        a = self._qadr
        d.qpos[a:a + 3], d.qpos[a + 3:a + 7] = position, q
        d.qvel[self._dadr:self._dadr + 6] = 0.0
        half = float(np.clip(opening / 2, 0.0, self.max_opening / 2))
        for qa, da in zip(self._finger_qadr, self._finger_dadr):
            d.qpos[qa], d.qvel[da] = half, 0.0
        self.drive.command_width(d, 2 * half)
        mujoco.mj_forward(self.model, d)

    def set_target(self, position: Sequence[float], yaw: float, quat=None) -> None:
        """Where the weld pulls the hand: ``position`` with ``yaw`` (or orientation ``quat``, wxyz)."""
        self.data.mocap_pos[self.mocap] = position
        self.data.mocap_quat[self.mocap] = yaw_quat(yaw) if quat is None else quat

    def opening(self) -> float:
        return float(self.data.qpos[self._finger_qadr[0]] + self.data.qpos[self._finger_qadr[1]])

    def pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(position, wxyz quat) of the hand frame (origin at the fingertip centre)."""
        a = self._qadr
        return self.data.qpos[a:a + 3].copy(), self.data.qpos[a + 3:a + 7].copy()


class ArmGripper:
    """The gripper of an arm (``robots.ArmModel``), posed through the arm's joints; ``rest_q`` is where
    :meth:`park` puts the arm."""

    kind = "arm"

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, settings, arm, pad_names: Sequence[str],
                 rest_q: np.ndarray):
        self.model, self.data, self.settings, self.arm = model, data, settings, arm
        self.rest_q = np.asarray(rest_q, float)
        self.pad_geoms = tuple(model.geom(arm.full(n)).id for n in pad_names)
        base = model.body(arm.full("base_link")).id
        in_arm = np.zeros(model.nbody, bool)
        for b in range(model.nbody):  # parents precede children in MuJoCo's body order
            in_arm[b] = b == base or (b > 0 and in_arm[model.body_parentid[b]])
        self.bodies = np.flatnonzero(in_arm).tolist()  # every link of the arm is "gripper" in the segmentation
        # Gripper joints tied to the driven one by joint equalities (mimics): q1 = c0 + c1 * q_driven.
        drive = model.joint(arm.full(arm.gripper_joint_names[0])).id
        self._drive_qadr = model.jnt_qposadr[drive]
        self._mimics = [(model.jnt_qposadr[model.eq_obj1id[e]], model.eq_data[e, 0], model.eq_data[e, 1])
                        for e in range(model.neq)
                        if model.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT and model.eq_obj2id[e] == drive]
        self.max_opening = arm.gripper_max_width
        self.drive = GripDrive(model, arm.gripper_actuator_ids(model)[0], settings, arm.width_to_ctrl,
                               arm.ctrl_to_width, arm.gripper_min_width, arm.gripper_max_width)

    def park(self) -> None:
        """The arm at ``rest_q``, gripper open."""
        self.set_pose()

    def set_pose(self, q: Sequence[float] | None = None, opening: float | None = None) -> None:
        """Teleport the arm to joint positions ``q`` (default ``rest_q``) at rest, the gripper to ``opening``
        (default fully open), and command the servos to hold them. Clears all velocities."""
        arm, m, d = self.arm, self.model, self.data
        width = arm.gripper_max_width if opening is None else opening
        self.drive.command_width(d, width)
        self.write_joints(d.qpos, width)  # qpos0 = 0 lies outside the WidowX finger range
        d.qvel[:] = 0.0  # callers reset objects afterwards
        arm.set_q(m, d, self.rest_q if q is None else q)  # also runs mj_forward

    def write_joints(self, qpos: np.ndarray, opening: float) -> None:
        """Write the gripper joints (driven + mimics) of ``qpos`` for a pad-to-pad ``opening`` (clipped to the
        gripper's range), e.g. of a scratch ``MjData`` for a kinematic query."""
        arm = self.arm
        ctrl = arm.width_to_ctrl(min(max(opening, arm.gripper_min_width), arm.gripper_max_width))
        qpos[self._drive_qadr] = ctrl
        for qa, c0, c1 in self._mimics:
            qpos[qa] = c0 + c1 * ctrl

    def opening(self) -> float:
        return self.arm.gripper_width(self.model, self.data)

    def pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(position, wxyz quat) of the arm's TCP site (its own axis convention)."""
        return self.arm.ee_pose(self.model, self.data)
