"""Tests for the simulated arm models (grasp_sim.robots): names, URDF-consistent FK, IK, gripper."""

import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

try:
    import grasp_sim.robots  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mujoco  # noqa: E402

from grasp_sim.robots import kinova_gen3, widowx250  # noqa: E402
from grasp_sim.robots.arm import (  # noqa: E402
    ARMS, KINOVA, WIDOWX, UnreachableError, joint_trajectory, set_gripper_width, solve_ik,
    solve_ik_or_raise, top_down_grasp_orientation)

URDF_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "robots"
URDF = {"widowx": URDF_DIR / "wx250s.urdf", "kinova": URDF_DIR / "kinova_gen3_7dof.urdf"}


def _compile(arm, **kw):
    model = mujoco.MjModel.from_xml_string(arm.mjcf(**kw))
    return model, mujoco.MjData(model)


# ----- independent URDF forward kinematics (numpy only) -------------------------------------------------
def _rpy(r, p, y):
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return (np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]]) @ np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
            @ np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]]))


def _axis_rot(axis, angle):
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx


def _urdf_fk(path, q: dict):
    """World transform (4x4) of every link of a URDF for joint values q (base_link at identity)."""
    root = ET.parse(path).getroot()
    joints = {}
    for j in root.findall("joint"):
        o = j.find("origin")
        xyz = [float(v) for v in o.get("xyz", "0 0 0").split()] if o is not None else [0, 0, 0]
        rpy = [float(v) for v in o.get("rpy", "0 0 0").split()] if o is not None else [0, 0, 0]
        ax = j.find("axis")
        axis = [float(v) for v in ax.get("xyz").split()] if ax is not None else [1, 0, 0]
        joints[j.find("child").get("link")] = (j.get("name"), j.get("type"), j.find("parent").get("link"),
                                                np.array(xyz), _rpy(*rpy), axis)
    cache = {"base_link": np.eye(4)}

    def tf(link):
        if link not in cache:
            name, jtype, parent, xyz, rot, axis = joints[link]
            t = np.eye(4)
            t[:3, :3], t[:3, 3] = rot, xyz
            m = np.eye(4)
            v = q.get(name, 0.0)
            if jtype in ("revolute", "continuous"):
                m[:3, :3] = _axis_rot(axis, v)
            elif jtype == "prismatic":
                m[:3, 3] = np.asarray(axis, float) * v
            cache[link] = tf(parent) @ t @ m
        return cache[link]

    return {link: tf(link) for link in list(joints) + ["base_link"]}


def _random_q(model, arm, rng):
    lo, hi = arm.joint_limits(model)
    return rng.uniform(np.where(np.isfinite(lo), lo, -math.pi), np.where(np.isfinite(hi), hi, math.pi))


# ----- compile / names --------------------------------------------------------------------------------
def test_models_compile_and_use_real_joint_names():
    m, _ = _compile(WIDOWX)
    names = [m.joint(i).name for i in range(m.njnt)]
    assert names == ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate",
                     "left_finger", "right_finger"]
    assert m.site("ee_gripper_link").id >= 0

    m, _ = _compile(KINOVA)
    names = [m.joint(i).name for i in range(m.njnt)]
    assert names[:7] == [f"joint_{i}" for i in range(1, 8)]
    assert sorted(names[7:]) == sorted([
        "robotiq_85_left_knuckle_joint", "robotiq_85_right_knuckle_joint",
        "robotiq_85_left_inner_knuckle_joint", "robotiq_85_right_inner_knuckle_joint",
        "robotiq_85_left_finger_tip_joint", "robotiq_85_right_finger_tip_joint"])
    assert m.site("end_effector_link").id >= 0 and m.site("tool_frame").id >= 0
    # continuous joints in the URDF stay unlimited; the others carry the URDF range
    assert [bool(m.jnt_limited[m.joint(f"joint_{i}").id]) for i in range(1, 8)] == [False, True, False, True, False, True, False]
    assert m.jnt_range[m.joint("joint_2").id].tolist() == [-2.24, 2.24]


