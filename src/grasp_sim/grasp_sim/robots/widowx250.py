"""Interbotix WidowX 250 6-DoF ("wx250s") arm with its parallel gripper, as MJCF.

Kinematic facts (joint origins, axes, limits, efforts, link masses/COMs) come from the vendor URDF
(interbotix wx250s.urdf.xacro); the model itself is the project's own, built from capsules and boxes.

Frames follow the URDF: every body sits at its joint origin with the URDF link orientation (all joint
rpy are zero in this arm), so MuJoCo body poses equal URDF link poses.

Gripper: `left_finger` slides along +y of fingers_link over 0.015..0.037 m (URDF limits). `right_finger`
uses the ROS 2 Interbotix convention (range -0.037..-0.015, mimic -1 of left_finger; the SRDF state
"Grasping" is 0.015/-0.015) and is tied to left_finger by a joint equality. The finger pads' inner faces
sit on the finger-link origins, so the pad-to-pad width is exactly the finger-link separation 2 * left_finger:
30 mm (closed) .. 74 mm (open). The real pad-to-pad opening depends on the finger mesh and is not
verified; the finger-link range is the verified fact.
"""

from __future__ import annotations

import mujoco

from ._mjcf import attach_parts, check_base_pose, check_prefix, fmt, inertial, wrap_standalone

ARM_JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
FINGER_JOINTS = ("left_finger", "right_finger")
EE_SITE = "ee_gripper_link"
GRIPPER_ACTUATOR = "gripper"

# URDF limits (rad). forearm_roll / wrist_rotate are +-(pi - 1e-5) in the URDF.
JOINT_LIMITS = {
    "waist": (-3.141592653589793, 3.141592653589793),
    "shoulder": (-1.8849555921538759, 1.9896753472735358),
    "elbow": (-2.1467549799530254, 1.6057029118347832),
    "forearm_roll": (-3.141582653589793, 3.141582653589793),
    "wrist_angle": (-1.7453292519943295, 2.1467549799530254),
    "wrist_rotate": (-3.141582653589793, 3.141582653589793),
}
VELOCITY_LIMITS = (3.141592653589793,) * 6  # rad/s, URDF
# URDF effort limits (N m) -> actuator force ranges.
JOINT_EFFORT = {"waist": 10.0, "shoulder": 20.0, "elbow": 15.0, "forearm_roll": 2.0,
                "wrist_angle": 5.0, "wrist_rotate": 1.0}

FINGER_MIN = 0.015  # m, per finger, from the fingers_link centre line (URDF left_finger lower limit)
FINGER_MAX = 0.037  # m (URDF upper limit)
GRIPPER_MIN_WIDTH = 2 * FINGER_MIN  # 0.030 m pad-to-pad (see module docstring)
GRIPPER_MAX_WIDTH = 2 * FINGER_MAX  # 0.074 m

# Named states from the Interbotix SRDF / motor config.
HOME = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
SLEEP = (0.0, -1.80, 1.55, 0.0, 0.8, 0.0)

# Distances along the gripper x axis (URDF fixed joints).
_EE_ARM_X = 0.043                    # gripper_link -> ee_arm_link
_FINGERS_X = _EE_ARM_X + 0.023       # -> gripper_bar_link -> fingers_link
_EE_GRIPPER_X = _FINGERS_X + 0.027575  # -> ee_gripper_link (TCP between the fingertips)

# Servo model: stiffness chosen so gravity-compensated tracking error stays well under 1 mm at the
# tool; armature stands in for the Dynamixel rotor inertia reflected through the gearbox, which is
# what keeps the light wrist links stable at a 2 ms step.
_KP = {"waist": 60.0, "shoulder": 80.0, "elbow": 60.0, "forearm_roll": 20.0, "wrist_angle": 25.0,
       "wrist_rotate": 10.0}
_DAMPING = {"waist": 3.0, "shoulder": 4.0, "elbow": 3.0, "forearm_roll": 0.8, "wrist_angle": 1.0,
            "wrist_rotate": 0.4}
_ARMATURE = {"waist": 0.04, "shoulder": 0.05, "elbow": 0.04, "forearm_roll": 0.01, "wrist_angle": 0.01,
             "wrist_rotate": 0.005}

# Collision filtering: robot geoms (contype 2, conaffinity 1) touch the scene's default geoms (1/1)
# but never each other, so capsule overlaps at the joints cannot lock the arm.
_ARM_COL = 'contype="2" conaffinity="1"'
_RGBA_ARM = 'rgba="0.15 0.15 0.15 1"'
_RGBA_LINK = 'rgba="0.55 0.1 0.1 1"'


def widowx250_width_to_ctrl(width: float) -> float:
    """Pad-to-pad width (m) -> left_finger position command (m)."""
    return 0.5 * float(width)


