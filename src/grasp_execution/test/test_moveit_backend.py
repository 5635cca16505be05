"""Arm set-ups and the grasp arithmetic behind the MoveIt backend (pure), plus a live moveit_py check that
only runs where moveit_py is installed (ROS 2 Jazzy / the Docker image)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from grasp_execution import arms
from grasp_execution.arms import (command_to_opening, grasp_waypoints, is_fully_closed, load_arm_config,
                                  opening_to_command)


@pytest.fixture(scope="module")
def widowx():
    return load_arm_config("widowx")


@pytest.fixture(scope="module")
def kinova():
    return load_arm_config("kinova")


def rot_x(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def top_down(p=(0.3, 0.0, 0.05), yaw=0.0):
    """base_T_grasp with approach (grasp +z) = base -z, closing (grasp +x) = (cos yaw, sin yaw, 0)."""
    T = np.eye(4)
    T[:3, :3] = rot_z(yaw) @ rot_x(math.pi)     # x stays horizontal, z points down
    T[:3, 3] = p
    return T


def is_rotation(R):
    return np.allclose(R.T @ R, np.eye(3), atol=1e-9) and abs(np.linalg.det(R) - 1) < 1e-9


# ----------------------------------------------------------------------------------------- configs

def test_both_arm_configs_load_with_the_reference_names(widowx, kinova):
    assert arms.available_arms() == ["kinova", "widowx"]
    assert (widowx.name, widowx.base_frame, widowx.ee_link) == ("widowx", "wx250s/base_link",
                                                                "wx250s/ee_gripper_link")
    assert (widowx.arm_group, widowx.gripper_group, widowx.gripper.joint) == (
        "interbotix_arm", "interbotix_gripper", "left_finger")
    assert widowx.gripper.units == "finger_m"
    assert (kinova.name, kinova.base_frame, kinova.ee_link) == ("kinova", "base_link", "end_effector_link")
    assert (kinova.arm_group, kinova.gripper_group, kinova.gripper.joint) == (
        "manipulator", "gripper", "robotiq_85_left_knuckle_joint")
    assert kinova.gripper.units == "knuckle_rad"
    assert kinova.controllers["gripper"] == "robotiq_gripper_controller"
    for cfg in (widowx, kinova):
        assert (cfg.pregrasp_distance, cfg.grasp_depth, cfg.lift) == (0.10, 0.02, 0.10)
        assert cfg.planning.cartesian_pipeline == "pilz_industrial_motion_planner"
        assert cfg.planning.cartesian_planner_id == "LIN"
        assert is_rotation(cfg.ee_R_grasp)


def test_config_by_path_and_unknown_name(widowx, tmp_path):
    assert load_arm_config(widowx.source) == widowx
    with pytest.raises(arms.ArmConfigError, match="available"):
        load_arm_config("ur5")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    with pytest.raises(arms.ArmConfigError, match="gripper"):
        load_arm_config(bad)


def test_ee_axes_conventions(widowx, kinova):
    # WidowX ee_gripper_link: x = approach, y = finger axis, z = x cross y
    np.testing.assert_allclose(widowx.grasp_R_ee, [[0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-12)
    assert (widowx.approach_axis, widowx.finger_axis) == (0, 1)
    # Kinova end_effector_link: z = approach, x = closing -> identity
    np.testing.assert_allclose(kinova.grasp_R_ee, np.eye(3), atol=1e-12)
    assert (kinova.approach_axis, kinova.finger_axis) == (2, 0)


# ----------------------------------------------------------------------------------------- gripper

def test_widowx_opening_is_half_per_finger_and_clipped(widowx):
    assert opening_to_command(widowx, 0.05) == pytest.approx(0.025)
    assert opening_to_command(widowx, 0.2) == pytest.approx(0.037)
    assert opening_to_command(widowx, 0.01) == pytest.approx(0.015)
    assert opening_to_command(widowx, 0.0) == pytest.approx(0.015)
    assert command_to_opening(widowx, 0.025) == pytest.approx(0.05)
    assert command_to_opening(widowx, 0.5) == pytest.approx(0.074)


def test_robotiq_knuckle_map(kinova):
    assert opening_to_command(kinova, 0.085) == pytest.approx(0.0)
    assert opening_to_command(kinova, 0.0) == pytest.approx(0.8)
    assert opening_to_command(kinova, 0.3) == pytest.approx(0.0)    # clipped at fully open
    openings = np.linspace(0.0, 0.085, 18)
    commands = [opening_to_command(kinova, o) for o in openings]
    assert all(a > b for a, b in zip(commands, commands[1:]))      # wider = smaller knuckle angle
    for o in openings:
        assert command_to_opening(kinova, opening_to_command(kinova, o)) == pytest.approx(o, abs=1e-12)
    assert command_to_opening(kinova, 0.8) == pytest.approx(0.0)
    assert command_to_opening(kinova, 0.9) == pytest.approx(0.0)   # past the range: clipped


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.01, "wide"])
def test_bad_openings_raise_naming_the_parameter(widowx, kinova, bad):
    for cfg in (widowx, kinova):
        with pytest.raises(ValueError, match="opening_m"):
            opening_to_command(cfg, bad)
    with pytest.raises(ValueError, match="command"):
        command_to_opening(widowx, float("nan"))


def test_approach_opening_adds_the_margin_and_flags_too_wide(widowx, kinova):
    assert arms.approach_opening(widowx, 0.04) == (pytest.approx(0.05), False)
    assert arms.approach_opening(widowx, 0.01) == (pytest.approx(0.030), False)   # never below closed
    assert arms.approach_opening(widowx, 0.08) == (pytest.approx(0.074), True)
    assert arms.approach_opening(kinova, 0.08) == (pytest.approx(0.085), False)
    with pytest.raises(ValueError, match="width_m"):
        arms.approach_opening(kinova, float("nan"))


def test_is_fully_closed(widowx, kinova):
    assert is_fully_closed(widowx, 0.030)
    assert is_fully_closed(widowx, 0.033)
    assert not is_fully_closed(widowx, 0.040)        # fingers stopped on something
    assert not is_fully_closed(widowx, 0.033, tol=0.001)
    assert is_fully_closed(kinova, command_to_opening(kinova, 0.8))
    assert not is_fully_closed(kinova, command_to_opening(kinova, 0.5))   # ~32 mm: held
    with pytest.raises(ValueError, match="opening_measured"):
        is_fully_closed(kinova, float("nan"))


def test_tcp_offset_follows_the_opening(widowx, kinova):
    assert arms.tcp_offset_at(widowx, 0.03) == arms.tcp_offset_at(widowx, 0.074) == widowx.tcp_offset
    assert arms.tcp_offset_at(kinova, 0.085) == pytest.approx(kinova.tcp_offset)
    assert arms.tcp_offset_at(kinova, 0.0) == pytest.approx(kinova.tcp_offset_closed)
    assert kinova.tcp_offset < arms.tcp_offset_at(kinova, 0.04) < kinova.tcp_offset_closed
    assert 0.13 < kinova.tcp_offset < kinova.tcp_offset_closed < 0.16   # Robotiq tips ~0.14-0.15 m out


# ----------------------------------------------------------------------------------------- poses

@pytest.mark.parametrize("arm", ["widowx", "kinova"])
def test_top_down_waypoints(arm):
    cfg = load_arm_config(arm)
    wp = grasp_waypoints(cfg, top_down((0.3, 0.0, 0.05)), 0.10)
    assert set(wp) == {"pregrasp", "grasp", "lift"}
    tcp = cfg.tcp_offset
    np.testing.assert_allclose(wp["grasp"][:3, 3], [0.3, 0.0, 0.05 - cfg.grasp_depth + tcp], atol=1e-12)
    np.testing.assert_allclose(wp["pregrasp"][:3, 3], wp["grasp"][:3, 3] + [0, 0, cfg.pregrasp_distance],
                               atol=1e-12)
    np.testing.assert_allclose(wp["lift"][:3, 3], wp["grasp"][:3, 3] + [0, 0, 0.10], atol=1e-12)
    R = wp["grasp"][:3, :3]
    assert is_rotation(R)
    for name in ("pregrasp", "lift"):
        np.testing.assert_allclose(wp[name][:3, :3], R, atol=1e-12)
        np.testing.assert_allclose(wp[name][3], [0, 0, 0, 1])
    # the ee approach axis points down and its finger axis is the grasp's closing axis
    np.testing.assert_allclose(R[:, cfg.approach_axis], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(R[:, cfg.finger_axis], [1, 0, 0], atol=1e-12)
    # a grasp that carries its own approach depth (a 6-DoF model's, Grasp.grasp_depth) is taken that deep
    deep = grasp_waypoints(cfg, top_down((0.3, 0.0, 0.05)), 0.10, depth=cfg.grasp_depth + 0.01)
    np.testing.assert_allclose(deep["grasp"][:3, 3], wp["grasp"][:3, 3] - [0, 0, 0.01], atol=1e-12)


@pytest.mark.parametrize("arm", ["widowx", "kinova"])
def test_closing_axis_maps_onto_the_finger_axis_for_any_yaw(arm):
    cfg = load_arm_config(arm)
    for yaw in np.linspace(-math.pi, math.pi, 9):
        T = top_down(yaw=yaw)
        R = grasp_waypoints(cfg, T)["grasp"][:3, :3]
        np.testing.assert_allclose(R[:, cfg.finger_axis], T[:3, 0], atol=1e-12)
        np.testing.assert_allclose(R[:, cfg.approach_axis], T[:3, 2], atol=1e-12)
        flipped = grasp_waypoints(cfg, T, flip=True)["grasp"]
        np.testing.assert_allclose(flipped[:3, cfg.finger_axis], -T[:3, 0], atol=1e-12)   # same grasp line
        np.testing.assert_allclose(flipped[:3, 3], grasp_waypoints(cfg, T)["grasp"][:3, 3], atol=1e-12)
        assert is_rotation(flipped[:3, :3])


@pytest.mark.parametrize("arm", ["widowx", "kinova"])
def test_tilted_approach_pregrasp_lies_back_along_the_approach(arm):
    cfg = load_arm_config(arm)
    T = top_down((0.3, 0.1, 0.08))
    T[:3, :3] = rot_x(0.5) @ T[:3, :3]          # approach tilted 0.5 rad off vertical
    a = T[:3, 2]
    assert a[2] < -0.8 and abs(a[1]) > 0.4
    wp = grasp_waypoints(cfg, T, 0.05)
    np.testing.assert_allclose(wp["grasp"][:3, 3], T[:3, 3] + (cfg.grasp_depth - cfg.tcp_offset) * a, atol=1e-12)
    back = wp["pregrasp"][:3, 3] - wp["grasp"][:3, 3]
    np.testing.assert_allclose(back, -cfg.pregrasp_distance * a, atol=1e-12)
    np.testing.assert_allclose(wp["lift"][:3, 3] - wp["grasp"][:3, 3], [0, 0, 0.05], atol=1e-12)  # base +z
    R = wp["grasp"][:3, :3]
    np.testing.assert_allclose(R[:, cfg.approach_axis], a, atol=1e-12)
    np.testing.assert_allclose(R[:, cfg.finger_axis], T[:3, 0], atol=1e-12)


def test_lift_default_opening_and_floor(kinova, widowx):
    T = top_down((0.4, 0.0, 0.012))
    for lift in (None, 0.0, float("nan")):
        wp = grasp_waypoints(kinova, T, lift)
        assert wp["lift"][2, 3] - wp["grasp"][2, 3] == pytest.approx(kinova.lift)
    # a narrower approach opening pushes the Robotiq pads further out: ee_link stays higher
    z_open = grasp_waypoints(kinova, T, opening_m=0.085)["grasp"][2, 3]
    z_narrow = grasp_waypoints(kinova, T, opening_m=0.03)["grasp"][2, 3]
    assert z_narrow > z_open
    # 12 mm object on a table at z = 0: tips stop tip_clearance above the table, not 20 mm down
    wp = grasp_waypoints(widowx, T, floor_z=0.0)
    tips_z = wp["grasp"][2, 3] - widowx.tcp_offset
    assert tips_z == pytest.approx(widowx.table.tip_clearance)
    assert arms.effective_grasp_depth(widowx, top_down((0.3, 0, 0.2)), floor_z=0.0) == widowx.grasp_depth


def test_bad_grasp_poses_raise(widowx):
    T = top_down()
    T[0, 0] = 2.0
    with pytest.raises(ValueError, match="rigid"):
        grasp_waypoints(widowx, T)
    with pytest.raises(ValueError, match="4x4"):
        grasp_waypoints(widowx, np.eye(3))
    T = top_down()
    T[0, 3] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        grasp_waypoints(widowx, T)


def test_quaternions_round_trip(widowx):
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        x, y, z, w = q
        R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, [0.1, 0.2, 0.3]
        pos, quat = arms.xyz_quat(T)
        assert pos == pytest.approx([0.1, 0.2, 0.3])
        assert np.allclose(quat, q if q[3] >= 0 else -q, atol=1e-9)
    # a top-down WidowX pose (180 deg rotations hit the trace <= 0 branch)
    _, quat = arms.xyz_quat(grasp_waypoints(widowx, top_down())["grasp"])
    assert np.linalg.norm(quat) == pytest.approx(1.0)


def test_table_box_and_moveit_params(widowx, kinova):
    size, center = arms.table_box(widowx)
    assert center[2] + size[2] / 2 == pytest.approx(widowx.table.top_z)
    size, center = arms.table_box(kinova, size=[2, 2, 0.1], center_xy=[0.5, 0], top_z=-0.02)
    assert size == [2, 2, 0.1] and center == pytest.approx([0.5, 0, -0.07])
    with pytest.raises(ValueError, match="size"):
        arms.table_box(kinova, size=[1, 1, -0.1])
    params = arms.moveit_cpp_params(widowx)
    assert params["planning_pipelines"]["pipeline_names"] == ["ompl", "pilz_industrial_motion_planner"]
    assert params["planning_scene_monitor_options"]["joint_state_topic"] == "/wx250s/joint_states"
    assert params["plan_request_params"]["planning_pipeline"] == "ompl"


# ----------------------------------------------------------------------------------------- live

def test_moveit_backend_constructs_where_moveit_py_exists():
    pytest.importorskip("moveit.planning", reason="moveit_py is not installed (ROS 2 Jazzy / Docker image only)")
    from grasp_execution.backends.moveit import MoveItBackend
    backend = MoveItBackend("widowx")      # needs the robot's move_group parameters and a running robot
    try:
        assert backend.arm == "widowx" and backend.base_frame == "wx250s/base_link"
        names, positions = backend.joint_state()
        assert "left_finger" in names and len(names) == len(positions)
    finally:
        backend.shutdown()


def test_backend_module_imports_without_moveit_py_and_says_why():
    from grasp_execution.backends import moveit as backend_module
    try:
        import moveit.planning  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="moveit_py is not installed.*ros-jazzy-moveit-py"):
            backend_module.MoveItBackend("kinova")
    else:
        pytest.skip("moveit_py is installed here")
