"""The simulated grasp cell: tray, top-down RGB-D camera, floating parallel-jaw gripper, objects.

World frame: z up, the tray floor (table top) at z = 0, tray centred on the origin.
Gripper (``cell.hand``, :mod:`grasp_sim.hands`): a free "hand" body welded to a mocap body (so it can be
posed in 6-DoF by writing the mocap pose), with two slide fingers coupled by a joint equality and one position
actuator, or the arm's own gripper. The hand
frame origin is the **fingertip centre** (between the pad tips); the pads extend up along the hand
z axis and open along the hand x axis. Objects: every object of the cell is in the model; those not
in the current scene are parked far outside the camera view with gravity compensation on, so a
reset never recompiles the model.

With ``SimCell(..., arm="widowx"|"kinova")`` a simulated arm (``grasp_sim.robots``, real joint names,
no prefix) replaces the floating gripper: its base stands on the table on the -x side of the tray,
facing +x, ``ARM_BASE_DISTANCE`` from the tray centre. ``reset`` puts it at rest with the gripper open:
by default at the real robot's named pose that clears the camera view (WidowX "Sleep", Kinova "Retract"),
because at "Home" both arms hang over the tray and hide it from the top-down camera. Trials then run
through ``grasp_sim.executors``.

Physics, friction, the gripper's geometry and force model, and the camera come from the sim settings
(``settings=``, default ``config/sim/realistic.yaml``; see :mod:`grasp_sim.settings`). ``close_gripper``
closes with the force model (:mod:`grasp_sim.grip`); ``set_contact_friction(mu)`` sets the object-pad
friction at run time (the friction sweep of ``grasp_sim.trials``).
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Sequence

if "MUJOCO_GL" not in os.environ:  # must be set before mujoco creates its GL bindings
    os.environ["MUJOCO_GL"] = "egl"

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from .camera import CameraIntrinsics, DepthNoise, mujoco_camera_attributes  # noqa: E402
from .hands import ArmGripper, FloatingHand, hand_quat, yaw_quat  # noqa: E402,F401  (re-exported)
from .objects import ObjectSpec  # noqa: E402
from .settings import FloatingGripperSettings, GripperSettings, SimSettings, load_sim_settings  # noqa: E402

SEG_BACKGROUND = -1  # table, tray, sky
SEG_GRIPPER = -2     # floating gripper, or every link of the arm

# Arm base -> tray centre distance (m). WidowX: its reliable top-down region is 0.18-0.38 m from the base
# (robots/check.py), so 0.28 m puts the whole drop area (+-8 cm) inside it. Kinova: 0.35-0.70 m -> 0.45 m.
ARM_BASE_DISTANCE = {"widowx": 0.28, "kinova": 0.45}
# Rest pose after reset: the real robots' named poses (vendor SRDFs) that keep the arm out of the
# top-down view. Measured: at Home either arm covers the tray centre; at these the tray is clear but for
# the WidowX fingertips over its -x wall. Looked up lazily (robots imports mink).
ARM_REST = {"widowx": "SLEEP", "kinova": "RETRACT"}  # attribute of robots.widowx250 / robots.kinova_gen3
# Finger pad geoms (unprefixed) that count as "touching" for finger_contacts.
ARM_PAD_GEOMS = {"widowx": ("left_finger_pad", "right_finger_pad"),
                 "kinova": ("robotiq_85_left_pad", "robotiq_85_right_pad")}

_OPT_FROM_MJ = np.diag([1.0, -1.0, -1.0])  # MuJoCo cameras look along -z with y up; optical: +z, y down


# The floating gripper's geometry and force model: ``grippers.floating`` of the sim settings.
GripperConfig = FloatingGripperSettings


@dataclass
class Observation:
    """One camera frame. ``depth`` is z-depth in metres along the optical axis, NaN = no return.

    ``segmentation`` holds the index of the object in ``SimCell.objects``, ``SEG_BACKGROUND`` (-1)
    for table/tray/empty and ``SEG_GRIPPER`` (-2) for the gripper. ``camera_pose`` is world_T_camera
    of the optical frame (x right, y down, z forward). ``depth_clean`` is the noiseless depth when a
    noise model is active, else None. Arrays not requested from ``render`` are None.
    """

    rgb: np.ndarray | None
    depth: np.ndarray | None
    segmentation: np.ndarray | None
    intrinsics: CameraIntrinsics
    camera_pose: np.ndarray
    depth_clean: np.ndarray | None = None


def top_down_camera_pose(height: float, xy: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """world_T_camera (optical) looking straight down from ``height``; image +u = world +x, +v = world -y."""
    if not height > 0:
        raise ValueError(f"camera height must be > 0 m, got {height}")
    T = np.eye(4)
    T[:3, :3] = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    T[:3, 3] = (xy[0], xy[1], height)
    return T


def _f(*values) -> str:
    return " ".join(f"{float(v):.7g}" for v in values)


def _quat_from_matrix(R: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R, dtype=np.float64).ravel())
    return q


class _OffscreenRenderer:
    """RGB + depth in one pass, plus segmentation; shadows, reflections, skybox and MSAA off for speed."""

    def __init__(self, model: mujoco.MjModel, width: int, height: int):
        self.model, self.width, self.height = model, width, height
        self.gl = mujoco.GLContext(width, height)
        self.gl.make_current()
        self.ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self.ctx)
        # Reversed depth (1 at znear, 0 at zfar) keeps float precision far from the camera.
        self.ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self.scene = mujoco.MjvScene(model, maxgeom=max(1000, 2 * model.ngeom))
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                     mujoco.mjtRndFlag.mjRND_SKYBOX):
            self.scene.flags[flag] = 0
        self.option = mujoco.MjvOption()
        self.option.sitegroup[:] = 0  # sites (arm TCP markers) are not physical: keep them out of the images
        self.rect = mujoco.MjrRect(0, 0, width, height)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._rgb = np.empty((height, width, 3), np.uint8)
        self._zbuf = np.empty((height, width), np.float32)

    def render(self, data: mujoco.MjData, cam_id: int, rgb: bool, depth: bool, seg: bool,
               geom_to_label: np.ndarray):
        self.gl.make_current()
        self.camera.fixedcamid = cam_id
        mujoco.mjv_updateScene(self.model, data, self.option, None, self.camera,
                               mujoco.mjtCatBit.mjCAT_ALL.value, self.scene)
        out_rgb = out_depth = out_seg = None
        if rgb or depth:
            mujoco.mjr_render(self.rect, self.scene, self.ctx)
            mujoco.mjr_readPixels(self._rgb if rgb else None, self._zbuf if depth else None, self.rect, self.ctx)
            if rgb:
                out_rgb = np.flipud(self._rgb).copy()
            if depth:
                out_depth = self._linearise(np.flipud(self._zbuf))
        if seg:
            flags = self.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 1
            try:
                mujoco.mjr_render(self.rect, self.scene, self.ctx)
                mujoco.mjr_readPixels(self._rgb, None, self.rect, self.ctx)
            finally:
                flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 0
            img = np.flipud(self._rgb).astype(np.int32)
            segid = img[..., 0] | (img[..., 1] << 8) | (img[..., 2] << 16)  # 0 = background, else segid + 1
            lut = np.full(self.scene.ngeom + 2, SEG_BACKGROUND, np.int32)
            for g in self.scene.geoms[:self.scene.ngeom]:
                if g.segid >= 0 and g.objtype == mujoco.mjtObj.mjOBJ_GEOM and 0 <= g.objid < len(geom_to_label):
                    lut[g.segid + 1] = geom_to_label[g.objid]
            out_seg = lut[np.minimum(segid, len(lut) - 1)]
        return out_rgb, out_depth, out_seg

    def _linearise(self, zbuf: np.ndarray) -> np.ndarray:
        """Reversed z-buffer value d in [0, 1] -> metric z-depth: z = n f / (d (f - n) + n).

        (From d = A + B / z with d(n) = 1, d(f) = 0.) d = 0 means nothing was hit (far plane): NaN.
        """
        n = self.model.vis.map.znear * self.model.stat.extent
        f = self.model.vis.map.zfar * self.model.stat.extent
        d = zbuf.astype(np.float64)
        with np.errstate(divide="ignore"):
            z = (n * f) / (d * (f - n) + n)
        z[d <= 0.0] = np.nan
        return z.astype(np.float32)

    def close(self):
        if self.ctx is not None:
            self.ctx.free()
            self.ctx = None
        if self.gl is not None:
            self.gl.free()
            self.gl = None


class SimCell:
    """A tray with objects, a fixed RGB-D camera and a floating parallel-jaw gripper.

    ``objects``: every object the cell may use (``reset`` chooses which are dropped).
    ``settings``: the sim settings (:mod:`grasp_sim.settings`; default ``config/sim/realistic.yaml``): contact
    model, friction, gripper geometry and force model, timestep, camera height and tilt.
    ``camera``: intrinsics (default: ``camera.intrinsics`` of the settings).
    ``camera_pose``: world_T_camera of the optical frame; default: ``camera_height`` (default
    ``camera.height``) above the tray centre, tilted ``camera.tilt_deg``, looking at it.
    ``depth_noise``: applied to ``render``'s depth (None = perfect depth).
    ``seed``: seeds the drop poses of resets that are not given their own seed.
    ``arm``: None (floating gripper) or "widowx" / "kinova": that arm replaces the floating gripper, its
    base at ``arm_base_distance`` m (default ``ARM_BASE_DISTANCE[arm]``) on the -x side of the tray
    centre, facing it. The arm's joints, actuators and sites keep their real, unprefixed names.
    ``arm_rest_q``: arm joint positions after ``reset`` (default ``ARM_REST[arm]``; ``cell.arm.home`` is
    the vendor Home, which hides the tray from the camera).
    """

    def __init__(self, objects: Sequence[ObjectSpec], camera: CameraIntrinsics | None = None, seed: int | None = 0,
                 *, settings: SimSettings | None = None, camera_height: float | None = None,
                 camera_pose: np.ndarray | None = None, depth_noise: DepthNoise | None = None,
                 tray_half_size: float = 0.2, tray_wall_height: float = 0.04,
                 drop_xy_range: float = 0.08, park_position: Sequence[float] = (0.6, 0.0, 0.35),
                 arm: str | None = None, arm_base_distance: float | None = None,
                 arm_rest_q: Sequence[float] | None = None):
        self.settings = settings if settings is not None else load_sim_settings()
        cam = self.settings.camera
        if not objects:
            raise ValueError("SimCell objects must be a non-empty list of ObjectSpec")
        names = [o.name for o in objects]
        if len(set(names)) != len(names):
            raise ValueError(f"SimCell object names must be unique, got {names}")
        self.objects = list(objects)
        self.intrinsics = camera or cam.camera_intrinsics()
        if camera_pose is None:
            height = cam.height if camera_height is None else camera_height
            if cam.tilt_deg:
                from .cell_setup import camera_pose as tilted_pose  # lazy: cell_setup imports this module
                camera_pose = tilted_pose(height, cam.tilt_deg)
            else:
                camera_pose = top_down_camera_pose(height)
        self.camera_pose = np.array(camera_pose, dtype=np.float64)
        if self.camera_pose.shape != (4, 4) or not np.allclose(self.camera_pose[:3, :3].T @ self.camera_pose[:3, :3],
                                                               np.eye(3), atol=1e-6):
            raise ValueError("SimCell camera_pose must be a 4x4 rigid transform (world_T_camera, optical frame)")
        self.depth_noise = depth_noise
        self.tray_half_size = float(tray_half_size)
        self.table_z = 0.0
        self.drop_xy_range = float(drop_xy_range)
        self.park_position = np.asarray(park_position, float)
        self.settle_max_time = self.settings.physics.settle_max_time
        self._rng = np.random.default_rng(seed)
        self.arm = None  # robots.ArmModel when an arm replaces the floating gripper
        self.arm_base_pos = self.arm_rest_q = None
        if arm is not None:
            from .robots import ARMS, get_arm, kinova_gen3, widowx250  # lazy: mink is only needed with an arm
            if arm not in ARMS:
                raise ValueError(f"SimCell arm must be None or one of {sorted(ARMS)}, got {arm!r}")
            dist = ARM_BASE_DISTANCE[arm] if arm_base_distance is None else float(arm_base_distance)
            if not dist > self.tray_half_size + 0.06:  # base cylinder (r ~5 cm) must clear the tray wall
                raise ValueError(f"SimCell arm_base_distance must be > tray_half_size + 0.06 = "
                                 f"{self.tray_half_size + 0.06:.3f} m, got {dist}")
            self.arm = get_arm(arm)
            self.arm_base_pos = np.array([-dist, 0.0, self.table_z])
            module = {"widowx": widowx250, "kinova": kinova_gen3}[arm]
            rest = getattr(module, ARM_REST[arm]) if arm_rest_q is None else arm_rest_q
            self.arm_rest_q = np.asarray(rest, float).reshape(-1)
            self.gripper: GripperSettings = self.settings.grippers.of(arm)
            if self.arm_rest_q.shape != (self.arm.dof,) or not np.isfinite(self.arm_rest_q).all():
                raise ValueError(f"SimCell arm_rest_q must be {self.arm.dof} finite joint positions for the "
                                 f"{arm} arm, got {arm_rest_q!r}")
        if self.arm is None:
            self.gripper = self.settings.grippers.floating
        self.xml = self._build_xml(tray_wall_height, self.settings.physics.timestep)
        try:
            self.model = mujoco.MjModel.from_xml_string(self.xml)
        except Exception as exc:
            raise RuntimeError(f"SimCell: MuJoCo could not compile the generated scene: {exc}") from exc
        self.data = mujoco.MjData(self.model)
        self._index_model()
        self._apply_contact_model()
        self.contact_mu: float | None = None  # the swept contact friction now in force (None: build-time mu)
        self.active: list[int] = []
        self.last_settle_steps = 0
        self.last_settled = True
        self._warnings_seen = [0] * len(self.data.warning)
        self._renderer: _OffscreenRenderer | None = None
        self.reset([])

    # ----------------------------------------------------------------------------------------- model
    def _build_xml(self, wall_h: float, timestep: float) -> str:
        g, ph = self.settings.grippers.floating, self.settings.physics  # g: the floating hand (unused with an arm)
        W, H = self.intrinsics.width, self.intrinsics.height
        cam_R_mj = self.camera_pose[:3, :3] @ _OPT_FROM_MJ
        cam_attr = " ".join(f'{k}="{v}"' for k, v in mujoco_camera_attributes(self.intrinsics).items())
        half, t = self.tray_half_size, 0.01
        tors_roll = (ph.torsional_friction, ph.rolling_friction)
        table_mu = f'friction="{_f(ph.table_friction, *tors_roll)}"'
        pad_contact = f'friction="{_f(ph.pad_friction, *tors_roll)}" condim="{ph.condim}"'
        assets, bodies = [], []
        for i, obj in enumerate(self.objects):
            park = self._park_position(i)
            geoms = []
            # Contact model from physics.* (see config/sim/realistic.yaml). With object_priority the object's
            # friction and condim win every contact it makes (the pads' are then dead); without it MuJoCo takes
            # the larger friction of the two geoms, so set_contact_friction gives objects and pads the same mu.
            prio = ' priority="1"' if ph.object_priority else ""
            common = (f'condim="{ph.condim}"{prio} friction="{obj.friction:.4g} {_f(*tors_roll)}" '
                      f'solref="{_f(*ph.solref)}" solimp="{_f(*ph.solimp)}"')
            rgba = _f(*obj.rgba)
            if obj.primitives:
                density = obj.mass / sum(p.volume() for p in obj.primitives)
                for p in obj.primitives:
                    geoms.append(f'<geom type="{p.kind}" size="{_f(*p.size)}" pos="{_f(*p.pos)}" quat="{_f(*p.quat)}" '
                                 f'density="{density:.6g}" rgba="{rgba}" {common}/>')
            else:
                vols = [_hull_volume(v) for v, _ in obj.convex_parts]
                density = obj.mass / max(sum(vols), 1e-12)
                for k, (v, f) in enumerate(obj.convex_parts):
                    assets.append(f'<mesh name="{obj.name}_c{k}" vertex="{_f(*np.ravel(v))}"/>')
                    geoms.append(f'<geom type="mesh" mesh="{obj.name}_c{k}" density="{density:.6g}" group="3" '
                                 f'rgba="{rgba}" {common}/>')
                assets.append(f'<mesh name="{obj.name}_vis" vertex="{_f(*np.ravel(obj.vertices))}" '
                              f'face="{" ".join(map(str, np.ravel(obj.faces)))}" inertia="shell"/>')
                geoms.append(f'<geom type="mesh" mesh="{obj.name}_vis" contype="0" conaffinity="0" density="0" '
                             f'group="1" rgba="{rgba}"/>')
            bodies.append(f'<body name="obj_{obj.name}" pos="{_f(*park)}" gravcomp="1">'
                          f'<freejoint name="obj_{obj.name}_free"/>{"".join(geoms)}</body>')
        pad = g.finger_thickness / 2
        fl = g.finger_length
        palm_hx = g.max_opening / 2 + g.finger_thickness + 0.005
        tray_rgba = "0.25 0.3 0.35 1"
        walls = "".join(
            f'<geom name="wall_{n}" type="box" size="{_f(*size)}" pos="{_f(*pos)}" rgba="{tray_rgba}" {table_mu}/>'
            for n, size, pos in (("px", (t, half + t, wall_h / 2), (half + t, 0, wall_h / 2)),
                                 ("nx", (t, half + t, wall_h / 2), (-half - t, 0, wall_h / 2)),
                                 ("py", (half, t, wall_h / 2), (0, half + t, wall_h / 2)),
                                 ("ny", (half, t, wall_h / 2), (0, -half - t, wall_h / 2))))
        wrist_R = np.eye(3)  # eye-in-hand placeholder: looks along -hand z (down when the hand is top-down)
        if self.arm:
            arm_parts = self.arm.parts(self.arm_base_pos)
            contact, equality, actuator = arm_parts["excludes"], arm_parts["equalities"], arm_parts["actuators"]
        else:
            contact = '<exclude body1="finger_left" body2="finger_right"/>'
            equality = '''
    <weld body1="gripper_mocap" body2="hand" solref="0.01 1"/>
    <joint joint1="finger_right" joint2="finger_left" polycoef="0 1 0 0 0" solref="0.005 1"/>
  '''
            # gains and limits are the grip model's (GripDrive.configure)
            actuator = f'''
    <position name="fingers" joint="finger_left" kp="1" ctrlrange="0 {g.max_opening / 2}" forcerange="-1 1"/>
  '''
        return f"""<mujoco model="grasp_cell">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep}" cone="elliptic" impratio="{ph.impratio:.6g}" integrator="implicitfast"/>
  <statistic extent="1" center="0 0 0.2"/>
  <visual>
    <global offwidth="{W}" offheight="{H}"/>
    <quality offsamples="0" shadowsize="0"/>
    <map znear="0.01" zfar="20"/>
    <headlight ambient="0.4 0.4 0.4" diffuse="0.5 0.5 0.5"/>
  </visual>
  <asset>{"".join(assets)}</asset>
  <worldbody>
    <light pos="0.3 -0.3 1.5" dir="-0.2 0.2 -1" directional="true" castshadow="false" diffuse="0.5 0.5 0.5"/>
    <geom name="table" type="box" size="0.6 0.6 0.02" pos="0 0 -0.021" rgba="0.45 0.42 0.38 1" {table_mu}/>
    <geom name="tray_floor" type="box" size="{_f(half, half, 0.0005)}" pos="0 0 -0.0005" rgba="{tray_rgba}"
          {table_mu}/>
    {walls}
    <camera name="scene_cam" pos="{_f(*self.camera_pose[:3, 3])}" quat="{_f(*_quat_from_matrix(cam_R_mj))}"
            {cam_attr}/>
    {arm_parts["body"] if self.arm else ""}
    {"" if self.arm else f'''<body name="gripper_mocap" mocap="true" pos="{_f(*self.park_position)}"/>
    <body name="hand" pos="{_f(*self.park_position)}" gravcomp="1">
      <freejoint name="hand_free"/>
      <geom name="palm" type="box" size="{_f(palm_hx, g.jaw_width / 2 + 0.005, 0.01)}" pos="{_f(0, 0, fl + 0.01)}"
            mass="{g.hand_mass}" rgba="0.3 0.3 0.32 1"/>
      <camera name="wrist_cam" pos="{_f(0, -0.06, fl + 0.08)}" quat="{_f(*_quat_from_matrix(wrist_R))}" {cam_attr}/>
      <body name="finger_left" gravcomp="1">
        <joint name="finger_left" type="slide" axis="-1 0 0" range="0 {g.max_opening / 2}" damping="10"
               armature="0.01"/>
        <geom name="pad_left" type="box" size="{_f(pad, g.jaw_width / 2, fl / 2)}" pos="{_f(-pad, 0, fl / 2)}"
              mass="0.05" {pad_contact} rgba="0.15 0.15 0.15 1"/>
      </body>
      <body name="finger_right" gravcomp="1">
        <joint name="finger_right" type="slide" axis="1 0 0" range="0 {g.max_opening / 2}" damping="10"
               armature="0.01"/>
        <geom name="pad_right" type="box" size="{_f(pad, g.jaw_width / 2, fl / 2)}" pos="{_f(pad, 0, fl / 2)}"
              mass="0.05" {pad_contact} rgba="0.15 0.15 0.15 1"/>
      </body>
    </body>'''}
    {"".join(bodies)}
  </worldbody>
  <contact>{contact}</contact>
  <equality>{equality}</equality>
  <actuator>{actuator}</actuator>
