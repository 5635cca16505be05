"""Arm set-ups for MoveIt execution (``config/arms/<arm>.yaml``) and all the arithmetic of a grasp.

Pure (numpy + PyYAML, no ROS imports), so everything the MoveIt backend computes is unit-tested here.

Grasp frame (``grasp_perception.geometry``): origin = the grasp point on the seen surface, +z = approach
(into the object), +x = closing direction. An arm's ``ee_link`` (the link MoveIt pose goals are set on)
has its own axes; ``ee_axes`` in the YAML names which ee axis is the approach and which one the fingers
move along, and :attr:`ArmConfig.ee_R_grasp` is the fixed rotation that follows from it.

Gripper openings are pad-to-pad distances in metres everywhere in this module; ``opening_to_command`` /
``command_to_opening`` convert to and from the gripper controller's own unit (WidowX: ``left_finger``
position in m per finger; Robotiq 2F-85: ``robotiq_85_left_knuckle_joint`` in rad).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

_AXES = {"x": 0, "y": 1, "z": 2, "-x": 0, "-y": 1, "-z": 2}
UNITS = ("finger_m", "knuckle_rad")


class ArmConfigError(ValueError):
    """A ``config/arms/<arm>.yaml`` that is missing a field or holds an impossible value."""


@dataclass(frozen=True)
class GripperConfig:
    joint: str                   # the driven joint (the one the controller commands and /joint_states reports)
    units: str                   # finger_m | knuckle_rad
    min_opening: float           # m pad-to-pad, fully closed
    max_opening: float           # m pad-to-pad, fully open
    command_at_min: float        # controller command at min_opening
    command_at_max: float        # controller command at max_opening
    open_margin: float = 0.01    # m added to the grasp width for the approach
    closed_tolerance: float = 0.004  # m: measured opening within this of min_opening = fully closed

    def __post_init__(self):
        if self.units not in UNITS:
            raise ArmConfigError(f"gripper.units must be one of {UNITS}, got {self.units!r}")
        for name in ("min_opening", "max_opening", "command_at_min", "command_at_max", "open_margin",
                     "closed_tolerance"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise ArmConfigError(f"gripper.{name} must be a finite number, got {v!r}")
        if not 0.0 <= self.min_opening < self.max_opening:
            raise ArmConfigError(f"gripper: need 0 <= min_opening < max_opening, got "
                                 f"{self.min_opening}, {self.max_opening}")
        if self.command_at_min == self.command_at_max:
            raise ArmConfigError("gripper: command_at_min and command_at_max must differ")
        if self.open_margin < 0 or self.closed_tolerance < 0:
            raise ArmConfigError("gripper: open_margin and closed_tolerance must be >= 0")


@dataclass(frozen=True)
class PlanningConfig:
    pipeline: str = "ompl"
    planner_id: str = "RRTConnectkConfigDefault"
    planning_time: float = 5.0
    planning_attempts: int = 5
    cartesian_pipeline: str = "pilz_industrial_motion_planner"
    cartesian_planner_id: str = "LIN"
    max_velocity_scaling: float = 0.3
    max_acceleration_scaling: float = 0.3


@dataclass(frozen=True)
class TableConfig:
    size: tuple[float, float, float] = (1.0, 1.0, 0.05)   # m, x y thickness
    center_xy: tuple[float, float] = (0.3, 0.0)           # m in the base frame
    top_z: float = -0.01                                  # m in the base frame
    tip_clearance: float = 0.005                          # m the fingertips stay above the top


@dataclass(frozen=True)
class ArmConfig:
    name: str
    base_frame: str
    ee_link: str                  # pose_link of every pose goal
    arm_group: str
    gripper_group: str
    gripper: GripperConfig
    ee_axes: dict                 # {"approach": "x"|"y"|"z", "closing": ...} in ee_link coordinates
    tcp_offset: float             # m along the approach from ee_link to the fingertips, gripper fully open
    tcp_offset_closed: float      # same, gripper fully closed (Robotiq pads travel on an arc)
    pregrasp_distance: float = 0.10
    grasp_depth: float = 0.02     # m the fingertips go past the seen surface
    lift: float = 0.10
    planning: PlanningConfig = field(default_factory=PlanningConfig)
    table: TableConfig = field(default_factory=TableConfig)
    controllers: dict = field(default_factory=dict)
    joint_state_topic: str = "/joint_states"
    moveit_config_package: str | None = None
    source: str = ""              # the file it was loaded from

    def __post_init__(self):
        ap, cl = self.ee_axes.get("approach"), self.ee_axes.get("closing")
        if ap not in _AXES or cl not in _AXES or _AXES[ap] == _AXES[cl]:
            raise ArmConfigError(f"{self.name}: ee_axes needs two different axes among {sorted(_AXES)}, "
                                 f"got {self.ee_axes}")
        for name in ("tcp_offset", "tcp_offset_closed", "pregrasp_distance", "grasp_depth", "lift"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise ArmConfigError(f"{self.name}: {name} must be a finite number, got {v!r}")
        for name in ("pregrasp_distance", "lift"):
            if getattr(self, name) <= 0:
                raise ArmConfigError(f"{self.name}: {name} must be > 0 m, got {getattr(self, name)}")

    @property
    def grasp_R_ee(self) -> np.ndarray:
        """Columns: the ee_link axes written in grasp-frame coordinates (so base_R_ee = base_R_grasp @ this)."""
        R = np.zeros((3, 3))
        for key, grasp_axis in (("approach", 2), ("closing", 0)):
            spec = self.ee_axes[key]
            R[grasp_axis, _AXES[spec]] = -1.0 if spec.startswith("-") else 1.0
        i, j = _AXES[self.ee_axes["approach"]], _AXES[self.ee_axes["closing"]]
        k = 3 - i - j
        # the third ee axis completes a right-handed frame: e_k = e_i x e_j (cyclic i, j, k) or e_j x e_i
        R[:, k] = np.cross(R[:, i], R[:, j]) if (j - i) % 3 == 1 else np.cross(R[:, j], R[:, i])
        return R

    @property
    def ee_R_grasp(self) -> np.ndarray:
        """The fixed rotation taking grasp-frame coordinates to ee_link coordinates (v_ee = ee_R_grasp @ v_grasp)."""
        return self.grasp_R_ee.T

    @property
    def finger_axis(self) -> int:
        """Index of the ee_link axis the fingers move along."""
        return _AXES[self.ee_axes["closing"]]

    @property
    def approach_axis(self) -> int:
        return _AXES[self.ee_axes["approach"]]


# --------------------------------------------------------------------------------------------- loading

def config_dir() -> Path:
    """``config/arms`` of the checkout when running from one, else grasp_bringup's installed share folder."""
    repo = Path(__file__).resolve().parents[3] / "config" / "arms"
    if repo.is_dir():
        return repo
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory("grasp_bringup")) / "config" / "arms"