def test_bad_builder_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="base_pos"):
        widowx250.widowx250_mjcf(base_pos=(0, 0))
    with pytest.raises(ValueError, match="base_quat"):
        kinova_gen3.kinova_gen3_mjcf(base_quat=(0, 0, 0, 0))
    with pytest.raises(ValueError, match="prefix"):
        widowx250.widowx250_mjcf(prefix="a b")
    with pytest.raises(ValueError, match="prefix must be non-empty"):
        WIDOWX.add_to_spec(mujoco.MjSpec())


# ----- FK against the vendor URDF -----------------------------------------------------------------------
@pytest.mark.parametrize("arm_name", ["widowx", "kinova"])
def test_fk_matches_vendor_urdf(arm_name):
    if not URDF[arm_name].exists():
        pytest.skip(f"vendor URDF not available at {URDF[arm_name]}")
    arm = ARMS[arm_name]
    base_pos, yaw = np.array([0.3, -0.2, 0.75]), 0.7  # non-trivial base placement
    base_quat = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
    model, data = _compile(arm, base_pos=base_pos, base_quat=base_quat)
    t_base = np.eye(4)
    t_base[:3, :3], t_base[:3, 3] = _axis_rot([0, 0, 1], yaw), base_pos
    rng = np.random.default_rng(1)
    configs = [np.zeros(arm.dof), np.asarray(arm.home)] + [_random_q(model, arm, rng) for _ in range(3)]
    links = (["shoulder_link", "upper_arm_link", "upper_forearm_link", "lower_forearm_link", "wrist_link",
              "gripper_link", "left_finger_link", "right_finger_link"] if arm_name == "widowx" else
             ["shoulder_link", "half_arm_1_link", "half_arm_2_link", "forearm_link", "spherical_wrist_1_link",
              "spherical_wrist_2_link", "bracelet_link"])
    site = "ee_gripper_link" if arm_name == "widowx" else "end_effector_link"
    for q in configs:
        qd = dict(zip(arm.joint_names, q))
        if arm_name == "widowx":
            # vendor URDF: right_finger axis -y, positive; ours (ROS 2 convention): axis +y, negative
            data.qpos[model.joint("left_finger").qposadr[0]] = 0.03
            data.qpos[model.joint("right_finger").qposadr[0]] = -0.03
            qd.update(left_finger=0.03, right_finger=0.03)
        arm.set_q(model, data, q)
        fk = _urdf_fk(URDF[arm_name], qd)
        for link in links:
            want = (t_base @ fk[link])
            assert np.linalg.norm(data.body(link).xpos - want[:3, 3]) < 1e-3, (link, q)
            assert np.abs(data.body(link).xmat.reshape(3, 3) - want[:3, :3]).max() < 1e-3, (link, q)
        want = t_base @ fk[site]
        assert np.linalg.norm(data.site(site).xpos - want[:3, 3]) < 1e-3, q
        assert np.abs(data.site(site).xmat.reshape(3, 3) - want[:3, :3]).max() < 1e-3, q


def test_widowx_home_matches_interbotix_home_matrix():
    # modern-robotics M for wx250s: ee_gripper_link at x 0.458325, z 0.36065 at zero joints
    model, data = _compile(WIDOWX)
    WIDOWX.set_q(model, data, WIDOWX.home)
    assert np.allclose(data.site("ee_gripper_link").xpos, [0.458325, 0, 0.36065], atol=1e-6)


# ----- IK -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arm_name,target", [("widowx", (0.30, 0.08, 0.06)), ("kinova", (0.50, -0.15, 0.10))])
def test_ik_reaches_top_down_target(arm_name, target):
    arm = ARMS[arm_name]
    model, data = _compile(arm)
    arm.set_q(model, data, arm.home)
    qpos_before = data.qpos.copy()
    res = solve_ik(model, data, arm, target, yaw=0.6)
    assert res.converged and res.pos_err < 2e-3 and res.rot_err < 0.02
    assert np.array_equal(data.qpos, qpos_before)  # data untouched
    lo, hi = arm.joint_limits(model)
    assert np.all(res.q >= lo - 1e-6) and np.all(res.q <= hi + 1e-6)
    arm.set_q(model, data, res.q)  # check with MuJoCo FK, not the solver's own numbers
    pos, _ = arm.ee_pose(model, data)
    assert np.linalg.norm(pos - target) < 2e-3
    rot = data.site(arm.ee_site).xmat.reshape(3, 3)
    assert np.dot(rot @ arm.approach_axis, [0, 0, -1]) > math.cos(0.02)
    closing = rot @ arm.closing_axis
    assert abs(np.dot(closing, [math.cos(0.6), math.sin(0.6), 0])) > math.cos(0.02)  # yaw or yaw + pi


