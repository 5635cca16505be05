"""Grasps seen by a tilted camera approach along its optical axis (PLGP's definition), planned and executed
end to end by every gripper; the vertical approach stays available."""
import dataclasses
import math

import numpy as np
import pytest

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from grasp_sim.hands import hand_quat, yaw_quat
from grasp_sim.cell_setup import camera_pose
from grasp_sim.objects import box_object
from grasp_sim.settings import load_sim_settings
from grasp_sim.sim_trials import SimTrialExecutor, make_trial_cell
from grasp_sim.world_grasp import GraspPose, closing_direction, image_grasp_to_world

TILT_DEG = 15.0


@pytest.mark.parametrize("gripper", ["floating", "widowx", "kinova"])
def test_a_tilted_camera_grasp_is_planned_along_the_optical_axis_and_lifts_the_box(gripper, top_face_oracle):
    s = load_sim_settings()
    s = s.replace(camera=dataclasses.replace(s.camera, viewpoints=dataclasses.replace(s.camera.viewpoints,
                                                                                  random=False)))
    cell = make_trial_cell([box_object((0.04, 0.05, 0.03), name="box0")], gripper, s, seed=0)
    try:
        cell.set_camera_pose(camera_pose(0.6, TILT_DEG))
        executor = SimTrialExecutor(cell, top_face_oracle(cell), gripper, seed=0)
        executor.reset(0, 0)
        record = executor.attempt(0, 0)
        axis = cell.camera_pose[:3, 2]
        # The executed approach is the camera's optical axis, 15 deg from vertical (with the hand-eye error).
        assert np.degrees(np.arccos(np.clip(np.dot(record["approach"], axis), -1, 1))) < 1.0
        assert math.degrees(math.acos(-record["approach"][2])) == pytest.approx(TILT_DEG, abs=1.0)
        assert record["success"], record["reason"]
    finally:
        cell.close()


def test_closing_is_perpendicular_to_the_approach_and_keeps_its_yaw():
    a = np.array([math.sin(0.3), 0.0, -math.cos(0.3)])
    for yaw in (0.0, 0.7, -1.2):
        g = GraspPose((0, 0, 0.02), yaw, 0.04, approach=tuple(a))
        c = g.closing
        assert abs(c @ a) < 1e-12 and np.linalg.norm(c) == pytest.approx(1.0)
        assert math.atan2(c[1], c[0]) == pytest.approx(yaw)
        assert np.allclose(closing_direction(yaw + math.pi, a), -c)
    assert np.allclose(hand_quat((0, 0, -1), closing_direction(0.7)), yaw_quat(0.7))
    with pytest.raises(ValueError, match="from straight down"):
        GraspPose((0, 0, 0), 0.0, 0.04, approach=(1.0, 0.0, -0.2))


def test_vertical_approach_turns_a_tilted_view_into_a_top_down_grasp():
    k = grasp_sim.realsense_d435_color()
    depth = np.full((k.height, k.width), 0.6, np.float32)
    T = camera_pose(0.6, 20.0)
    along = image_grasp_to_world(320, 240, 0.3, 40, depth, k, T, approach="camera")
    down = image_grasp_to_world(320, 240, 0.3, 40, depth, k, T, approach="vertical")
    assert np.allclose(along.approach, T[:3, 2]) and np.allclose(down.approach, (0, 0, -1))
    assert along.position == down.position and along.yaw == pytest.approx(down.yaw)
