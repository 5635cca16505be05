"""Arm descriptions shared by the grasp cell, plus IK (mink), top-down grasp frames and trajectories.

An `ArmModel` names everything the rest of the stack needs (joints, EE site, gripper actuator, home
pose, gripper width range) and knows how to build its MJCF. All helpers work on any MjModel that
contains the arm under `arm.prefix`, so several arms and free objects can share one scene.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, NamedTuple, Sequence

import mink
import mujoco
import numpy as np

from . import kinova_gen3 as _kinova
from . import widowx250 as _widowx

# QP solver for mink. daqp is the one installed in the venv (see requirements).
IK_SOLVER = "daqp"


class UnreachableError(RuntimeError):
    """IK could not reach a target pose; carries the target and the best residual found."""

    def __init__(self, arm_name: str, target_pos, target_quat, pos_err: float, rot_err: float,
                 pos_tol: float, rot_tol: float):
        self.arm_name = arm_name
        self.target_pos = np.asarray(target_pos, dtype=float)
        self.target_quat = np.asarray(target_quat, dtype=float)
        self.pos_err = float(pos_err)
        self.rot_err = float(rot_err)
        super().__init__(
            f"{arm_name}: target pos {np.round(self.target_pos, 4).tolist()} quat(wxyz) "
            f"{np.round(self.target_quat, 4).tolist()} is unreachable: best residual "
            f"{self.pos_err * 1000:.1f} mm / {self.rot_err:.3f} rad (tolerance {pos_tol * 1000:.1f} mm / {rot_tol:.3f} rad)")


@dataclasses.dataclass(frozen=True)
class ArmModel:
    """Static description of a simulated arm (names are unprefixed; `prefix` is applied on lookup)."""

    name: str                              # key in ARMS
    robot: str                             # real robot model name
    joint_names: tuple[str, ...]           # arm joints, real names, base -> tip
    ee_site: str                           # TCP site, named like the real EE frame
    gripper_joint_names: tuple[str, ...]   # real gripper joint names (first one is driven)
    gripper_actuators: tuple[str, ...]     # MuJoCo actuator(s) commanding the gripper
    home: tuple[float, ...]                # real "Home" state from the vendor SRDF
    gripper_min_width: float               # m, pad-to-pad
    gripper_max_width: float               # m, pad-to-pad
    approach_axis: tuple[float, float, float]  # EE-site axis pointing from palm to fingertips
    closing_axis: tuple[float, float, float]   # EE-site axis along which the fingers close
    velocity_limits: tuple[float, ...]         # rad/s per arm joint (URDF)
    width_to_ctrl: Callable[[float], float] = dataclasses.field(repr=False, compare=False)
    ctrl_to_width: Callable[[float], float] = dataclasses.field(repr=False, compare=False)
    parts_builder: Callable[..., dict] = dataclasses.field(repr=False, compare=False)
    mjcf_builder: Callable[..., str] = dataclasses.field(repr=False, compare=False)
    prefix: str = ""

    # ----- naming / model lookups ---------------------------------------------------------------
    def with_prefix(self, prefix: str) -> "ArmModel":
        return dataclasses.replace(self, prefix=prefix)

    def full(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def dof(self) -> int:
        return len(self.joint_names)

    def _id(self, model: mujoco.MjModel, obj: mujoco.mjtObj, name: str, what: str) -> int:
        i = mujoco.mj_name2id(model, obj, self.full(name))
        if i < 0:
            raise KeyError(f"{self.name}: {what} '{self.full(name)}' not found in the model "
                           f"(wrong prefix? arm.prefix={self.prefix!r})")
        return i

    def joint_ids(self, model: mujoco.MjModel) -> np.ndarray:
        return np.array([self._id(model, mujoco.mjtObj.mjOBJ_JOINT, n, "joint") for n in self.joint_names])

    def qpos_adr(self, model: mujoco.MjModel) -> np.ndarray:
        return model.jnt_qposadr[self.joint_ids(model)]

    def dof_adr(self, model: mujoco.MjModel) -> np.ndarray:
        return model.jnt_dofadr[self.joint_ids(model)]

    def actuator_ids(self, model: mujoco.MjModel) -> np.ndarray:
        """Arm position actuators (named like their joints), in joint order."""
        return np.array([self._id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, n, "actuator") for n in self.joint_names])

    def gripper_actuator_ids(self, model: mujoco.MjModel) -> np.ndarray:
        return np.array([self._id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, n, "actuator") for n in self.gripper_actuators])

    def ee_site_id(self, model: mujoco.MjModel) -> int:
        return self._id(model, mujoco.mjtObj.mjOBJ_SITE, self.ee_site, "site")

    def joint_limits(self, model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) per arm joint; +-inf for continuous joints."""
        ids = self.joint_ids(model)
        lo = np.where(model.jnt_limited[ids] == 1, model.jnt_range[ids, 0], -np.inf)
        hi = np.where(model.jnt_limited[ids] == 1, model.jnt_range[ids, 1], np.inf)
        return lo, hi

    # ----- model building -------------------------------------------------------------------------
    def parts(self, base_pos=(0.0, 0.0, 0.0), base_quat=(1.0, 0.0, 0.0, 0.0)) -> dict:
        """MJCF fragments {body, actuators, equalities, excludes} with names prefixed by `prefix`."""
        return self.parts_builder(self.prefix, base_pos, base_quat)

    def mjcf(self, base_pos=(0.0, 0.0, 0.0), base_quat=(1.0, 0.0, 0.0, 0.0)) -> str:
        """Complete standalone MJCF document of this arm."""
        return self.mjcf_builder(self.prefix, base_pos, base_quat)

    def add_to_spec(self, spec: mujoco.MjSpec, base_pos=(0.0, 0.0, 0.0),
                    base_quat=(1.0, 0.0, 0.0, 0.0)) -> mujoco.MjsBody:
        """Attach the arm to `spec` under this arm's (non-empty) prefix."""
        from ._mjcf import attach_parts

        return attach_parts(spec, self.parts_builder("", base_pos, base_quat), self.prefix,
                            f"{self.name}.add_to_spec")

    # ----- state access ---------------------------------------------------------------------------
    def get_q(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self.qpos_adr(model)].copy()

    def set_q(self, model: mujoco.MjModel, data: mujoco.MjData, q, *, ctrl: bool = True) -> None:
        """Write arm joint positions (and, by default, the matching position commands); runs mj_forward."""
        q = _as_vector(q, self.dof, "q")
        data.qpos[self.qpos_adr(model)] = q
        data.qvel[self.dof_adr(model)] = 0.0
        if ctrl:
            data.ctrl[self.actuator_ids(model)] = q
        mujoco.mj_forward(model, data)

    def ee_pose(self, model: mujoco.MjModel, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """EE site (position, quaternion wxyz) from the current kinematics in `data`."""
        sid = self.ee_site_id(model)
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, data.site_xmat[sid])
        return data.site_xpos[sid].copy(), quat

    def gripper_width(self, model: mujoco.MjModel, data: mujoco.MjData) -> float:
        """Pad-to-pad width (m) implied by the driven gripper joint's position."""
        jid = self._id(model, mujoco.mjtObj.mjOBJ_JOINT, self.gripper_joint_names[0], "joint")
        return float(self.ctrl_to_width(data.qpos[model.jnt_qposadr[jid]]))


