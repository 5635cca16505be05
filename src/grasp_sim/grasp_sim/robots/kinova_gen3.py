"""Kinova Gen3 7-DoF arm with a Robotiq 2F-85 gripper, as MJCF.

Arm facts (joint origins/rpy, axes, limits, efforts, masses/COMs) come from the vendor URDF
(GEN3-7DOF-NOVISION, as used by ros2_kortex); body frames equal URDF link frames, so MuJoCo body poses
match URDF FK. joint_1/3/5/7 are continuous in the URDF and are unlimited hinges here.

Gripper facts come from the ros2_robotiq_gripper 2F-85 description as used by ros2_kortex (joint names
`robotiq_85_*`, knuckle origins, 0..0.8 rad knuckle range, mimic signs). The real 2F-85 is a
parallelogram linkage: each finger tip counter-rotates so its pad stays parallel while travelling on an
arc. Here each finger is knuckle hinge -> fingertip hinge, tied to `robotiq_85_left_knuckle_joint` by
joint equalities (the mimic multipliers of the URDF); inner knuckles are kept as coupled, non-colliding
links so every real joint name exists. Stroke: Robotiq 2F-85 opens 0..85 mm; the pad offset below is
chosen so knuckle 0 rad = 85 mm pad-to-pad, and the linkage then closes to ~0 mm at 0.8 rad.

Frames: `end_effector_link` (flange, z out of the wrist) as in gen3_macro.xacro; the Robotiq base sits
on it with zero offset (ros2_kortex load_gripper). `tool_frame` is the grasp TCP between the pads,
same orientation as end_effector_link: z = approach, x = finger closing direction.
"""

from __future__ import annotations

import math

import mujoco

from ._mjcf import attach_parts, check_base_pose, check_prefix, fmt, inertial, rpy_to_quat, wrap_standalone

ARM_JOINTS = tuple(f"joint_{i}" for i in range(1, 8))
GRIPPER_DRIVE_JOINT = "robotiq_85_left_knuckle_joint"
GRIPPER_JOINTS = (
    "robotiq_85_left_knuckle_joint",
    "robotiq_85_right_knuckle_joint",
    "robotiq_85_left_inner_knuckle_joint",
    "robotiq_85_right_inner_knuckle_joint",
    "robotiq_85_left_finger_tip_joint",
    "robotiq_85_right_finger_tip_joint",
)
EE_SITE = "tool_frame"
FLANGE_SITE = "end_effector_link"
GRIPPER_ACTUATOR = "gripper"

# (parent->child origin xyz, rpy, limits or None for continuous, effort N m) from the vendor URDF.
_JOINTS = {
    "joint_1": ((0.0, 0.0, 0.15643), (3.1416, 2.7629e-18, -4.9305e-36), None, 39.0),
    "joint_2": ((0.0, 0.005375, -0.12838), (1.5708, 2.1343e-17, -1.1102e-16), (-2.24, 2.24), 39.0),
    "joint_3": ((0.0, -0.21038, -0.006375), (-1.5708, 1.2326e-32, -2.9122e-16), None, 39.0),
    "joint_4": ((0.0, 0.006375, -0.21038), (1.5708, -6.6954e-17, -1.6653e-16), (-2.57, 2.57), 39.0),
    "joint_5": ((0.0, -0.20843, -0.006375), (-1.5708, 2.2204e-16, -6.373e-17), None, 9.0),
    "joint_6": ((0.0, 0.00017505, -0.10593), (1.5708, 9.2076e-28, -8.2157e-15), (-2.09, 2.09), 9.0),
    "joint_7": ((0.0, -0.10593, -0.00017505), (-1.5708, -5.5511e-17, 9.6396e-17), None, 9.0),
}
_END_EFFECTOR = ((0.0, 0.0, -0.0615250000000001), (3.14159265358979, 1.09937075168372e-32, 0.0))
JOINT_LIMITS = {n: v[2] for n, v in _JOINTS.items()}  # None = continuous
JOINT_EFFORT = {n: v[3] for n, v in _JOINTS.items()}

