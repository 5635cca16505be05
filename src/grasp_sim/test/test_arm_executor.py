"""Grasp trials with the simulated WidowX 250s and Kinova Gen3 arms in the grasp cell."""

import sys
import time
from pathlib import Path

import numpy as np
import pytest

try:
    import grasp_sim  # noqa: F401  (first: it sets MUJOCO_GL before mujoco loads its GL bindings)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mujoco  # noqa: E402

from grasp_sim import GraspPose, SimCell, box_object  # noqa: E402
from grasp_sim.executors import (execute_grasp_with_arm, make_cell, pad_tip_offset, plan_arm_grasp,  # noqa: E402
                                 run_grasp)
from grasp_sim.robots import ARMS, UnreachableError  # noqa: E402
from grasp_sim.cell import ARM_BASE_DISTANCE  # noqa: E402

# Every side inside the gripper's range, whichever face the box rests on:
# WidowX pads 30..74 mm, Robotiq 2F-85 0..85 mm.
BOXES = {"widowx": (0.04, 0.05, 0.035), "kinova": (0.05, 0.06, 0.04)}


@pytest.fixture(scope="module", params=["widowx", "kinova"])
def arm_cell(request):
    with make_cell([box_object(BOXES[request.param])], request.param, seed=0) as c:
        yield request.param, c


def test_arm_replaces_floating_gripper_with_real_joint_names(arm_cell):
    name, cell = arm_cell
    arm, m = ARMS[name], cell.model
    assert cell.arm.name == name and cell.arm.prefix == ""
    for j in arm.joint_names + arm.gripper_joint_names:
        assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j) >= 0, j
    assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "hand") < 0  # no floating gripper
    base = m.body("base_link")
    assert np.allclose(base.pos, [-ARM_BASE_DISTANCE[name], 0.0, 0.0])
    cell.reset(0, seed=1)
    assert cell.last_settled
    np.testing.assert_allclose(arm.get_q(m, cell.data), cell.arm_rest_q, atol=0.02)
    assert cell.gripper_opening() == pytest.approx(arm.gripper_max_width, abs=2e-3)
    obs = cell.render(rgb=False, depth=False)
    assert (obs.segmentation == 0).sum() > 1000  # the rest pose leaves the box in view
    np.testing.assert_allclose(obs.camera_pose[:3, 3], [0.0, 0.0, 0.6])  # camera unchanged
    with pytest.raises(RuntimeError, match="instead of the floating gripper"):
        cell.teleport_gripper((0, 0, 0.2), 0.0, 0.05)


@pytest.mark.parametrize("seed", [1, 2])
def test_known_good_grasp_lifts_the_box(arm_cell, seed, across_box):
    name, cell = arm_cell
    cell.reset(0, seed=seed)
    grasp = across_box(cell, BOXES[name])
    t0 = time.perf_counter()
    result = run_grasp(cell, grasp, name)
    print(f"\n{name} grasp trial: {1e3 * (time.perf_counter() - t0):.0f} ms -> {result}")
    assert result.success, result.reason
    assert result.object_index == 0 and result.lift_height > 0.09
    assert cell.gripper_opening() == pytest.approx(grasp.width_m, abs=0.006)  # holding the box, not air


def test_grasp_beside_the_box_fails(arm_cell, across_box):
    name, cell = arm_cell
    cell.reset(0, seed=1)
    result = execute_grasp_with_arm(cell, across_box(cell, BOXES[name], dx=0.10))
    assert not result.success
    assert result.lift_height < 0.01 and result.reason.startswith("no object lifted")
    # a planned width above the gripper's max is clipped, and a failure says so
    wide = GraspPose(across_box(cell, BOXES[name], dx=0.10).position, 0.0, 0.2)
    cell.reset(0, seed=1)
    result = execute_grasp_with_arm(cell, wide)
    assert not result.success and "clipped" in result.reason


def test_unreachable_grasp_fails_without_moving(arm_cell):
    name, cell = arm_cell
    cell.reset(0, seed=1)
    q0 = cell.arm.get_q(cell.model, cell.data)
    far = GraspPose((1.0, 0.0, 0.03), 0.3, 0.04)
    t0 = time.perf_counter()
    result = run_grasp(cell, far, name)
    print(f"\n{name} unreachable trial: {1e3 * (time.perf_counter() - t0):.0f} ms -> {result.reason}")
    assert not result.success and result.reason.startswith("unreachable")
    np.testing.assert_array_equal(cell.arm.get_q(cell.model, cell.data), q0)
    with pytest.raises(UnreachableError, match=r"target pos \[1\.0, 0\.0"):
        plan_arm_grasp(cell, far)


def test_pad_tip_offset_is_below_the_tcp(arm_cell):
    _, cell = arm_cell
    cell.reset([])
    off = pad_tip_offset(cell, 0.05)
    assert 0.005 < off < 0.04  # pad tips a little beyond the TCP between the pads
    assert pad_tip_offset(cell, 0.05) == off  # kinematic only: state untouched


def test_run_grasp_checks_the_gripper_matches_the_cell():
    with SimCell([box_object((0.04, 0.07, 0.03))], seed=0) as floating:
        floating.reset(0, seed=1)
        assert floating.arm is None
        grasp = GraspPose(tuple(floating.object_pose(0)[0]), 0.0, 0.04)
        with pytest.raises(ValueError, match="gripper='widowx' but the cell was built with no arm"):
            run_grasp(floating, grasp, "widowx")
        with pytest.raises(ValueError, match="gripper must be one of"):
            run_grasp(floating, grasp, "ur5")
        with pytest.raises(ValueError, match="cell has no arm"):
            execute_grasp_with_arm(floating, grasp)
    with pytest.raises(ValueError, match="SimCell arm must be None or one of"):
        SimCell([box_object((0.04, 0.07, 0.03))], arm="ur5")
    with pytest.raises(ValueError, match="arm_base_distance must be >"):
        SimCell([box_object((0.04, 0.07, 0.03))], arm="widowx", arm_base_distance=0.2)
    with pytest.raises(ValueError, match="arm_rest_q must be 6 finite"):
        SimCell([box_object((0.04, 0.07, 0.03))], arm="widowx", arm_rest_q=(0.0,) * 7)