def _as_vector(x, n: int, what: str) -> np.ndarray:
    v = np.asarray(x, dtype=float).reshape(-1)
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise ValueError(f"{what} must be {n} finite numbers, got {x!r}")
    return v


WIDOWX = ArmModel(
    name="widowx",
    robot="wx250s",
    joint_names=_widowx.ARM_JOINTS,
    ee_site=_widowx.EE_SITE,
    gripper_joint_names=_widowx.FINGER_JOINTS,
    gripper_actuators=(_widowx.GRIPPER_ACTUATOR,),
    home=_widowx.HOME,
    gripper_min_width=_widowx.GRIPPER_MIN_WIDTH,
    gripper_max_width=_widowx.GRIPPER_MAX_WIDTH,
    approach_axis=(1.0, 0.0, 0.0),   # ee_gripper_link x points out of the gripper
    closing_axis=(0.0, 1.0, 0.0),    # fingers slide along y
    velocity_limits=_widowx.VELOCITY_LIMITS,
    width_to_ctrl=_widowx.widowx250_width_to_ctrl,
    ctrl_to_width=_widowx.widowx250_ctrl_to_width,
    parts_builder=_widowx.widowx250_parts,
    mjcf_builder=_widowx.widowx250_mjcf,
)

KINOVA = ArmModel(
    name="kinova",
    robot="gen3_7dof_robotiq_2f_85",
    joint_names=_kinova.ARM_JOINTS,
    ee_site=_kinova.EE_SITE,
    gripper_joint_names=_kinova.GRIPPER_JOINTS,
    gripper_actuators=(_kinova.GRIPPER_ACTUATOR,),
    home=_kinova.HOME,
    gripper_min_width=_kinova.GRIPPER_MIN_WIDTH,
    gripper_max_width=_kinova.GRIPPER_MAX_WIDTH,
    approach_axis=(0.0, 0.0, 1.0),   # tool_frame z points out of the gripper
    closing_axis=(1.0, 0.0, 0.0),    # Robotiq fingers close along x
    velocity_limits=_kinova.VELOCITY_LIMITS,
    width_to_ctrl=_kinova.width_to_knuckle,
    ctrl_to_width=_kinova.knuckle_to_width,
    parts_builder=_kinova.kinova_gen3_parts,
    mjcf_builder=_kinova.kinova_gen3_mjcf,
)

