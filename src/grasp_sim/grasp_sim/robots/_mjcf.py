"""Small helpers shared by the arm MJCF builders (formatting, URDF rpy, inertials, base pose)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def fmt(values: Sequence[float]) -> str:
    """Format numbers for an MJCF attribute; repr-precision so URDF facts survive the round trip."""
    return " ".join(repr(float(v)) for v in values)


def rpy_to_matrix(rpy: Sequence[float]) -> np.ndarray:
    """URDF rpy (fixed axes X, then Y, then Z): R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion (w, x, y, z), MuJoCo order."""
    import mujoco

    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.asarray(rot, dtype=float).reshape(9))
    return quat


def rpy_to_quat(rpy: Sequence[float]) -> np.ndarray:
    return matrix_to_quat(rpy_to_matrix(rpy))


def inertial(mass: float, com: Sequence[float], inertia6: Sequence[float], rpy=(0.0, 0.0, 0.0)) -> str:
    """MJCF <inertial> from URDF values (ixx, iyy, izz, ixy, ixz, iyz expressed in the rpy-rotated frame).

    URDF rotates only the inertia tensor by rpy (the COM xyz is already in the link frame), so the
    tensor is rotated into the link frame here and written as fullinertia.
    """
    ixx, iyy, izz, ixy, ixz, iyz = inertia6
    tensor = np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])
    rot = rpy_to_matrix(rpy)
    t = rot @ tensor @ rot.T
    full = (t[0, 0], t[1, 1], t[2, 2], t[0, 1], t[0, 2], t[1, 2])
    return f'<inertial pos="{fmt(com)}" mass="{mass!r}" fullinertia="{fmt(full)}"/>'


def check_base_pose(pos, quat) -> tuple[np.ndarray, np.ndarray]:
    """Validate the base pose given to a model builder; returns (pos(3), unit quat(4) w,x,y,z)."""
    p = np.asarray(pos, dtype=float).reshape(-1)
    q = np.asarray(quat, dtype=float).reshape(-1)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ValueError(f"base_pos must be 3 finite numbers (x, y, z) in metres, got {pos!r}")
    if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-9:
        raise ValueError(f"base_quat must be a non-zero quaternion (w, x, y, z), got {quat!r}")
    return p, q / np.linalg.norm(q)


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or any(c.isspace() for c in prefix) or any(c in prefix for c in "<>&\"'"):
        raise ValueError(f"prefix must be a string without whitespace or XML special characters, got {prefix!r}")
    return prefix


def wrap_standalone(model_name: str, body: str, actuators: str, equalities: str, excludes: str = "") -> str:
    """Wrap arm fragments into a complete MJCF document.

    The <option> values follow the grasp probe that held objects stably (elliptic cone, impratio 10);
    implicitfast keeps the stiff position servos and joint damping stable at a 2 ms step.
    """
    return f"""<mujoco model="{model_name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <worldbody>
{body}
  </worldbody>
  <contact>
{excludes}
  </contact>
  <equality>
{equalities}
  </equality>
  <actuator>
{actuators}
  </actuator>
</mujoco>
"""


def attach_parts(spec, parts: dict, prefix: str, caller: str):
    """Attach unprefixed arm fragments to `spec` under `prefix` (bodies + their actuators/equalities)."""
    import mujoco

    if not isinstance(spec, mujoco.MjSpec):
        raise TypeError(f"{caller}: spec must be a mujoco.MjSpec, got {type(spec).__name__}")
    check_prefix(prefix)
    if not prefix:
        raise ValueError(f"{caller}: prefix must be non-empty when attaching to an MjSpec "
                         "(use the *_parts()/*_mjcf() XML for unprefixed names)")
    # The compiler block matters: without angle="radian" MuJoCo reads the ranges as degrees on attach.
    xml = ('<mujoco><compiler angle="radian" autolimits="true"/>'
           f"<worldbody>{parts['body']}</worldbody><contact>{parts['excludes']}</contact>"
           f"<equality>{parts['equalities']}</equality><actuator>{parts['actuators']}</actuator></mujoco>")
    child = mujoco.MjSpec.from_string(xml)
    return spec.worldbody.add_frame().attach_body(child.worldbody.first_body(), prefix, "")
