"""How a gripper of the cell closes: its force model (``grippers.<name>`` of the sim settings).

One :class:`GripDrive` per cell drives the gripper's single position actuator (the floating gripper's
``fingers``, the WidowX ``gripper`` slide, the Robotiq knuckle); every other finger joint follows it
through joint equalities. Two models:

* ``servo`` (easy.yaml, the old behaviour): a P-servo to fully closed, actuator force
  ``clip(servo_kp x error, +-grip_force)`` in the actuator's own units (N on a slide, N m on the knuckle),
  so the squeeze depends on how far the object keeps the fingers from closed.
* ``constant`` (realistic.yaml): what a force-controlled gripper does: the target closes at
  ``closing_speed`` (pad-to-pad) and runs on past the object, and the actuator force is limited, each
  step, to the joint force that puts ``grip_force`` newtons on each pad. By virtual work (both pads move
  ``dw / 2`` when the width changes by ``dw``): joint force = ``grip_force x |dw / dctrl|``, i.e.
  2 x grip_force on a finger slide (width = 2 x finger position) and the opening-dependent lever of
  the Robotiq linkage on its knuckle.
"""
from __future__ import annotations

from typing import Callable

import mujoco
import numpy as np

from .settings import GripperSettings

# Saturation: the constant-force servo reaches its force limit at this width error (m; larger = a softer
# servo, which keeps the light finger joints stable at a 2 ms step), and its target runs this far (m of
# width) past fully closed, so once the pads touch it always squeezes at the limit.
_SATURATION_WIDTH = 0.01
_OVERSHOOT_WIDTH = 0.03


class GripDrive:
    """The gripper actuator ``actuator_id`` of ``model``, commanded in pad-to-pad width.

    ``width_to_ctrl`` / ``ctrl_to_width`` map width (m) and the actuator's control; ``min_width`` /
    ``max_width`` are the stroke. :meth:`configure` writes the settings' gains and limits into the model.
    """

    def __init__(self, model: mujoco.MjModel, actuator_id: int, settings: GripperSettings,
                 width_to_ctrl: Callable[[float], float], ctrl_to_width: Callable[[float], float],
                 min_width: float, max_width: float):
        self.model, self.aid, self.settings = model, int(actuator_id), settings
        self.width_to_ctrl, self.ctrl_to_width = width_to_ctrl, ctrl_to_width
        self.min_width, self.max_width = float(min_width), float(max_width)
        self.ctrl_open = float(width_to_ctrl(max_width))
        self.ctrl_closed = float(width_to_ctrl(min_width))
        self.closing_sign = 1.0 if self.ctrl_closed > self.ctrl_open else -1.0
        self.configure()

    def jacobian(self, ctrl: float) -> float:
        """|d width / d ctrl| at ``ctrl`` (central difference; exact for the linear slides)."""
        h = 1e-4 * max(abs(self.ctrl_closed - self.ctrl_open), 1e-6)
        return abs(self.ctrl_to_width(ctrl + h) - self.ctrl_to_width(ctrl - h)) / (2 * h)

    def configure(self) -> None:
        m, a, s = self.model, self.aid, self.settings
        lo, hi = sorted((self.ctrl_open, self.ctrl_closed))
        if s.force_model == "servo":
            kp, force = s.servo_kp, s.grip_force
        else:
            j = self.jacobian(self.ctrl_closed)
            over = _OVERSHOOT_WIDTH / j
            lo, hi = (lo, hi + over) if self.closing_sign > 0 else (lo - over, hi)
            force = s.grip_force * self.jacobian(0.5 * (self.ctrl_open + self.ctrl_closed))
            kp = force / (_SATURATION_WIDTH / j)
        m.actuator_gainprm[a, 0] = kp
        m.actuator_biasprm[a, 1] = -kp
        m.actuator_ctrlrange[a] = (lo, hi)
        m.actuator_ctrllimited[a] = 1
        m.actuator_forcerange[a] = (-force, force)
        m.actuator_forcelimited[a] = 1
        if s.force_model == "constant":
            # The squeeze target lies past the closed end of the stroke: a stiff limit (as stiff as the contacts)
            # stops fingers that close on nothing at the end of their stroke instead of sinking through it.
            m.jnt_solref[m.actuator_trnid[a, 0]] = (2 * m.opt.timestep, 1.0)

    def command_width(self, data: mujoco.MjData, width: float) -> float:
        """Servo to ``width`` (clipped to the stroke); returns the control written."""
        ctrl = float(self.width_to_ctrl(min(max(float(width), self.min_width), self.max_width)))
        data.ctrl[self.aid] = ctrl
        return ctrl

    def close(self, data: mujoco.MjData, seconds: float | None = None) -> None:
        """Close on whatever is between the pads and keep squeezing for ``seconds`` (default close_time)."""
        m, s = self.model, self.settings
        dt = m.opt.timestep
        n = max(1, int(round((s.close_time if seconds is None else seconds) / dt)))
        if s.force_model == "servo":
            data.ctrl[self.aid] = self.ctrl_closed
            mujoco.mj_step(m, data, nstep=n)
            return
        lo, hi = m.actuator_ctrlrange[self.aid]
        target_end = hi if self.closing_sign > 0 else lo
        ctrl = float(data.ctrl[self.aid])
        for _ in range(n):
            j = self.jacobian(float(np.clip(ctrl, min(self.ctrl_open, self.ctrl_closed),
                                            max(self.ctrl_open, self.ctrl_closed))))
            step = s.closing_speed * dt / j
            ctrl = min(ctrl + step, target_end) if self.closing_sign > 0 else max(ctrl - step, target_end)
            q_ctrl = self._ctrl_now(data)
            jq = self.jacobian(q_ctrl)
            force = s.grip_force * jq  # grip_force on each pad at the current opening
            m.actuator_forcerange[self.aid] = (-force, force)
            m.actuator_gainprm[self.aid, 0] = force / (_SATURATION_WIDTH / jq)
            m.actuator_biasprm[self.aid, 1] = -m.actuator_gainprm[self.aid, 0]
            data.ctrl[self.aid] = ctrl
            mujoco.mj_step(m, data)

    def _ctrl_now(self, data: mujoco.MjData) -> float:
        """The actuator's joint position (its control units), clipped to the stroke."""
        jid = self.model.actuator_trnid[self.aid, 0]
        q = float(data.qpos[self.model.jnt_qposadr[jid]])
        return float(np.clip(q, min(self.ctrl_open, self.ctrl_closed), max(self.ctrl_open, self.ctrl_closed)))