def available_arms() -> list[str]:
    return sorted(p.stem for p in config_dir().glob("*.yaml"))


def _need(doc: dict, key: str, where: str):
    if key not in doc:
        raise ArmConfigError(f"{where}: missing field '{key}'")
    return doc[key]


def load_arm_config(name_or_path: str | Path) -> ArmConfig:
    """``widowx`` / ``kinova`` (``config/arms/<name>.yaml``) or a path to such a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = config_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ArmConfigError(f"no arm config {str(name_or_path)!r}: {path} does not exist "
                             f"(available: {available_arms()})")
    doc = yaml.safe_load(path.read_text()) or {}
    where = str(path)
    g = _need(doc, "gripper", where)
    gripper = GripperConfig(
        joint=_need(g, "joint", where + " gripper"), units=_need(g, "units", where + " gripper"),
        min_opening=float(_need(g, "min_opening", where + " gripper")),
        max_opening=float(_need(g, "max_opening", where + " gripper")),
        command_at_min=float(_need(g, "command_at_min", where + " gripper")),
        command_at_max=float(_need(g, "command_at_max", where + " gripper")),
        open_margin=float(g.get("open_margin", 0.01)),
        closed_tolerance=float(g.get("closed_tolerance", 0.004)))
    tcp = _need(doc, "tcp_offset", where)
    tcp_open, tcp_closed = (float(tcp["open"]), float(tcp["closed"])) if isinstance(tcp, dict) \
        else (float(tcp), float(tcp))
    p = doc.get("planning", {}) or {}
    unknown = sorted(set(p) - set(PlanningConfig.__dataclass_fields__))
    if unknown:
        raise ArmConfigError(f"{where}: unknown planning fields {unknown}")
    planning = PlanningConfig(**{k: type(getattr(PlanningConfig, k))(v) for k, v in p.items()})
    t = doc.get("table", {}) or {}
    table = TableConfig(size=tuple(float(v) for v in t.get("size", TableConfig.size)),
                        center_xy=tuple(float(v) for v in t.get("center_xy", TableConfig.center_xy)),
                        top_z=float(t.get("top_z", TableConfig.top_z)),
                        tip_clearance=float(t.get("tip_clearance", TableConfig.tip_clearance)))
    if len(table.size) != 3 or len(table.center_xy) != 2 or min(table.size) <= 0:
        raise ArmConfigError(f"{where}: table.size needs 3 positive values and table.center_xy 2")
    return ArmConfig(
        name=str(_need(doc, "name", where)), base_frame=str(_need(doc, "base_frame", where)),
        ee_link=str(_need(doc, "ee_link", where)), arm_group=str(_need(doc, "arm_group", where)),
        gripper_group=str(_need(doc, "gripper_group", where)), gripper=gripper,
        ee_axes=dict(_need(doc, "ee_axes", where)), tcp_offset=tcp_open, tcp_offset_closed=tcp_closed,
        pregrasp_distance=float(doc.get("pregrasp_distance", 0.10)),
        grasp_depth=float(doc.get("grasp_depth", 0.02)), lift=float(doc.get("lift", 0.10)),
        planning=planning, table=table, controllers=dict(doc.get("controllers", {}) or {}),
        joint_state_topic=str(doc.get("joint_state_topic", "/joint_states")),
        moveit_config_package=doc.get("moveit_config_package"), source=where)


# --------------------------------------------------------------------------------------------- gripper

def _finite(value, name: str, caller: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{caller}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{caller}: {name} must be finite, got {v}")
    return v


def opening_to_command(cfg: ArmConfig, opening_m: float) -> float:
    """Pad-to-pad opening (m) -> the gripper controller's command, clipped to the gripper's range.

    Linear between (min_opening, command_at_min) and (max_opening, command_at_max):
    * WidowX (``finger_m``): ``left_finger`` = opening / 2, 0.015..0.037 m (URDF limits; the opening is the
      finger-link separation 30..74 mm, the real pad-to-pad distance of the mesh is not verified).
    * Robotiq 2F-85 (``knuckle_rad``): 85 mm -> 0 rad ... 0 mm -> 0.8 rad. An approximation: the
      ros2_robotiq_gripper driver maps the knuckle command linearly onto the 0..255 position register and
      Robotiq's register -> stroke is roughly linear; the URDF four-bar linkage itself is not linear in the
      angle (that is what grasp_sim models), so mock-hardware joint states and the real opening differ by
      a few mm mid-stroke.
    Raises ``ValueError`` naming ``opening_m`` for NaN, infinite or negative openings.
    """
    o = _finite(opening_m, "opening_m", "opening_to_command")
    if o < 0:
        raise ValueError(f"opening_to_command: opening_m must be >= 0 m, got {o}")
    g = cfg.gripper
    o = min(max(o, g.min_opening), g.max_opening)
    s = (o - g.min_opening) / (g.max_opening - g.min_opening)
    return float(g.command_at_min + s * (g.command_at_max - g.command_at_min))


def command_to_opening(cfg: ArmConfig, command: float) -> float:
    """The controller's unit (a command or the measured joint position) -> pad-to-pad opening (m), clipped."""
    c = _finite(command, "command", "command_to_opening")
    g = cfg.gripper
    s = (c - g.command_at_min) / (g.command_at_max - g.command_at_min)
    s = min(max(s, 0.0), 1.0)
    return float(g.min_opening + s * (g.max_opening - g.min_opening))


