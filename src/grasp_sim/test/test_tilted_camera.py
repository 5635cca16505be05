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


class TiltedPoseOracle:
    """A 6-DoF model's stand-in: one grasp as a 6-DoF pose (``PosedImageGrasp``), approaching the box's top
    centre ``TILT_6DOF_DEG`` off vertical in the plane of its closing axis, with a predicted approach depth."""

    def __init__(self, cell, depth_m: float):
        self.cell, self.depth_m = cell, depth_m

    def predict(self, depth, rgb=None, top_k=1, intrinsics=None, **_):
        from types import SimpleNamespace
        from grasp_perception.geometry import GraspPose6D, camera_pose_to_image_grasp
        cell, t = self.cell, math.radians(TILT_6DOF_DEG)
        p, _ = cell.object_pose(0)
        top = np.array([p[0], p[1], p[2] + 0.015])           # the 3 cm box's top face
        x = np.array([math.cos(t), 0.0, math.sin(t)])       # closing: across the 4 cm side (world x), tipped
        z = np.array([math.sin(t), 0.0, -math.cos(t)])      # approach: tilted t from straight down, about y
        world_T = np.eye(4)
        world_T[:3, 0], world_T[:3, 1], world_T[:3, 2], world_T[:3, 3] = x, np.cross(z, x), z, top
        cam = GraspPose6D(np.linalg.inv(cell.camera_pose) @ world_T, 0.04, 0.6, self.depth_m)
        return SimpleNamespace(grasps=[camera_pose_to_image_grasp(cam, cell.intrinsics, 0.9)])


TILT_6DOF_DEG = 25.0


@pytest.mark.parametrize("gripper", ["floating", "widowx"])
def test_a_6dof_grasp_is_executed_along_its_own_approach_at_its_predicted_depth(gripper):
    """A point-cloud model's grasp is not an image grasp: the cell executes its pose (a 25 deg approach under a
    top-down camera) and its predicted fingertip depth, not the label search's, and lifts the box."""
    s = load_sim_settings()
    s = s.replace(camera=dataclasses.replace(s.camera, viewpoints=dataclasses.replace(s.camera.viewpoints,
                                                                                  random=False)))
    cell = make_trial_cell([box_object((0.04, 0.05, 0.03), name="box0")], gripper, s, seed=0)
    try:
        cell.set_camera_pose(camera_pose(0.6, 0.0))
        executor = SimTrialExecutor(cell, TiltedPoseOracle(cell, depth_m=0.015), gripper, seed=0)
        executor.reset(0, 0)
        record = executor.attempt(0, 0)
        tilt = math.degrees(math.acos(-record["approach"][2]))
        assert tilt == pytest.approx(TILT_6DOF_DEG, abs=1.0)   # its own approach (with the hand-eye error)
        assert record["depth_source"] == "predicted" and record["depth_m"] == pytest.approx(0.015)
        assert record["success"], record["reason"]
    finally:
        cell.close()