</mujoco>"""

    @staticmethod
    def _park_position(i: int) -> np.ndarray:
        return np.array([2.0 + 0.4 * (i % 10), 2.0 + 0.4 * (i // 10), 0.5])

    def _index_model(self):
        m = self.model
        name2id = lambda t, n: mujoco.mj_name2id(m, t, n)  # noqa: E731
        self._obj_body = np.array([name2id(mujoco.mjtObj.mjOBJ_BODY, f"obj_{o.name}") for o in self.objects])
        self._obj_qadr = np.array([m.jnt_qposadr[name2id(mujoco.mjtObj.mjOBJ_JOINT, f"obj_{o.name}_free")]
                                   for o in self.objects])
        self._obj_dadr = np.array([m.jnt_dofadr[name2id(mujoco.mjtObj.mjOBJ_JOINT, f"obj_{o.name}_free")]
                                   for o in self.objects])
        if self.arm is None:
            self.hand = FloatingHand(m, self.data, self.gripper, self.park_position)
            self._cam_ids = {"scene": name2id(mujoco.mjtObj.mjOBJ_CAMERA, "scene_cam"),
                             "wrist": name2id(mujoco.mjtObj.mjOBJ_CAMERA, "wrist_cam")}
        else:
            self.hand = ArmGripper(m, self.data, self.gripper, self.arm, ARM_PAD_GEOMS[self.arm.name], self.arm_rest_q)
            self._cam_ids = {"scene": name2id(mujoco.mjtObj.mjOBJ_CAMERA, "scene_cam")}
        self._pad_geoms = self.hand.pad_geoms
        self.grip = self.hand.drive  # the gripper's force model (grip.py) on its one position actuator
        body_label = np.full(m.nbody, SEG_BACKGROUND, np.int32)
        body_label[self.hand.bodies] = SEG_GRIPPER
        body_label[self._obj_body] = np.arange(len(self.objects))
        self._geom_label = body_label[m.geom_bodyid]  # geom id -> segmentation label / object index

    def _apply_contact_model(self) -> None:
        """Pads (also the arms', whose vendor modules set their own) get physics.pad_friction and condim; the
        build-time friction of objects and pads is kept for set_contact_friction(None)."""
        m, ph = self.model, self.settings.physics
        body_is_obj = np.zeros(m.nbody, bool)
        body_is_obj[self._obj_body] = True
        colliding = (m.geom_contype != 0) | (m.geom_conaffinity != 0)
        self._obj_geoms = np.nonzero(body_is_obj[m.geom_bodyid] & colliding)[0]
        pads = np.array(self._pad_geoms)
        m.geom_friction[pads] = (ph.pad_friction, ph.torsional_friction, ph.rolling_friction)
        m.geom_condim[pads] = ph.condim
        self._friction0 = {"objects": m.geom_friction[self._obj_geoms, 0].copy(),
                           "pads": m.geom_friction[pads, 0].copy()}

    def set_contact_friction(self, mu: float | None) -> None:
        """Set the sliding friction of every object-pad contact to ``mu`` from the next step on (None: back to
        the objects' own mu and physics.pad_friction). Objects and pads both get ``mu``: MuJoCo combines the
        friction of two geoms of equal priority by taking the larger, so the pair has exactly ``mu`` (with
        physics.object_priority the object's value alone counts, and it is ``mu`` too)."""
        m = self.model
        pads = np.array(self._pad_geoms)
        if mu is None:
            m.geom_friction[self._obj_geoms, 0] = self._friction0["objects"]
            m.geom_friction[pads, 0] = self._friction0["pads"]
        else:
            if not (math.isfinite(mu) and mu > 0):
                raise ValueError(f"SimCell.set_contact_friction: mu must be > 0, got {mu}")
            m.geom_friction[self._obj_geoms, 0] = mu
            m.geom_friction[pads, 0] = mu
        self.contact_mu = None if mu is None else float(mu)

    def close_gripper(self, seconds: float | None = None) -> None:
        """Close the gripper with its force model (grippers.<name>) and squeeze for ``seconds`` (default close_time)."""
        self.grip.close(self.data, seconds)

    def _floating(self, what: str) -> FloatingHand:
        if not isinstance(self.hand, FloatingHand):
            raise RuntimeError(f"SimCell.{what}: this cell has the {self.arm.name} arm instead of the floating "
                               f"gripper; run trials with grasp_sim.executors.execute_grasp_with_arm (or run_grasp)")
        return self.hand

    def _arm_gripper(self, what: str) -> ArmGripper:
        if not isinstance(self.hand, ArmGripper):
            raise RuntimeError(f"SimCell.{what}: this cell has no arm (SimCell(..., arm=None))")
        return self.hand

    def set_arm_pose(self, q: Sequence[float] | None = None, opening: float | None = None) -> None:
        """Arm cells: teleport the arm to joint positions ``q`` (default: ``arm_rest_q``) at rest, the gripper
        to ``opening`` (default: fully open), and command the servos to hold them. Clears all velocities."""
        self._arm_gripper("set_arm_pose").set_pose(q, opening)

    def write_gripper_joints(self, qpos: np.ndarray, opening: float) -> None:
        """Arm cells: write the gripper joints (driven + mimics) of ``qpos`` for a pad-to-pad ``opening``
        (clipped to the gripper's range), e.g. of a scratch ``MjData`` for a kinematic query."""
        self._arm_gripper("write_gripper_joints").write_joints(qpos, opening)

    @property
    def pad_geoms(self) -> tuple[int, int]:
        """The (left, right) pad geom ids of the gripper in use."""
        return tuple(self._pad_geoms)

    # ------------------------------------------------------------------------------------ simulation
    def reset(self, objects: int | Sequence[int] | None = None, seed: int | None = None) -> list[int]:
        """Drop the chosen object(s) (indices into ``self.objects``; None = all) at random poses above the
        tray and step until they settle. ``seed`` makes the drop (and the depth noise of the following
        renders) reproducible; without it the cell's own generator is used. Returns the active indices."""
        if objects is None:
            idx = list(range(len(self.objects)))
        elif isinstance(objects, (int, np.integer)):
            idx = [int(objects)]
        else:
            idx = [int(i) for i in objects]
        for i in idx:
            if not 0 <= i < len(self.objects):
                raise ValueError(f"SimCell.reset: object index {i} out of range [0, {len(self.objects)})")
        if len(set(idx)) != len(idx):
            raise ValueError(f"SimCell.reset: duplicate object indices {idx}")
        rng = np.random.default_rng(seed) if seed is not None else self._rng
        if seed is not None and self.depth_noise is not None:
            # so that a seeded reset also gives the same noisy depth, whatever was rendered before
            self.depth_noise.reseed(np.random.SeedSequence([seed, 1]))
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)  # parks everything, clears warm-starts: same seed -> same trajectory
        m.body_gravcomp[self._obj_body] = 1.0  # parked objects float; active ones fall
        m.body_gravcomp[self._obj_body[idx]] = 0.0
        self.active = idx
        self.park_gripper()
        z = self.table_z + 0.02
        for i in idx:
            r = self.objects[i].bounding_radius()
            z += r  # stack drop heights so objects never start interpenetrating
            q = rng.normal(size=4)
            xy = rng.uniform(-self.drop_xy_range, self.drop_xy_range, 2)
            d.qpos[self._obj_qadr[i]:self._obj_qadr[i] + 7] = [xy[0], xy[1], z, *(q / np.linalg.norm(q))]
            z += r + 0.01
        mujoco.mj_forward(m, d)
        self._mark_physics()
        self.settle()
        return list(idx)

    def settle(self) -> bool:
        """Step until the active objects are at rest, at most ``physics.settle_max_time``: after a drop, a
        removal or a failed grasp, before the next render. Returns whether they came to rest (also
        ``last_settled``; a scene that does not is not a fair test of a grasp)."""
        self.last_settled, self.last_settle_steps = self._settle() if self.active else (True, 0)
        return self.last_settled

    def _mark_physics(self) -> None:
        self._warnings_seen = [int(w.number) for w in self.data.warning]

    def physics_problems(self) -> list[str]:
        """What broke in the physics since the last call, reset or restore: MuJoCo warnings (bad qacc, contact
        buffer full, ...) and a non-finite state. Empty when the simulation can be trusted."""
        out = [f"MuJoCo warning {mujoco.mjtWarning(k).name} x{int(w.number) - seen}"
               for k, (w, seen) in enumerate(zip(self.data.warning, self._warnings_seen)) if int(w.number) > seen]
        if not (np.isfinite(self.data.qpos).all() and np.isfinite(self.data.qvel).all()):
            out.append("non-finite state (qpos/qvel)")
        self._mark_physics()
        return out

    def _settle(self, lin_tol: float = 0.005, ang_tol: float = 0.05, check_every: int = 10,
                quiet_checks: int = 5) -> tuple[bool, int]:
        max_steps = int(self.settle_max_time / self.model.opt.timestep)
        dofs = np.concatenate([np.arange(a, a + 6) for a in self._obj_dadr[self.active]])
        quiet, steps = 0, 0
        while steps < max_steps:
            mujoco.mj_step(self.model, self.data, nstep=check_every)
            steps += check_every
            v = self.data.qvel[dofs].reshape(-1, 6)
            quiet = quiet + 1 if (np.abs(v[:, :3]).max() < lin_tol and np.abs(v[:, 3:]).max() < ang_tol) else 0
            if quiet >= quiet_checks:
                return True, steps
        warnings.warn(f"SimCell.settle: objects still moving after {self.settle_max_time} s (step cap)", stacklevel=3)
        return False, steps

    def remove_object(self, i: int) -> None:
        """Take object ``i`` out of the scene (back to its parking spot, floating): after a successful
        pick in a cluttered scene, as a robot would drop it in a bin."""
        if i not in self.active:
            raise ValueError(f"SimCell.remove_object: object {i} is not in the scene (active: {self.active})")
        self.active = [j for j in self.active if j != i]
        self.model.body_gravcomp[self._obj_body[i]] = 1.0
        self.set_object_pose(i, self._park_position(i))
        self.park_gripper()
        mujoco.mj_forward(self.model, self.data)

    def snapshot(self) -> dict:
        """The full physical state (and which objects are in the scene), for :meth:`restore`."""
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, state, spec)
        return {"state": state, "active": list(self.active), "gravcomp": self.model.body_gravcomp.copy()}

    def restore(self, snap: dict) -> None:
        """Return exactly to a :meth:`snapshot` (e.g. to try several grasps on the same scene)."""
        mujoco.mj_setState(self.model, self.data, snap["state"], mujoco.mjtState.mjSTATE_INTEGRATION)
        self.model.body_gravcomp[:] = snap["gravcomp"]
        self.active = list(snap["active"])
        mujoco.mj_forward(self.model, self.data)
        self._mark_physics()

    def step(self, n: int = 1) -> None:
        mujoco.mj_step(self.model, self.data, nstep=int(n))

    def object_pose(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(position xyz, quaternion wxyz) of object ``i`` (its body frame) in the world."""
        a = self._obj_qadr[i]
        return self.data.qpos[a:a + 3].copy(), self.data.qpos[a + 3:a + 7].copy()

    def set_object_pose(self, i: int, position: Sequence[float], quat: Sequence[float] = (1.0, 0.0, 0.0, 0.0)) -> None:
        """Place object ``i`` at rest (scripted scenes, tests). A parked object (not in ``active``)
        keeps gravity compensation, so it floats where it is put."""
        q = np.asarray(quat, float)
        if len(position) != 3 or q.shape != (4,) or not np.linalg.norm(q) > 0:
            raise ValueError(f"set_object_pose: need 3 position values and a non-zero wxyz quat, "
                             f"got {position}, {quat}")
        a, da = self._obj_qadr[i], self._obj_dadr[i]
        self.data.qpos[a:a + 3], self.data.qpos[a + 3:a + 7] = position, q / np.linalg.norm(q)
        self.data.qvel[da:da + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def object_body(self, i: int) -> int:
        """The MuJoCo body id of object ``i`` (its geoms are the model's geoms with this ``geom_bodyid``)."""
        return int(self._obj_body[i])

    def object_transform(self, i: int) -> np.ndarray:
        """4x4 world_T_object of object ``i``'s body frame, from the last forward pass."""
        body = self._obj_body[i]
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self.data.xmat[body].reshape(3, 3), self.data.xpos[body]
        return T

    def object_poses(self) -> np.ndarray:
        """``(len(active), 7)`` poses [x y z qw qx qy qz] of the active objects."""
        return np.array([self.data.qpos[self._obj_qadr[i]:self._obj_qadr[i] + 7] for i in self.active]).reshape(-1, 7)

    # ------------------------------------------------------------------------------------- gripper
    def park_gripper(self) -> None:
        """Floating gripper: to ``park_position``, open. Arm cells: arm to ``arm_rest_q``, gripper open."""
        self.hand.park()

    def teleport_gripper(self, position: Sequence[float], yaw: float, opening: float, quat=None) -> None:
        """Place the hand (fingertip centre) at ``position`` with ``yaw`` (or the full orientation ``quat``,
        wxyz; see :func:`hand_quat`) and finger ``opening``, at rest."""
        self._floating("teleport_gripper").teleport(position, yaw, opening, quat)

    def set_gripper_target(self, position: Sequence[float], yaw: float, quat=None) -> None:
        """Where the hand's weld pulls it: ``position`` with ``yaw`` (or the orientation ``quat``, wxyz)."""
        self._floating("set_gripper_target").set_target(position, yaw, quat)

    def set_opening(self, opening: float) -> None:
        """Servo the fingers to ``opening`` (clipped to the stroke); to grasp, use :meth:`close_gripper`."""
        self.grip.command_width(self.data, opening)

    def gripper_opening(self) -> float:
        return self.hand.opening()

    def hand_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(position, wxyz quat) of the floating hand, or of the arm's TCP site (its own axis convention)."""
        return self.hand.pose()

    def finger_contacts(self, i: int) -> tuple[bool, bool]:
        """Whether object ``i`` touches the (left, right) pad now (the arm's pads in arm cells)."""
        body = self._obj_body[i]
        left = right = False
        gb = self.model.geom_bodyid
        for c in self.data.contact[:self.data.ncon]:
            g1, g2 = c.geom1, c.geom2
            for pad, other in ((g1, g2), (g2, g1)):
                if gb[other] == body:
                    left |= pad == self._pad_geoms[0]
                    right |= pad == self._pad_geoms[1]
        return left, right

    # ------------------------------------------------------------------------------------- camera
    def set_camera_pose(self, camera_pose: np.ndarray) -> None:
        """Move the scene camera (world_T_optical) without rebuilding the model: a trial's random viewpoint."""
        T = np.array(camera_pose, dtype=np.float64)
        if T.shape != (4, 4) or not np.allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-6):
            raise ValueError("SimCell.set_camera_pose: camera_pose must be a 4x4 rigid transform (world_T_camera, "
                             "optical frame)")
        cid = self._camera_id("scene")
        self.model.cam_pos[cid] = T[:3, 3]
        self.model.cam_quat[cid] = _quat_from_matrix(T[:3, :3] @ _OPT_FROM_MJ)
        self.camera_pose = T
        mujoco.mj_forward(self.model, self.data)

    def camera_pose_now(self, camera: str = "scene") -> np.ndarray:
        cid = self._camera_id(camera)
        T = np.eye(4)
        T[:3, :3] = self.data.cam_xmat[cid].reshape(3, 3) @ _OPT_FROM_MJ
        T[:3, 3] = self.data.cam_xpos[cid]
        return T

    def _camera_id(self, camera: str) -> int:
        if camera not in self._cam_ids:
            raise ValueError(f"SimCell camera must be one of {sorted(self._cam_ids)}, got {camera!r}")
        return self._cam_ids[camera]

    def render(self, rgb: bool = True, depth: bool = True, segmentation: bool = True,
               camera: str = "scene") -> Observation:
        """Render the current state. ``camera="wrist"`` is the eye-in-hand placeholder (same intrinsics)."""
        cid = self._camera_id(camera)
        if self._renderer is None:
            self._renderer = _OffscreenRenderer(self.model, self.intrinsics.width, self.intrinsics.height)
        img, dep, seg = self._renderer.render(self.data, cid, rgb, depth, segmentation, self._geom_label)
        clean = None
        if dep is not None and self.depth_noise is not None and self.depth_noise.enabled:
            clean, dep = dep, self.depth_noise(dep)
        return Observation(rgb=img, depth=dep, segmentation=seg, intrinsics=self.intrinsics,
                           camera_pose=self.camera_pose_now(camera), depth_clean=clean)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _hull_volume(vertices: np.ndarray) -> float:
    import trimesh
    return float(trimesh.convex.convex_hull(np.asarray(vertices)).volume)