def approach_opening(cfg: ArmConfig, width_m: float) -> tuple[float, bool]:
    """Opening for the approach: grasp width + ``open_margin``, clipped to the gripper's range.
    Returns (opening, width_too_large) where the flag says the grasp width itself exceeds the max opening."""
    w = _finite(width_m, "width_m", "approach_opening")
    if w < 0:
        raise ValueError(f"approach_opening: width_m must be >= 0 m, got {w}")
    g = cfg.gripper
    return float(min(max(w + g.open_margin, g.min_opening), g.max_opening)), w > g.max_opening


def is_fully_closed(cfg: ArmConfig, opening_measured: float, tol: float | None = None) -> bool:
    """True when the measured opening is within ``tol`` (default ``gripper.closed_tolerance``) of fully closed.
    After the lift this is the real arm's failure test: a gripper that did not close fully holds something.
    (Objects thinner than ``tol`` read as a miss.)"""
    o = _finite(opening_measured, "opening_measured", "is_fully_closed")
    t = cfg.gripper.closed_tolerance if tol is None else _finite(tol, "tol", "is_fully_closed")
    if t < 0:
        raise ValueError(f"is_fully_closed: tol must be >= 0 m, got {t}")
    return o <= cfg.gripper.min_opening + t


def tcp_offset_at(cfg: ArmConfig, opening_m: float) -> float:
    """ee_link -> fingertips distance along the approach at ``opening_m`` (linear between open and closed;
    for the Robotiq an approximation of the linkage arc, within ~5 mm of the URDF geometry)."""
    g = cfg.gripper
    o = min(max(_finite(opening_m, "opening_m", "tcp_offset_at"), g.min_opening), g.max_opening)
    s = (o - g.min_opening) / (g.max_opening - g.min_opening)   # 1 = open
    return float(cfg.tcp_offset_closed + s * (cfg.tcp_offset - cfg.tcp_offset_closed))