ARMS: dict[str, ArmModel] = {"widowx": WIDOWX, "kinova": KINOVA}


def get_arm(name: str, prefix: str = "") -> ArmModel:
    if name not in ARMS:
        raise KeyError(f"unknown arm {name!r}; expected one of {sorted(ARMS)}")
    return ARMS[name].with_prefix(prefix)


# ----- orientations ---------------------------------------------------------------------------------
def grasp_orientation(yaw: float, arm: ArmModel | None = None, approach=(0.0, 0.0, -1.0)) -> np.ndarray:
    """Quaternion (w, x, y, z) for a grasp approaching along ``approach`` (world; default straight down) with
    the fingers closing along :func:`grasp_sim.world_grasp.closing_direction` of ``yaw``.

    With `arm`, it is the orientation of that arm's EE site; without, of the canonical grasp frame
    (x = closing direction, z = approach direction).
    """
    from ..world_grasp import closing_direction
    if not np.isfinite(yaw):
        raise ValueError(f"yaw must be a finite angle in radians, got {yaw!r}")
    a_w = np.asarray(approach, float) / np.linalg.norm(approach)
    c_w = closing_direction(yaw, a_w)
    a_s, c_s = (np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])) if arm is None else (
        np.asarray(arm.approach_axis, float), np.asarray(arm.closing_axis, float))
    world = np.column_stack([a_w, c_w, np.cross(a_w, c_w)])
    site = np.column_stack([a_s, c_s, np.cross(a_s, c_s)])
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, (world @ site.T).reshape(9))
    return quat


def top_down_grasp_orientation(yaw: float, arm: ArmModel | None = None) -> np.ndarray:
    """:func:`grasp_orientation` straight down: fingers closing along (cos yaw, sin yaw, 0)."""
    return grasp_orientation(yaw, arm)


def _rot_err(r_cur: np.ndarray, r_tgt: np.ndarray) -> float:
    c = (np.trace(r_tgt.T @ r_cur) - 1.0) * 0.5
    return float(math.acos(max(-1.0, min(1.0, c))))


# ----- IK -------------------------------------------------------------------------------------------
class IKResult(NamedTuple):
    q: np.ndarray        # arm joint positions (joint_names order)
    converged: bool      # pos_err < pos_tol and rot_err < rot_tol
    pos_err: float       # m
    rot_err: float       # rad


