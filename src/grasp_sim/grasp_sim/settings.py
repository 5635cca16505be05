"""The simulated cell's settings: one typed object built from ``config/sim/*.yaml``.

``config/sim/realistic.yaml`` (the default) and ``config/sim/easy.yaml`` (the behaviour before issue 10)
hold every value, each with its source; the dataclasses below have no defaults, so a key cannot have a
second, silently different default in code. :func:`load_sim_settings` reads a file (or a profile name)
with ``grasp_perception.config.build_dataclass``, so an unknown, missing or mistyped key is a
``ConfigError`` naming the file and the key path (``physics.condim``).
"""
from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml
from grasp_perception.config import ConfigError, build_dataclass

def _config_dir() -> Path:
    """``config/sim`` of the checkout when running from one, else grasp_bringup's installed share folder."""
    repo = Path(__file__).resolve().parents[3] / "config" / "sim"
    if repo.is_dir():
        return repo
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory("grasp_bringup")) / "config" / "sim"
    except Exception:  # no ROS: only explicit paths work
        return repo


SIM_CONFIG_DIR = _config_dir()
DEFAULT_PROFILE = "realistic"
GRIPPER_NAMES = ("floating", "widowx", "kinova")
FORCE_MODELS = ("constant", "servo")


@dataclass(frozen=True)
class PhysicsSettings:
    timestep: float
    impratio: float
    condim: int
    torsional_friction: float
    rolling_friction: float
    solref: list
    solimp: list
    object_priority: bool
    table_friction: float
    pad_friction: float
    mesh_friction: float
    procedural_friction: list
    mesh_density: float
    procedural_density: list
    mesh_max_extent: typing.Optional[float]
    collision: str
    max_convex_hulls: int
    coacd_threshold: float
    settle_max_time: float


@dataclass(frozen=True)
class GripperSettings:
    """How one gripper closes and how its executor moves (see realistic.yaml for the force models)."""

    force_model: str
    grip_force: float
    closing_speed: float
    servo_kp: float
    close_time: float
    approach_height: float
    speed: float
    tip_clearance: float


@dataclass(frozen=True)
class FloatingGripperSettings(GripperSettings):
    """The floating gripper also has its geometry here (the arms' comes from their vendor models)."""

    max_opening: float
    jaw_width: float
    finger_length: float
    finger_thickness: float
    hand_mass: float


@dataclass(frozen=True)
class GrippersSettings:
    fit_ratio: float
    floating: FloatingGripperSettings
    widowx: GripperSettings
    kinova: GripperSettings

    def of(self, gripper: str) -> GripperSettings:
        if gripper not in GRIPPER_NAMES:
            raise ValueError(f"gripper must be one of {GRIPPER_NAMES}, got {gripper!r}")
        return getattr(self, gripper)


@dataclass(frozen=True)
class DepthNoiseSettings:
    enabled: bool
    sigma_base: float
    sigma_z2: float
    gradient_scale: float
    downsample: int


@dataclass(frozen=True)
class HandEyeSettings:
    translation_sigma: float
    rotation_sigma_deg: float


@dataclass(frozen=True)
class ViewpointSettings:
    random: bool
    max_offset: float
    views_per_scene: int


@dataclass(frozen=True)
class CameraSettings:
    height: float
    tilt_deg: float
    viewpoints: ViewpointSettings
    intrinsics: str
    resolution: list          # [width, height] px of the rendered frames
    depth_noise: DepthNoiseSettings
    hand_eye: HandEyeSettings

    def camera_intrinsics(self):
        """The rendered camera's intrinsics: ``intrinsics`` (a CameraIntrinsics constructor) at ``resolution``."""
        from grasp_perception.geometry import CameraIntrinsics
        return getattr(CameraIntrinsics, self.intrinsics)(*(int(x) for x in self.resolution))


@dataclass(frozen=True)
class TransportSettings:
    distance: float
    speed: float
    shake_amplitude: float
    shake_frequency: float
    shake_cycles: int


@dataclass(frozen=True)
class SuccessSettings:
    min_rise: float
    both_pads: bool


@dataclass(frozen=True)
class GraspNetGripperSettings:
    height: float
    finger_width: float
    base_depth: float
    empty_points: int


@dataclass(frozen=True)
class GraspNetAPSettings:
    enabled: bool
    candidates: int
    nms_translation: float
    nms_rotation_deg: float
    per_object: int
    top_k: int
    frictions: list
    object_voxel: float
    table_voxel: float
    gripper: GraspNetGripperSettings


@dataclass(frozen=True)
class ClutterSettings:
    max_failures: int
    ap_top_k: int
    ap_candidates: str
    graspnet_ap: GraspNetAPSettings


@dataclass(frozen=True)
class ProtocolSettings:
    trials_per_object: int
    invalid_retries: int
    friction: list
    open_margin: typing.Optional[float]
    approach: str
    approach_depth: str
    default_grasp_depth: float
    lift: float
    hold_s: float
    transport: TransportSettings
    success: SuccessSettings
    clutter: ClutterSettings


@dataclass(frozen=True)
class LabelSettings:
    width_tolerance: float