# --------------------------------------------------------------------------------------------- poses

def check_pose(T, name: str = "grasp_T", caller: str = "grasp_waypoints", atol: float = 1e-5) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4):
        raise ValueError(f"{caller}: {name} must be 4x4, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ValueError(f"{caller}: {name} has non-finite entries")
    R = T[:3, :3]
    if not (np.allclose(R.T @ R, np.eye(3), atol=atol) and abs(np.linalg.det(R) - 1.0) < atol
            and np.allclose(T[3], [0, 0, 0, 1], atol=atol)):
        raise ValueError(f"{caller}: {name} is not a rigid transform (rotation not orthonormal with det +1)")
    return T


def effective_grasp_depth(cfg: ArmConfig, grasp_T, floor_z: float | None = None, depth: float | None = None,
                          opening_m: float | None = None) -> float:
    """``grasp_depth`` (or ``depth``), reduced so the fingertips stay ``table.tip_clearance`` above ``floor_z``
    (the table top in the base frame) when the approach points down. May come out negative (tips held
    above the seen surface) for objects flatter than the clearance."""
    T = check_pose(grasp_T, caller="effective_grasp_depth")
    d = cfg.grasp_depth if depth is None else _finite(depth, "depth", "effective_grasp_depth")
    if floor_z is None:
        return float(d)
    f = _finite(floor_z, "floor_z", "effective_grasp_depth") + cfg.table.tip_clearance
    p, a = T[:3, 3], T[:3, 2]
    if a[2] >= -1e-9:          # horizontal or upward approach: going deeper never lowers the tips
        return float(d)
    d_max = (p[2] - f) / (-a[2])   # tips at p + d * a must keep z >= f
    return float(min(d, d_max))


def grasp_waypoints(cfg: ArmConfig, grasp_T, lift: float | None = None, *, opening_m: float | None = None,
                    floor_z: float | None = None, flip: bool = False, depth: float | None = None
                    ) -> dict[str, np.ndarray]:
    """ee_link poses (4x4, base frame) of one grasp: ``pregrasp``, ``grasp``, ``lift``.

    ``grasp_T`` = base_T_grasp (grasp-frame axes: +z approach, +x closing, origin on the seen surface).
    * grasp: the fingertips ``depth`` (default ``grasp_depth``) past the surface along the approach (see
      :func:`effective_grasp_depth` for ``floor_z``), so ee_link sits ``tcp_offset`` behind them:
      ``p + (depth - tcp) * approach``; ``tcp`` at ``opening_m`` (default: fully open).
    * pregrasp: ``pregrasp_distance`` back from the grasp pose along -approach.
    * lift: ``lift`` (default ``cfg.lift``; <= 0 also means the default) straight up (+z of the base) from
      the grasp pose.
    All three share one orientation: base_R_grasp @ grasp_R_ee. ``flip`` turns the gripper 180 deg about
    the approach (a parallel gripper grasps the same either way; one of the two may be easier to reach).
    """
    T = check_pose(grasp_T)
    if lift is None or not math.isfinite(float(lift)) or float(lift) <= 0:
        lift = cfg.lift
    R = T[:3, :3].copy()
    if flip:
        R = R @ np.diag([-1.0, -1.0, 1.0])
    a = R[:, 2]
    tcp = cfg.tcp_offset if opening_m is None else tcp_offset_at(cfg, opening_m)
    depth = effective_grasp_depth(cfg, T, floor_z, depth)
    R_ee = R @ cfg.grasp_R_ee

    def pose(pos):
        P = np.eye(4)
        P[:3, :3], P[:3, 3] = R_ee, pos
        return P

    p_grasp = T[:3, 3] + (depth - tcp) * a
    return {"pregrasp": pose(p_grasp - cfg.pregrasp_distance * a),
            "grasp": pose(p_grasp),
            "lift": pose(p_grasp + np.array([0.0, 0.0, float(lift)]))}


def xyz_quat(T) -> tuple[list[float], list[float]]:
    """4x4 -> (position xyz, quaternion xyzw with w >= 0), for geometry_msgs/Pose."""
    T = check_pose(T, "T", "xyz_quat")
    R = T[:3, :3]
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * math.sqrt(1.0 + tr)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(1.0 + R[i, i] - R[j, j] - R[k, k])
        q = [0.0, 0.0, 0.0, (R[k, j] - R[j, k]) / s]
        q[i], q[j], q[k] = 0.25 * s, (R[j, i] + R[i, j]) / s, (R[k, i] + R[i, k]) / s
    q = np.asarray(q) / np.linalg.norm(q)
    if q[3] < 0:
        q = -q
    return [float(v) for v in T[:3, 3]], [float(v) for v in q]


def table_box(cfg: ArmConfig, size=None, center_xy=None, top_z=None) -> tuple[list[float], list[float]]:
    """The table as a collision box in the base frame: (size xyz, centre xyz). Arguments override the YAML."""
    t = cfg.table
    size = [float(v) for v in (t.size if size is None else size)]
    cxy = [float(v) for v in (t.center_xy if center_xy is None else center_xy)]
    top = float(t.top_z if top_z is None else top_z)
    if len(size) != 3 or min(size) <= 0 or not all(map(math.isfinite, size)):
        raise ValueError(f"table_box: size must be 3 positive finite values, got {size}")
    if len(cxy) != 2 or not all(map(math.isfinite, cxy + [top])):
        raise ValueError(f"table_box: center_xy needs 2 finite values and top_z must be finite, got {cxy}, {top}")
    return size, [cxy[0], cxy[1], top - size[2] / 2.0]


def moveit_cpp_params(cfg: ArmConfig) -> dict:
    """The moveit_cpp part of a MoveItPy parameter set (Jazzy format) this backend relies on: both planning
    pipelines (OMPL for free motion, Pilz for the straight approach/lift) and default request parameters.
    Merge it into the MoveItConfigsBuilder dict the launch file passes to the node."""
    p = cfg.planning
    return {
        "planning_scene_monitor_options": {
            "name": "planning_scene_monitor", "robot_description": "robot_description",
            "joint_state_topic": cfg.joint_state_topic,
            "attached_collision_object_topic": "/moveit_cpp/planning_scene_monitor",
            "publish_planning_scene_topic": "/moveit_cpp/publish_planning_scene",
            "monitored_planning_scene_topic": "/moveit_cpp/monitored_planning_scene",
            "wait_for_initial_state_timeout": 10.0},
        "planning_pipelines": {"pipeline_names": list(dict.fromkeys([p.pipeline, p.cartesian_pipeline]))},
        "plan_request_params": {
            "planning_attempts": int(p.planning_attempts), "planning_pipeline": p.pipeline,
            "planner_id": p.planner_id, "planning_time": float(p.planning_time),
            "max_velocity_scaling_factor": float(p.max_velocity_scaling),
            "max_acceleration_scaling_factor": float(p.max_acceleration_scaling)},
    }