# Child link of each joint: (name, mass, com, (ixx, iyy, izz, ixy, ixz, iyz)) from the vendor URDF.
_LINKS = {
    "joint_1": ("shoulder_link", 1.377, (-2.3e-05, -0.010364, -0.07336), (0.00457, 0.004831, 0.001409, 1e-06, 2e-06, 0.000448)),
    "joint_2": ("half_arm_1_link", 1.163, (-4.4e-05, -0.09958, -0.013278), (0.011088, 0.001072, 0.011255, 5e-06, 0.0, -0.000691)),
    "joint_3": ("half_arm_2_link", 1.163, (-4.4e-05, -0.006641, -0.117892), (0.010932, 0.011127, 0.001043, 0.0, -7e-06, 0.000606)),
    "joint_4": ("forearm_link", 0.93, (-1.8e-05, -0.075478, -0.015006), (0.008147, 0.000631, 0.008316, -1e-06, 0.0, -0.0005)),
    "joint_5": ("spherical_wrist_1_link", 0.678, (1e-06, -0.009432, -0.063883), (0.001596, 0.001607, 0.000399, 0.0, 0.0, 0.000256)),
    "joint_6": ("spherical_wrist_2_link", 0.678, (1e-06, -0.045483, -0.00965), (0.001641, 0.00041, 0.001641, 0.0, 0.0, -0.000278)),
    "joint_7": ("bracelet_link", 0.364, (-9.3e-05, 0.000132, -0.022905), (0.000214, 0.000223, 0.00024, 0.0, 1e-06, -2e-06)),
}

# Servo model (ours): stiff position loops with gravity compensation (the real arm's low-level
# controller compensates gravity); armature stands in for harmonic-drive reflected rotor inertia.
_KP = {"joint_1": 1000.0, "joint_2": 1000.0, "joint_3": 800.0, "joint_4": 800.0, "joint_5": 300.0,
       "joint_6": 300.0, "joint_7": 200.0}
# Damping kept below effort / URDF velocity limit so a saturated servo can still reach the real
# joint speeds (1.40 / 1.22 rad/s) instead of crawling behind the trajectory.
_DAMPING = {"joint_1": 10.0, "joint_2": 10.0, "joint_3": 8.0, "joint_4": 8.0, "joint_5": 3.0,
            "joint_6": 3.0, "joint_7": 3.0}
VELOCITY_LIMITS = (1.3963, 1.3963, 1.3963, 1.3963, 1.2218, 1.2218, 1.2218)  # rad/s, URDF
_ARMATURE = {"joint_1": 0.3, "joint_2": 0.3, "joint_3": 0.2, "joint_4": 0.2, "joint_5": 0.1,
             "joint_6": 0.1, "joint_7": 0.1}
# Capsule radius per link (visual/collision stand-ins for the meshes).
_RADIUS = {"joint_1": 0.045, "joint_2": 0.045, "joint_3": 0.042, "joint_4": 0.042, "joint_5": 0.035,
           "joint_6": 0.035, "joint_7": 0.035}

# Named states from the kinova_gen3_7dof_robotiq_2f_85_moveit_config SRDF.
HOME = (0.0, 0.26, 3.14, -2.27, 0.0, 0.96, 1.57)
RETRACT = (0.0, -0.35, 3.14, -2.54, 0.0, -0.87, 1.57)

# --- Robotiq 2F-85 geometry (robotiq_85_base_link frame == end_effector_link) -----------------------
_KNUCKLE = (0.03060114, 0.05490452)        # left knuckle pivot (x, z)
_INNER_KNUCKLE = (0.0127, 0.06142)         # left inner knuckle pivot (x, z)
# knuckle -> finger link (fixed) -> finger tip pivot: (0.03152616 + 0.00563134, -0.00376347 + 0.04718515)
_TIP = (0.0371575, 0.04342168)
KNUCKLE_MIN, KNUCKLE_MAX = 0.0, 0.8        # rad, 0 = open, 0.8 = closed (URDF / SRDF "Open"/"Close")
ROBOTIQ_STROKE = 0.085                     # m, Robotiq 2F-85 datasheet: 0..85 mm
_PAD_HALF = (0.0035, 0.011, 0.017)         # pad box half sizes (thickness, width, height)
_PAD_Z = 0.025                             # pad centre height above the tip pivot
# Inner pad face offset (tip-pivot frame, x) fixed by: width(knuckle = 0) == 85 mm.
_PAD_FACE_X = 0.5 * ROBOTIQ_STROKE - (_KNUCKLE[0] + _TIP[0])