@pytest.mark.parametrize("arm_name", ["widowx", "kinova"])
def test_ik_reports_unreachable_target(arm_name):
    arm = ARMS[arm_name]
    model, data = _compile(arm)
    res = solve_ik(model, data, arm, (2.0, 0.0, 0.2), yaw=0.0, restarts=1)
    assert not res.converged and res.pos_err > 0.5
    with pytest.raises(UnreachableError, match=r"unreachable.*residual"):
        solve_ik_or_raise(model, data, arm, (2.0, 0.0, 0.2), yaw=0.0, restarts=1)
    with pytest.raises(ValueError, match="exactly one of target_quat"):
        solve_ik(model, data, arm, (0.3, 0, 0.1))


def test_two_prefixed_arms_coexist_and_ik_moves_only_its_arm():
    spec = mujoco.MjSpec()
    wx, kv = WIDOWX.with_prefix("wx/"), KINOVA.with_prefix("kv/")
    wx.add_to_spec(spec, base_pos=(0, 0.6, 0))
    kv.add_to_spec(spec, base_pos=(0, -0.6, 0))
    free = spec.worldbody.add_body(name="obj", pos=[0.4, 0, 0.05])
    free.add_freejoint()
    free.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.02, 0.02, 0.02])
    model = spec.compile()
    data = mujoco.MjData(model)
    assert model.joint("wx/waist").id >= 0 and model.joint("kv/joint_7").id >= 0
    # ranges survive attaching (radians, not degrees)
    assert model.jnt_range[model.joint("wx/shoulder").id].tolist() == pytest.approx([-1.8849555921538759, 1.9896753472735358])
    assert model.jnt_range[model.joint("kv/joint_4").id].tolist() == [-2.57, 2.57]
    assert model.actuator("kv/gripper").id >= 0 and model.equality("kv/robotiq_85_right_knuckle_mimic").id >= 0
    kv.set_q(model, data, kv.home)
    wx.set_q(model, data, wx.home)
    before = data.qpos.copy()
    target = np.array([0.3, 0.6 + 0.05, 0.08])
    res = solve_ik(model, data, wx, target, yaw=0.0)
    assert res.converged
    after = before.copy()
    after[wx.qpos_adr(model)] = res.q
    data.qpos[:] = after
    mujoco.mj_forward(model, data)
    assert np.linalg.norm(data.site("wx/ee_gripper_link").xpos - target) < 2e-3
    others = np.setdiff1d(np.arange(model.nq), wx.qpos_adr(model))
    assert np.array_equal(after[others], before[others])


def test_top_down_orientation_axes():
    for yaw in (0.0, 1.0, -2.5):
        rot = np.empty(9)
        mujoco.mju_quat2Mat(rot, top_down_grasp_orientation(yaw))
        rot = rot.reshape(3, 3)
        assert np.allclose(rot[:, 2], [0, 0, -1]) and np.allclose(rot[:, 0], [math.cos(yaw), math.sin(yaw), 0])
        for arm in ARMS.values():
            mujoco.mju_quat2Mat(rot.reshape(9), top_down_grasp_orientation(yaw, arm))
            assert np.allclose(rot @ arm.approach_axis, [0, 0, -1])
            assert np.allclose(rot @ arm.closing_axis, [math.cos(yaw), math.sin(yaw), 0])


# ----- trajectory -----------------------------------------------------------------------------------------
def test_joint_trajectory_min_jerk():
    q0, q1 = np.array([0.0, 1.0, -0.5]), np.array([1.0, -1.0, 0.5])
    t, q, qd = joint_trajectory(q0, q1, 2.0, 0.01)
    assert t[0] == 0 and t[-1] == pytest.approx(2.0) and len(t) == 201
    assert np.allclose(q[0], q0) and np.allclose(q[-1], q1)
    assert np.allclose(qd[0], 0) and np.allclose(qd[-1], 0)
    assert np.allclose(q[100], 0.5 * (q0 + q1))                       # symmetric profile
    assert np.all(np.diff(q[:, 0]) >= -1e-12)                         # monotonic, no overshoot
    assert np.max(np.abs(qd[:, 0])) == pytest.approx(1.875 * 1.0 / 2.0, rel=1e-3)  # quintic peak 15/8 d/T
    with pytest.raises(ValueError, match="duration"):
        joint_trajectory(q0, q1, 0.0, 0.01)
    with pytest.raises(ValueError, match="equal length"):
        joint_trajectory(q0, q1[:2], 1.0, 0.01)


