"""Cameras the model never saw: one scene rendered at two resolutions and heights gives the same grasp in metres
once the predictor rescales each frame to the model's trained scale (grasp_perception.metric_scale)."""
import numpy as np
import pytest

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from grasp_perception.geometry import CameraIntrinsics, camera_poses
from grasp_sim.cell import SimCell
from grasp_sim.objects import box_object
from grasp_sim.settings import load_sim_settings


@pytest.fixture(scope="module")
def predictor(default_predictor):
    if default_predictor.card.metres_per_pixel is None:
        pytest.skip("the default model's card records no metres_per_pixel")
    return default_predictor


def _world_grasp(predictor, size, height, rescale):
    K = CameraIntrinsics.realsense_d435_color(*size)
    # the fixed top-down camera, so that only resolution and height change between renders
    with SimCell([box_object((0.03, 0.07, 0.04))], seed=0, camera=K, camera_height=height,
                 settings=load_sim_settings("easy")) as cell:
        cell.reset([0], seed=1)
        obs = cell.render()
    g = predictor.predict(obs.depth, rgb=obs.rgb, top_k=1, intrinsics=obs.intrinsics if rescale else None).grasps[0]
    T, width, _ = camera_poses([g.u], [g.v], [g.angle], [g.width], obs.depth, obs.intrinsics)
    world = obs.camera_pose @ T[0]
    return world[:3, 3], float(width[0]), world[:3, 0]  # centre, opening (m), closing direction


def test_same_scene_at_two_resolutions_and_heights_gives_the_same_grasp_in_metres(predictor):
    ref = _world_grasp(predictor, (640, 480), 0.6, rescale=True)  # the camera the model was trained with
    for size, height in (((1280, 720), 0.6), ((640, 480), 0.4), ((1280, 720), 0.8)):
        pos, width, closing = _world_grasp(predictor, size, height, rescale=True)
        assert np.linalg.norm(pos[:2] - ref[0][:2]) < 0.004, (size, height, pos, ref[0])
        assert abs(width - ref[1]) < 0.004, (size, height, width, ref[1])
        assert abs(float(closing[:2] @ ref[2][:2])) > 0.98, (size, height)  # same axis (either sign)
    # without the rescaling the 1280x720 frame at 0.8 m looks like smaller objects: another, narrower grasp
    _, width, _ = _world_grasp(predictor, (1280, 720), 0.8, rescale=False)
    assert abs(width - ref[1]) > 0.01