def _tip_pivot(knuckle: float) -> tuple[float, float]:
    """Left fingertip pivot (x, z) in the gripper base frame; knuckle rotates about -y."""
    c, s = math.cos(knuckle), math.sin(knuckle)
    return _KNUCKLE[0] + _TIP[0] * c - _TIP[1] * s, _KNUCKLE[1] + _TIP[0] * s + _TIP[1] * c


def knuckle_to_width(knuckle: float) -> float:
    """robotiq_85_left_knuckle_joint angle (rad) -> pad-to-pad width (m) of this model."""
    return 2.0 * (_tip_pivot(float(knuckle))[0] + _PAD_FACE_X)


def width_to_knuckle(width: float) -> float:
    """Pad-to-pad width (m) -> knuckle angle (rad); width is clamped to the reachable stroke.

    Solves 0.0371575 cos(t) - 0.04342168 sin(t) = w/2 - 0.03060114 - pad offset in closed form.
    """
    rhs = 0.5 * float(width) - _KNUCKLE[0] - _PAD_FACE_X
    r = math.hypot(*_TIP)
    phi = math.atan2(_TIP[1], _TIP[0])  # a cos t - b sin t = r cos(t + phi)
    t = math.acos(max(-1.0, min(1.0, rhs / r))) - phi
    return max(KNUCKLE_MIN, min(KNUCKLE_MAX, t))


GRIPPER_MAX_WIDTH = knuckle_to_width(KNUCKLE_MIN)   # 0.085 m
GRIPPER_MIN_WIDTH = max(0.0, knuckle_to_width(KNUCKLE_MAX))  # ~0.0003 m: the pads meet
# TCP height: pad centre at a 40 mm opening (pads descend ~13 mm over the stroke, as on the real gripper).
TOOL_FRAME_Z = _tip_pivot(width_to_knuckle(0.04))[1] + _PAD_Z

_ARM_COL = 'contype="2" conaffinity="1"'
_NO_COL = 'contype="0" conaffinity="0"'
_RGBA_ARM = 'rgba="0.75 0.75 0.78 1"'
_RGBA_GRIP = 'rgba="0.1 0.1 0.1 1"'