def widowx250_ctrl_to_width(ctrl: float) -> float:
    return 2.0 * float(ctrl)


def widowx250_parts(prefix: str = "", base_pos=(0.0, 0.0, 0.0), base_quat=(1.0, 0.0, 0.0, 0.0)) -> dict:
    """MJCF fragments {body, actuators, equalities, excludes} so a scene can splice the arm into its own
    XML (inside <worldbody>, <actuator>, <equality>, <contact>). The host document must use
    <compiler angle="radian"/> (ranges are radians) and should use integrator="implicitfast"."""
    p = check_prefix(prefix)
    pos, quat = check_base_pose(base_pos, base_quat)

    def j(name: str) -> str:
        lo, hi = JOINT_LIMITS[name]
        return (f'<joint name="{p}{name}" type="hinge" axis="{{axis}}" range="{lo!r} {hi!r}" '
                f'damping="{_DAMPING[name]}" armature="{_ARMATURE[name]}"/>')

    body = f"""
    <body name="{p}base_link" pos="{fmt(pos)}" quat="{fmt(quat)}">
      {inertial(0.538736, (-0.0380446, 0.000613892, 0.0193354), (0.002115, 0.0006921, 0.002524, -1.635e-05, 6.998e-07, 4.642e-05), (0, 0, 1.5707963267948966))}
      <geom name="{p}base_geom" type="cylinder" size="0.05 0.03" pos="0 0 0.03" {_ARM_COL} {_RGBA_ARM}/>
      <site name="{p}base_link_site" pos="0 0 0" size="0.005" group="4"/>
      <body name="{p}shoulder_link" pos="0 0 0.072" gravcomp="1">
        {inertial(0.480879, (2.23482e-05, 4.14609e-05, 0.0066287), (0.000379, 0.0005557, 0.0005889, 2.2e-09, -3.561e-07, 1.2245e-06), (0, 0, 1.5707963267948966))}
        {j("waist").format(axis="0 0 1")}
        <geom name="{p}shoulder_geom" type="cylinder" size="0.045 0.02" pos="0 0 0.015" {_ARM_COL} {_RGBA_ARM}/>
        <body name="{p}upper_arm_link" pos="0 0 0.03865" gravcomp="1">
          {inertial(0.430811, (0.0171605, 2.725e-07, 0.191323), (0.003463, 0.003587, 0.0004566, -1e-10, -2e-10, 0.0004272), (0, 0, 1.5707963267948966))}
          {j("shoulder").format(axis="0 1 0")}
          <geom name="{p}upper_arm_geom" type="capsule" fromto="0 0 0 0 0 0.25" size="0.025" {_ARM_COL} {_RGBA_LINK}/>
          <geom name="{p}upper_arm_elbow_geom" type="capsule" fromto="0 0 0.25 0.04975 0 0.25" size="0.025" {_ARM_COL} {_RGBA_LINK}/>
          <body name="{p}upper_forearm_link" pos="0.04975 0 0.25" gravcomp="1">
            {inertial(0.234589, (0.107963, 0.000115876, 0.0), (3.971e-05, 0.0008878, 0.000888, 2.3528e-06, 0.0, 0.0))}
            {j("elbow").format(axis="0 1 0")}
            <geom name="{p}upper_forearm_geom" type="capsule" fromto="0 0 0 0.175 0 0" size="0.022" {_ARM_COL} {_RGBA_LINK}/>
            <body name="{p}lower_forearm_link" pos="0.175 0 0" gravcomp="1">
              {inertial(0.220991, (0.0374395, 0.00522252, 0.0), (6.369e-05, 0.0001677, 0.0001834, -2.292e-05, 0.0, 0.0), (3.141592653589793, 0, 0))}
              {j("forearm_roll").format(axis="1 0 0")}
              <geom name="{p}lower_forearm_geom" type="capsule" fromto="0 0 0 0.075 0 0" size="0.02" {_ARM_COL} {_RGBA_LINK}/>
              <body name="{p}wrist_link" pos="0.075 0 0" gravcomp="1">
                {inertial(0.084957, (0.04236, -1.0663e-05, 0.010577), (3.082e-05, 2.822e-05, 3.152e-05, 1.91e-08, 2.3e-09, 2.5481e-06), (0, 0, 1.5707963267948966))}
                {j("wrist_angle").format(axis="0 1 0")}
                <geom name="{p}wrist_geom" type="capsule" fromto="0 0 0 0.065 0 0" size="0.018" {_ARM_COL} {_RGBA_ARM}/>
                <body name="{p}gripper_link" pos="0.065 0 0" gravcomp="1">
                  {inertial(0.072885 + 0.00434 + 0.034199, (0.03, 0.0, 0.008), (2.537e-05 + 7.4e-06, 1.836e-05 + 2.84e-05, 1.674e-05 + 2.86e-05, 0.0, 0.0, 0.0), (0, 0, 1.5707963267948966))}
                  {j("wrist_rotate").format(axis="1 0 0")}
                  <!-- gripper_link + gripper_prop_link + gripper_bar_link lumped (fixed joints in the URDF) -->
                  <geom name="{p}gripper_geom" type="box" size="0.028 0.045 0.02" pos="0.032 0 0" {_ARM_COL} {_RGBA_ARM}/>
                  <site name="{p}ee_arm_link" pos="{_EE_ARM_X!r} 0 0" size="0.004" group="4"/>
                  <site name="{p}fingers_link" pos="{_FINGERS_X!r} 0 0" size="0.004" group="4"/>
                  <site name="{p}{EE_SITE}" pos="{_EE_GRIPPER_X!r} 0 0" size="0.006" rgba="0 1 0 0.6" group="2"/>
                  <body name="{p}left_finger_link" pos="{_FINGERS_X!r} 0 0" gravcomp="1">
                    {inertial(0.016246, (0.013816, 0.0, 0.0), (4.731e-06, 1.5506e-06, 3.7467e-06, -4.56e-07, 0.0, 0.0), (3.141592653589793, 3.141592653589793, 1.5707963267948966))}
                    <joint name="{p}left_finger" type="slide" axis="0 1 0" range="{FINGER_MIN!r} {FINGER_MAX!r}" damping="20" armature="0.05"/>
                    <!-- pad inner face on the finger-link origin (y = 0) so width = 2 * left_finger -->
                    <geom name="{p}left_finger_pad" type="box" size="0.018 0.004 0.012" pos="0.0276 0.004 0" condim="4" friction="1.0 0.01 0.0001" {_ARM_COL} {_RGBA_ARM}/>
                  </body>
                  <body name="{p}right_finger_link" pos="{_FINGERS_X!r} 0 0" gravcomp="1">
                    {inertial(0.016246, (0.013816, 0.0, 0.0), (4.731e-06, 1.5506e-06, 3.7467e-06, 4.56e-07, 0.0, 0.0), (0, 3.141592653589793, 1.5707963267948966))}
                    <joint name="{p}right_finger" type="slide" axis="0 1 0" range="{-FINGER_MAX!r} {-FINGER_MIN!r}" damping="20" armature="0.05"/>
                    <geom name="{p}right_finger_pad" type="box" size="0.018 0.004 0.012" pos="0.0276 -0.004 0" condim="4" friction="1.0 0.01 0.0001" {_ARM_COL} {_RGBA_ARM}/>
                  </body>
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>"""

    actuators = "\n".join(
        f'    <position name="{p}{n}" joint="{p}{n}" kp="{_KP[n]}" ctrlrange="{JOINT_LIMITS[n][0]!r} {JOINT_LIMITS[n][1]!r}" '
        f'forcerange="{-JOINT_EFFORT[n]} {JOINT_EFFORT[n]}"/>'
        for n in ARM_JOINTS
    )
    # Gripper servo drives left_finger only (the ros2_control gripper controller also commands left_finger).
    # ~15 N squeeze limit: an XM430-class horn (0.024 m arm) at ~1.4 N m stall scaled down for gentle grasps.
    actuators += (f'\n    <position name="{p}{GRIPPER_ACTUATOR}" joint="{p}left_finger" kp="2000" '
                  f'ctrlrange="{FINGER_MIN!r} {FINGER_MAX!r}" forcerange="-15 15"/>')
    equalities = (f'    <joint name="{p}finger_mimic" joint1="{p}right_finger" joint2="{p}left_finger" '
                  f'polycoef="0 -1 0 0 0" solref="0.005 1"/>')
    return {"body": body, "actuators": actuators, "equalities": equalities, "excludes": ""}


def widowx250_mjcf(prefix: str = "", base_pos=(0.0, 0.0, 0.0), base_quat=(1.0, 0.0, 0.0, 0.0)) -> str:
    """Complete MJCF document with the WidowX 250 6-DoF + gripper, base_link at (base_pos, base_quat)."""
    parts = widowx250_parts(prefix, base_pos, base_quat)
    return wrap_standalone("wx250s", parts["body"], parts["actuators"], parts["equalities"], parts["excludes"])


def add_widowx250(spec: mujoco.MjSpec, prefix: str = "wx250s/", base_pos=(0.0, 0.0, 0.0),
                  base_quat=(1.0, 0.0, 0.0, 0.0)) -> mujoco.MjsBody:
    """Attach the arm (bodies, actuators, equality) to an existing MjSpec; returns its base body.

    The prefix must be non-empty here: MuJoCo warns (and writes MUJOCO_LOG.TXT) when attaching with an
    empty prefix. For unprefixed names splice `widowx250_parts()` into the scene XML instead.
    """
    return attach_parts(spec, widowx250_parts("", base_pos, base_quat), prefix, "add_widowx250")