# ----- gripper --------------------------------------------------------------------------------------------
def test_gripper_ranges_match_real_grippers():
    # WidowX: finger links 15..37 mm from the centre line each (URDF) -> 30..74 mm
    assert WIDOWX.gripper_min_width == pytest.approx(0.030) and WIDOWX.gripper_max_width == pytest.approx(0.074)
    # Robotiq 2F-85: 0..85 mm stroke; knuckle 0 = open, 0.8 = closed
    assert KINOVA.gripper_max_width == pytest.approx(0.085, abs=1e-6)
    assert 0.0 <= KINOVA.gripper_min_width < 1e-3
    assert kinova_gen3.width_to_knuckle(0.085) == pytest.approx(0.0, abs=1e-9)
    assert kinova_gen3.width_to_knuckle(0.0) == pytest.approx(0.8)
    for w in (0.01, 0.04, 0.07):
        assert kinova_gen3.knuckle_to_width(kinova_gen3.width_to_knuckle(w)) == pytest.approx(w, abs=1e-9)
    model, data = _compile(WIDOWX)
    assert model.jnt_range[model.joint("left_finger").id].tolist() == [0.015, 0.037]
    with pytest.raises(ValueError, match="outside the widowx gripper range"):
        set_gripper_width(data, WIDOWX, 0.1, clip=False)


def _pad_gap(model, data, arm, pads):
    """Pad-to-pad distance along the closing axis, from the pad geoms' world poses."""
    axis = data.site(arm.ee_site).xmat.reshape(3, 3) @ np.asarray(arm.closing_axis)
    faces = []
    for name in pads:
        g = model.geom(name)
        center = data.geom(name).xpos
        half = g.size[0] if arm is KINOVA else g.size[1]  # thickness along closing axis
        side = np.sign(np.dot(center - data.site(arm.ee_site).xpos, axis))
        faces.append(np.dot(center, axis) - side * half)
    return abs(faces[0] - faces[1])


@pytest.mark.parametrize("arm_name,pads,widths", [
    ("widowx", ("left_finger_pad", "right_finger_pad"), (0.074, 0.05, 0.032)),
    ("kinova", ("robotiq_85_left_pad", "robotiq_85_right_pad"), (0.085, 0.06, 0.02)),
])
def test_gripper_width_command_after_physics(arm_name, pads, widths):
    arm = ARMS[arm_name]
    model, data = _compile(arm)
    arm.set_q(model, data, arm.home)
    for w in widths:
        set_gripper_width(data, arm, w)
        for _ in range(int(1.0 / model.opt.timestep)):
            mujoco.mj_step(model, data)
        assert _pad_gap(model, data, arm, pads) == pytest.approx(w, abs=3e-3), w
        assert arm.gripper_width(model, data) == pytest.approx(w, abs=3e-3)
    # the arm held its pose while the gripper moved (servos + gravity compensation)
    assert np.abs(arm.get_q(model, data) - np.asarray(arm.home)).max() < 0.01


def test_trajectory_duration_respects_velocity_limits():
    from grasp_sim.robots.arm import trajectory_duration

    q0 = np.zeros(7)
    q1 = np.array([0, 0, 0, 0, 2.0, 0, 0])
    T = trajectory_duration(KINOVA, q0, q1, speed_scale=0.5)
    _, _, qd = joint_trajectory(q0, q1, T, 0.001)
    assert np.max(np.abs(qd[:, 4])) == pytest.approx(0.5 * KINOVA.velocity_limits[4], rel=1e-2)
    assert trajectory_duration(KINOVA, q0, q0) == 0.5
    with pytest.raises(ValueError, match="speed_scale"):
        trajectory_duration(KINOVA, q0, q1, speed_scale=0)