def _finger_xml(p: str, side: str) -> str:
    """One Robotiq finger chain. Right side mirrors x; both knuckles rotate about -y (URDF)."""
    sx = 1.0 if side == "left" else -1.0
    kr = f"{KNUCKLE_MIN!r} {KNUCKLE_MAX!r}" if side == "left" else f"{-KNUCKLE_MAX!r} {-KNUCKLE_MIN!r}"
    tip = (sx * _TIP[0], 0.0, _TIP[1])
    face = sx * _PAD_FACE_X
    pad_c = face + sx * _PAD_HALF[0]
    recess = face + sx * 0.002  # tip body stays 2 mm behind the pad face so only pads touch the object
    return f"""
        <body name="{p}robotiq_85_{side}_knuckle_link" pos="{fmt((sx * _KNUCKLE[0], 0, _KNUCKLE[1]))}" gravcomp="1">
          <!-- knuckle + outer finger link lumped (fixed joint in the URDF) -->
          {inertial(0.0138477 + 0.0426038, (sx * 0.025, 0.0, 0.012), (2.0e-05, 2.2e-05, 1.0e-05, 0.0, 0.0, 0.0))}
          <joint name="{p}robotiq_85_{side}_knuckle_joint" type="hinge" axis="0 -1 0" range="{kr}" damping="0.3" armature="0.002"/>
          <geom name="{p}robotiq_85_{side}_finger_geom" type="capsule" fromto="0 0 0 {fmt(tip)}" size="0.008" {_ARM_COL} {_RGBA_GRIP}/>
          <body name="{p}robotiq_85_{side}_finger_tip_link" pos="{fmt(tip)}" gravcomp="1">
            {inertial(0.0426859, (sx * -0.01456706, 0.0, 0.01649701), (1.048152e-05, 1.197888e-05, 4.22784e-06, 0.0, 0.0, 0.0))}
            <joint name="{p}robotiq_85_{side}_finger_tip_joint" type="hinge" axis="0 -1 0" damping="0.05" armature="0.0005"/>
            <geom name="{p}robotiq_85_{side}_finger_tip_geom" type="box" size="{fmt((abs(recess) * 0.5, 0.009, 0.008))}" pos="{fmt((recess * 0.5, 0, 0.006))}" {_ARM_COL} {_RGBA_GRIP}/>
            <geom name="{p}robotiq_85_{side}_pad" type="box" size="{fmt(_PAD_HALF)}" pos="{fmt((pad_c, 0, _PAD_Z))}" condim="4" friction="1.0 0.01 0.0001" {_ARM_COL} rgba="0.3 0.3 0.3 1"/>
          </body>
        </body>
        <body name="{p}robotiq_85_{side}_inner_knuckle_link" pos="{fmt((sx * _INNER_KNUCKLE[0], 0, _INNER_KNUCKLE[1]))}" gravcomp="1">
          {inertial(0.0296938, (sx * 0.019, 0.0, 0.0225), (9.57136e-06, 8.69056e-06, 8.19144e-06, 0.0, 0.0, 0.0))}
          <joint name="{p}robotiq_85_{side}_inner_knuckle_joint" type="hinge" axis="0 -1 0" damping="0.05" armature="0.0005"/>
          <geom name="{p}robotiq_85_{side}_inner_knuckle_geom" type="capsule" fromto="0 0 0 {fmt(tip)}" size="0.006" {_NO_COL} {_RGBA_GRIP}/>
        </body>"""