class _IKProblem:
    """mink objects for one (model, arm); cached because building them dominates small solves."""

    def __init__(self, model: mujoco.MjModel, arm: ArmModel):
        self.model = model
        self.configuration = mink.Configuration(model)
        self.qadr = arm.qpos_adr(model)
        dadr = arm.dof_adr(model)
        self.frame = mink.FrameTask(arm.full(arm.ee_site), "site", position_cost=1.0,
                                    orientation_cost=0.3, lm_damping=1e-3)
        cost = np.zeros(model.nv)
        cost[dadr] = 1e-3  # weak pull toward the seed: picks a nearby, well-conditioned solution
        self.posture = mink.PostureTask(model, cost=cost)
        frozen = sorted(set(range(model.nv)) - set(int(d) for d in dadr))
        self.constraints = [mink.DofFreezingTask(model, dof_indices=frozen)] if frozen else []
        self.limits = [mink.ConfigurationLimit(model)]
        self.site_id = arm.ee_site_id(model)
        # Limited 1-DoF joints of the whole model: the IK copy of qpos is clipped into their ranges,
        # otherwise a frozen joint sitting outside its range (e.g. fingers at qpos 0) makes the QP infeasible.
        lim = np.flatnonzero((model.jnt_limited == 1) & np.isin(model.jnt_type, (mujoco.mjtJoint.mjJNT_HINGE,
                                                                                mujoco.mjtJoint.mjJNT_SLIDE)))
        self.lim_adr, self.lim_lo, self.lim_hi = model.jnt_qposadr[lim], model.jnt_range[lim, 0], model.jnt_range[lim, 1]
        self.lo, self.hi = arm.joint_limits(model)


_IK_CACHE: dict[tuple[int, str, str], _IKProblem] = {}


def _problem(model: mujoco.MjModel, arm: ArmModel) -> _IKProblem:
    key = (id(model), arm.name, arm.prefix)
    prob = _IK_CACHE.get(key)
    if prob is None or prob.model is not model:
        if len(_IK_CACHE) > 16:
            _IK_CACHE.clear()
        prob = _IK_CACHE[key] = _IKProblem(model, arm)
    return prob


def _attempt(prob: _IKProblem, q_full: np.ndarray, target: mink.SE3, r_tgt: np.ndarray, p_tgt: np.ndarray,
             max_iters: int, tight_pos: float, tight_rot: float) -> tuple[np.ndarray, float, float]:
    cfg = prob.configuration
    cfg.update(q_full)
    prob.frame.set_target(target)
    prob.posture.set_target(q_full)
    tasks = [prob.frame, prob.posture]
    best = (cfg.q.copy(), np.inf, np.inf)
    stall = 0
    for _ in range(max_iters):
        vel = mink.solve_ik(cfg, tasks, 0.1, IK_SOLVER, damping=1e-4, limits=prob.limits,
                            constraints=prob.constraints)
        cfg.integrate_inplace(vel, 0.1)
        pe = float(np.linalg.norm(cfg.data.site_xpos[prob.site_id] - p_tgt))
        re = _rot_err(cfg.data.site_xmat[prob.site_id].reshape(3, 3), r_tgt)
        score = pe + 0.05 * re
        if score < best[1] + 0.05 * best[2] - 1e-7:
            best, stall = (cfg.q.copy(), pe, re), 0
        else:
            stall += 1
        if (pe < tight_pos and re < tight_rot) or stall > 15:
            break
    return best


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _motion(q: np.ndarray, q0: np.ndarray, cont: np.ndarray) -> float:
    d = q - q0
    d[cont] = _wrap(d[cont])
    return float(np.max(np.abs(d)))