@dataclass(frozen=True)
class SimSettings:
    physics: PhysicsSettings
    grippers: GrippersSettings
    camera: CameraSettings
    protocol: ProtocolSettings
    labels: LabelSettings
    source: str = dataclasses.field(default="<dict>", compare=False)

    def replace(self, **sections) -> "SimSettings":
        """A copy with some sections replaced, e.g. ``s.replace(protocol=dataclasses.replace(s.protocol, ...))``."""
        return dataclasses.replace(self, **sections)

    @property
    def open_margin(self) -> float:
        """What the executors add to a grasp's width: protocol.open_margin, or labels.width_tolerance if null."""
        m = self.protocol.open_margin
        return self.labels.width_tolerance if m is None else m

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d


def resolve_sim_config(name_or_path: str | Path | None) -> Path:
    """A profile name (``realistic``, ``easy``: files of ``config/sim``) or a path; None = the default."""
    if name_or_path is None:
        name_or_path = DEFAULT_PROFILE
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml") and not p.exists():
        p = SIM_CONFIG_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        known = sorted(f.stem for f in SIM_CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"sim config {name_or_path!r} not found (a YAML file, or one of {known} in {SIM_CONFIG_DIR})")
    return p


def load_sim_settings(name_or_path: str | Path | None = None) -> SimSettings:
    """Settings from a YAML file or a profile name (see :func:`resolve_sim_config`)."""
    path = resolve_sim_config(name_or_path)
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: int) -> SimSettings:
    try:
        values = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return settings_from_dict(values, source=path)


def settings_from_dict(values: dict, source: str = "<dict>") -> SimSettings:
    """Build and check :class:`SimSettings`; every key is required, errors name ``source`` and the key path."""
    _require_all(SimSettings, values, "", source)
    settings = build_dataclass(SimSettings, values, "", source)
    settings = dataclasses.replace(settings, source=source)
    _check(settings, source)
    return settings


def _require_all(cls, values, where: str, source: str) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: '{where or 'top level'}' must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)} - {"source"}
    unknown = sorted(set(values) - known, key=str)
    if unknown:  # before "missing": a misspelt key is reported as what it is
        names = ", ".join(f"{where}.{k}" if where else str(k) for k in unknown)
        raise ConfigError(f"{source}: unknown key(s) {names}; "
                          f"expected one of {sorted(known)}")
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        path = f"{where}.{f.name}" if where else f.name
        if f.name not in values:
            raise ConfigError(f"{source}: missing key {path}")
        if dataclasses.is_dataclass(hints[f.name]):
            _require_all(hints[f.name], values[f.name], path, source)