def kinova_gen3_parts(prefix: str = "", base_pos=(0.0, 0.0, 0.0), base_quat=(1.0, 0.0, 0.0, 0.0)) -> dict:
    """MJCF fragments {body, actuators, equalities, excludes} so a scene can splice the arm into its own
    XML (inside <worldbody>, <actuator>, <equality>, <contact>). The host document must use
    <compiler angle="radian"/> (ranges are radians) and should use integrator="implicitfast"."""
    p = check_prefix(prefix)
    pos, quat = check_base_pose(base_pos, base_quat)

    # Build the serial chain inside-out: each joint's body holds the capsule to the next joint origin.
    names = list(ARM_JOINTS)
    ee_pos, ee_rpy = _END_EFFECTOR
    inner = f"""
              <site name="{p}{FLANGE_SITE}" pos="{fmt(ee_pos)}" quat="{fmt(rpy_to_quat(ee_rpy))}" size="0.005" group="4"/>
              <body name="{p}robotiq_85_base_link" pos="{fmt(ee_pos)}" quat="{fmt(rpy_to_quat(ee_rpy))}" gravcomp="1">
                {inertial(0.66320197, (0.0, 2.274e-05, 0.03232288), (5.1617816e-04, 5.8802208e-04, 3.9462776e-04, 2.936e-08, 0.0, -3.2296e-07))}
                <geom name="{p}robotiq_85_base_geom" type="cylinder" size="0.037 0.027" pos="0 0 0.027" {_ARM_COL} {_RGBA_GRIP}/>
                <geom name="{p}robotiq_85_palm_geom" type="box" size="0.042 0.014 0.008" pos="0 0 0.056" {_ARM_COL} {_RGBA_GRIP}/>
                <site name="{p}{EE_SITE}" pos="0 0 {TOOL_FRAME_Z!r}" size="0.006" rgba="0 1 0 0.6" group="2"/>
                {_finger_xml(p, "left")}
                {_finger_xml(p, "right")}
              </body>"""
    for i in reversed(range(len(names))):
        n = names[i]
        link, mass, com, inert = _LINKS[n]
        xyz, rpy, lim, _ = _JOINTS[n]
        nxt = _JOINTS[names[i + 1]][0] if i + 1 < len(names) else ee_pos
        rng = f' range="{lim[0]!r} {lim[1]!r}"' if lim else ""
        inner = f"""
      <body name="{p}{link}" pos="{fmt(xyz)}" quat="{fmt(rpy_to_quat(rpy))}" gravcomp="1">
        {inertial(mass, com, inert)}
        <joint name="{p}{n}" type="hinge" axis="0 0 1"{rng} damping="{_DAMPING[n]}" armature="{_ARMATURE[n]}"/>
        <geom name="{p}{link}_geom" type="capsule" fromto="0 0 0 {fmt(nxt)}" size="{_RADIUS[n]}" {_ARM_COL} {_RGBA_ARM}/>
        {inner}
      </body>"""
    body = f"""
    <body name="{p}base_link" pos="{fmt(pos)}" quat="{fmt(quat)}">
      {inertial(1.697, (-0.000648, -0.000166, 0.084487), (0.004622, 0.004495, 0.002079, 9e-06, 6e-05, 9e-06))}
      <geom name="{p}base_geom" type="cylinder" size="0.048 0.07" pos="0 0 0.07" {_ARM_COL} {_RGBA_ARM}/>
      {inner}
    </body>"""

    acts = []
    for n in ARM_JOINTS:
        lim = JOINT_LIMITS[n]
        rng = f' ctrlrange="{lim[0]!r} {lim[1]!r}"' if lim else ""
        acts.append(f'    <position name="{p}{n}" joint="{p}{n}" kp="{_KP[n]}"{rng} '
                    f'forcerange="{-JOINT_EFFORT[n]} {JOINT_EFFORT[n]}"/>')
    # One drive on the left knuckle (as the ros2_kortex GripperActionController). ~5 N m limit gives
    # roughly 90 N at the pads (0.057 m lever), inside the 2F-85's 20..235 N grip-force range.
    acts.append(f'    <position name="{p}{GRIPPER_ACTUATOR}" joint="{p}{GRIPPER_DRIVE_JOINT}" kp="10" '
                f'ctrlrange="{KNUCKLE_MIN!r} {KNUCKLE_MAX!r}" forcerange="-5 5"/>')

    drive = f"{p}{GRIPPER_DRIVE_JOINT}"
    mimics = (("right_knuckle", -1), ("left_finger_tip", -1), ("right_finger_tip", 1),
              ("left_inner_knuckle", 1), ("right_inner_knuckle", -1))  # URDF mimic multipliers
    eqs = "\n".join(
        f'    <joint name="{p}robotiq_85_{j}_mimic" joint1="{p}robotiq_85_{j}_joint" joint2="{drive}" '
        f'polycoef="0 {m} 0 0 0" solref="0.005 1"/>' for j, m in mimics)
    return {"body": body, "actuators": "\n".join(acts), "equalities": eqs, "excludes": ""}


def kinova_gen3_mjcf(prefix: str = "", base_pos=(0.0, 0.0, 0.0), base_quat=(1.0, 0.0, 0.0, 0.0)) -> str:
    """Complete MJCF document with the Gen3 7-DoF + Robotiq 2F-85, base_link at (base_pos, base_quat)."""
    parts = kinova_gen3_parts(prefix, base_pos, base_quat)
    return wrap_standalone("gen3_robotiq_2f_85", parts["body"], parts["actuators"], parts["equalities"],
                           parts["excludes"])


def add_kinova_gen3(spec: mujoco.MjSpec, prefix: str = "gen3/", base_pos=(0.0, 0.0, 0.0),
                    base_quat=(1.0, 0.0, 0.0, 0.0)) -> mujoco.MjsBody:
    """Attach the arm + gripper to an existing MjSpec under a non-empty prefix; returns its base body."""
    return attach_parts(spec, kinova_gen3_parts("", base_pos, base_quat), prefix, "add_kinova_gen3")