def solve_ik(model: mujoco.MjModel, data: mujoco.MjData, arm: ArmModel, target_pos,
             target_quat=None, *, yaw: float | None = None, approach=(0.0, 0.0, -1.0), q_init=None,
             pos_tol: float = 2e-3,
             rot_tol: float = 0.02, max_iters: int = 100, restarts: int = 6, seed: int = 0) -> IKResult:
    """Joint positions putting `arm`'s EE site at `target_pos` (world, m) with orientation `target_quat`
    (w, x, y, z) or, if `yaw` is given instead, the grasp orientation for that yaw and `approach` (default
    top-down; both finger orderings, yaw and yaw + pi, are tried since a parallel gripper is symmetric).

    Only the arm's joints move; every other DoF in `model` (other arms, free objects, gripper) keeps
    its value from `data.qpos`. `data` is not modified. Seeds: `q_init` (default: the arm's current
    joints), then home, then `restarts` random configurations within the joint limits.
    Returns IKResult(q, converged, pos_err, rot_err); converged means pos_err < pos_tol and
    rot_err < rot_tol. Unreachable targets return converged=False with the best residual found.
    """
    p_tgt = _as_vector(target_pos, 3, "target_pos")
    if (target_quat is None) == (yaw is None):
        raise ValueError("give exactly one of target_quat (w, x, y, z) or yaw (rad, top-down grasp)")
    if target_quat is not None:
        quats = [_as_vector(target_quat, 4, "target_quat")]
        if np.linalg.norm(quats[0]) < 1e-9:
            raise ValueError(f"target_quat must be non-zero, got {target_quat!r}")
        quats[0] = quats[0] / np.linalg.norm(quats[0])
    else:
        quats = [grasp_orientation(yaw, arm, approach), grasp_orientation(yaw + math.pi, arm, approach)]
    if pos_tol <= 0 or rot_tol <= 0:
        raise ValueError(f"pos_tol and rot_tol must be > 0, got {pos_tol}, {rot_tol}")

    prob = _problem(model, arm)
    q0 = arm.get_q(model, data) if q_init is None else _as_vector(q_init, arm.dof, "q_init")
    rng = np.random.default_rng(seed)
    lo_s = np.where(np.isfinite(prob.lo), prob.lo * 0.9, -math.pi)
    hi_s = np.where(np.isfinite(prob.hi), prob.hi * 0.9, math.pi)
    seeds = [q0, np.asarray(arm.home, float)] + [rng.uniform(lo_s, hi_s) for _ in range(restarts)]

    best = (q0, np.inf, np.inf)
    cont = ~np.isfinite(prob.lo)
    tight_pos, tight_rot = min(2e-4, pos_tol * 0.1), min(2e-3, rot_tol * 0.1)
    for s in seeds:
        q_full = data.qpos.copy()
        q_full[prob.lim_adr] = np.clip(q_full[prob.lim_adr], prob.lim_lo, prob.lim_hi)
        q_full[prob.qadr] = np.clip(s, prob.lo, prob.hi)
        for quat in quats:
            r_tgt = np.empty(9)
            mujoco.mju_quat2Mat(r_tgt, quat)
            r_tgt = r_tgt.reshape(3, 3)
            target = mink.SE3.from_rotation_and_translation(mink.SO3(quat), p_tgt)
            qf, pe, re = _attempt(prob, q_full, target, r_tgt, p_tgt, max_iters, tight_pos, tight_rot)
            qa = qf[prob.qadr].copy()
            ok_new, ok_best = pe < pos_tol and re < rot_tol, best[1] < pos_tol and best[2] < rot_tol
            if ok_new and ok_best:
                # both solve it: keep the one needing the least joint motion (e.g. yaw vs yaw + pi)
                if _motion(qa, q0, cont) < _motion(best[0], q0, cont):
                    best = (qa, pe, re)
            elif (ok_new and not ok_best) or (not ok_new and not ok_best
                                              and pe + 0.05 * re < best[1] + 0.05 * best[2]):
                best = (qa, pe, re)
        if best[1] < pos_tol and best[2] < rot_tol:
            break

    q = best[0].copy()
    # Continuous joints: pick the 2*pi-equivalent angle nearest the start so trajectories don't spin.
    q[cont] = q0[cont] + _wrap(q[cont] - q0[cont])
    return IKResult(q, bool(best[1] < pos_tol and best[2] < rot_tol), float(best[1]), float(best[2]))