def _check(s: SimSettings, source: str) -> None:
    def bad(path: str, what: str, value) -> None:
        raise ConfigError(f"{source}: {path} must be {what}, got {value!r}")

    def numbers(path: str, value, n: int | None = None) -> None:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) or \
                (n is not None and len(value) != n):
            bad(path, f"a list of {n or 'some'} numbers", value)

    def positive(path: str, value, allow_zero: bool = False) -> None:
        if not (value >= 0 if allow_zero else value > 0):
            bad(path, ">= 0" if allow_zero else "> 0", value)

    p = s.physics
    positive("physics.timestep", p.timestep)
    if p.impratio < 1:
        bad("physics.impratio", ">= 1", p.impratio)
    if p.condim not in (1, 3, 4, 6):
        bad("physics.condim", "one of 1, 3, 4, 6", p.condim)
    for name in ("torsional_friction", "rolling_friction"):
        positive(f"physics.{name}", getattr(p, name), allow_zero=True)
    numbers("physics.solref", p.solref, 2)
    numbers("physics.solimp", p.solimp, 3)
    for name in ("table_friction", "pad_friction", "mesh_friction", "mesh_density", "coacd_threshold",
                 "settle_max_time"):
        positive(f"physics.{name}", getattr(p, name))
    for name in ("procedural_friction", "procedural_density"):
        value = getattr(p, name)
        numbers(f"physics.{name}", value, 2)
        if not 0 < value[0] <= value[1]:
            bad(f"physics.{name}", "[low, high] with 0 < low <= high", value)
    if p.mesh_max_extent is not None:
        positive("physics.mesh_max_extent", p.mesh_max_extent)
    if p.collision not in ("coacd", "hull"):
        bad("physics.collision", "coacd or hull", p.collision)
    if p.max_convex_hulls < 1:
        bad("physics.max_convex_hulls", ">= 1", p.max_convex_hulls)

    g = s.grippers
    if not 0 < g.fit_ratio <= 1:
        bad("grippers.fit_ratio", "in (0, 1]", g.fit_ratio)
    for name in GRIPPER_NAMES:
        gs = g.of(name)
        if gs.force_model not in FORCE_MODELS:
            bad(f"grippers.{name}.force_model", f"one of {FORCE_MODELS}", gs.force_model)
        for key in ("grip_force", "closing_speed", "servo_kp", "close_time", "approach_height", "speed"):
            positive(f"grippers.{name}.{key}", getattr(gs, key))
        positive(f"grippers.{name}.tip_clearance", gs.tip_clearance, allow_zero=True)
    for key in ("max_opening", "jaw_width", "finger_length", "finger_thickness", "hand_mass"):
        positive(f"grippers.floating.{key}", getattr(g.floating, key))

    c = s.camera
    positive("camera.height", c.height)
    if not 0 <= c.tilt_deg < 80:
        bad("camera.tilt_deg", "in [0, 80)", c.tilt_deg)
    from grasp_perception.geometry import CameraIntrinsics
    if not callable(getattr(CameraIntrinsics, c.intrinsics, None)):
        bad("camera.intrinsics", "a CameraIntrinsics constructor name (e.g. realsense_d435_color)", c.intrinsics)
    if (not isinstance(c.resolution, list) or len(c.resolution) != 2
            or any(isinstance(x, bool) or not isinstance(x, int) or x < 16 for x in c.resolution)):
        bad("camera.resolution", "[width, height] in pixels (integers >= 16)", c.resolution)
    positive("camera.viewpoints.max_offset", c.viewpoints.max_offset, allow_zero=True)
    if c.viewpoints.views_per_scene < 1:
        bad("camera.viewpoints.views_per_scene", ">= 1", c.viewpoints.views_per_scene)
    n = c.depth_noise
    for key in ("sigma_base", "sigma_z2"):
        positive(f"camera.depth_noise.{key}", getattr(n, key), allow_zero=True)
    positive("camera.depth_noise.gradient_scale", n.gradient_scale)
    if n.downsample < 1:
        bad("camera.depth_noise.downsample", ">= 1", n.downsample)
    for key in ("translation_sigma", "rotation_sigma_deg"):
        positive(f"camera.hand_eye.{key}", getattr(c.hand_eye, key), allow_zero=True)

    r = s.protocol
    if r.trials_per_object < 1:
        bad("protocol.trials_per_object", ">= 1", r.trials_per_object)
    if r.invalid_retries < 0:
        bad("protocol.invalid_retries", ">= 0", r.invalid_retries)
    numbers("protocol.friction", r.friction)
    if any(not v > 0 for v in r.friction) or len(set(r.friction)) != len(r.friction):
        bad("protocol.friction", "distinct values > 0 (or [] for no sweep)", r.friction)
    if r.open_margin is not None:
        positive("protocol.open_margin", r.open_margin, allow_zero=True)
    if r.approach not in ("camera", "vertical"):
        bad("protocol.approach", "camera or vertical", r.approach)
    if r.approach_depth not in ("label", "fixed"):
        bad("protocol.approach_depth", "label or fixed", r.approach_depth)
    positive("protocol.default_grasp_depth", r.default_grasp_depth, allow_zero=True)
    positive("protocol.lift", r.lift)
    positive("protocol.hold_s", r.hold_s, allow_zero=True)
    t = r.transport
    for key in ("distance", "shake_amplitude"):
        positive(f"protocol.transport.{key}", getattr(t, key), allow_zero=True)
    for key in ("speed", "shake_frequency"):
        positive(f"protocol.transport.{key}", getattr(t, key))
    if t.shake_cycles < 0:
        bad("protocol.transport.shake_cycles", ">= 0", t.shake_cycles)
    positive("protocol.success.min_rise", r.success.min_rise)
    if r.success.min_rise >= r.lift:
        bad("protocol.success.min_rise", f"< protocol.lift ({r.lift})", r.success.min_rise)
    if r.clutter.max_failures < 1:
        bad("protocol.clutter.max_failures", ">= 1", r.clutter.max_failures)
    if r.clutter.ap_top_k < 1:
        bad("protocol.clutter.ap_top_k", ">= 1", r.clutter.ap_top_k)
    if r.clutter.ap_candidates not in ("dense", "peaks"):
        bad("protocol.clutter.ap_candidates", "dense or peaks", r.clutter.ap_candidates)
    gn = r.clutter.graspnet_ap
    for key in ("candidates", "per_object", "top_k"):
        if getattr(gn, key) < 1:
            bad(f"protocol.clutter.graspnet_ap.{key}", ">= 1", getattr(gn, key))
    for key in ("nms_translation", "nms_rotation_deg", "object_voxel", "table_voxel"):
        if not getattr(gn, key) > 0:
            bad(f"protocol.clutter.graspnet_ap.{key}", "> 0", getattr(gn, key))
    if not gn.frictions or not all(isinstance(m, (int, float)) and m > 0 for m in gn.frictions):
        bad("protocol.clutter.graspnet_ap.frictions", "a non-empty list of coefficients > 0", gn.frictions)
    for key in ("height", "finger_width", "base_depth"):
        if not getattr(gn.gripper, key) > 0:
            bad(f"protocol.clutter.graspnet_ap.gripper.{key}", "> 0", getattr(gn.gripper, key))
    if gn.gripper.empty_points < 1:
        bad("protocol.clutter.graspnet_ap.gripper.empty_points", ">= 1", gn.gripper.empty_points)
    positive("labels.width_tolerance", s.labels.width_tolerance, allow_zero=True)