def solve_ik_or_raise(model: mujoco.MjModel, data: mujoco.MjData, arm: ArmModel, target_pos,
                      target_quat=None, **kwargs) -> np.ndarray:
    """Like solve_ik but returns q only and raises UnreachableError when not converged."""
    res = solve_ik(model, data, arm, target_pos, target_quat, **kwargs)
    if not res.converged:
        quat = target_quat if target_quat is not None else grasp_orientation(
            kwargs["yaw"], arm, kwargs.get("approach", (0.0, 0.0, -1.0)))
        raise UnreachableError(arm.full(arm.name), target_pos, quat, res.pos_err, res.rot_err,
                               kwargs.get("pos_tol", 2e-3), kwargs.get("rot_tol", 0.02))
    return res.q


# ----- trajectories / gripper -----------------------------------------------------------------------
def joint_trajectory(q0, q1, duration: float, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-jerk (quintic, zero end velocity and acceleration) joint-space path from q0 to q1.

    Returns (t, q, qd): t of shape (N,) from 0 to duration inclusive, q and qd of shape (N, n).
    """
    a = np.asarray(q0, dtype=float).reshape(-1)
    b = np.asarray(q1, dtype=float).reshape(-1)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"q0 and q1 must be finite vectors of equal length, got {a.shape} and {b.shape}")
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be > 0 seconds, got {duration!r}")
    if not (np.isfinite(dt) and 0 < dt <= duration):
        raise ValueError(f"dt must be in (0, duration={duration}] seconds, got {dt!r}")
    n = int(math.ceil(duration / dt - 1e-9))
    t = np.minimum(np.arange(n + 1) * dt, duration)
    s = t / duration
    blend = 10 * s**3 - 15 * s**4 + 6 * s**5
    dblend = (30 * s**2 - 60 * s**3 + 30 * s**4) / duration
    d = b - a
    return t, a + blend[:, None] * d, dblend[:, None] * d


def trajectory_duration(arm: ArmModel, q0, q1, speed_scale: float = 0.5, min_duration: float = 0.5) -> float:
    """Shortest min-jerk duration (s) keeping every joint under speed_scale x its velocity limit
    (a quintic's peak speed is 1.875 x the average)."""
    if not 0 < speed_scale <= 1:
        raise ValueError(f"speed_scale must be in (0, 1], got {speed_scale!r}")
    d = np.abs(_as_vector(q1, arm.dof, "q1") - _as_vector(q0, arm.dof, "q0"))
    return float(max(min_duration, np.max(1.875 * d / (speed_scale * np.asarray(arm.velocity_limits)))))


def set_gripper_width(data: mujoco.MjData, arm: ArmModel, width: float, *, clip: bool = True) -> float:
    """Command the gripper to a pad-to-pad opening `width` (m); returns the actuator command written.

    Widths outside [gripper_min_width, gripper_max_width] are clipped (commanding fully closed is a
    normal way to squeeze), or raise ValueError with clip=False.
    """
    if not np.isfinite(width):
        raise ValueError(f"width must be a finite number of metres, got {width!r}")
    lo, hi = arm.gripper_min_width, arm.gripper_max_width
    if not clip and not (lo - 1e-9 <= width <= hi + 1e-9):
        raise ValueError(f"width {width:.4f} m outside the {arm.name} gripper range [{lo:.4f}, {hi:.4f}] m")
    ctrl = arm.width_to_ctrl(min(max(float(width), lo), hi))
    for aid in arm.gripper_actuator_ids(data.model):
        data.ctrl[aid] = ctrl
    return ctrl


def time_ik(model, data, arm, targets: Sequence[tuple[np.ndarray, float]], **kwargs):
    """Solve top-down targets [(pos, yaw), ...]; returns (results, per-solve seconds)."""
    out, times = [], []
    for pos, yaw in targets:
        t0 = time.perf_counter()
        out.append(solve_ik(model, data, arm, pos, yaw=yaw, **kwargs))
        times.append(time.perf_counter() - t0)
    return out, np.array(times)
