"""Grasp trials and image grasp -> world grasp conversion."""

import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

try:
    import grasp_sim  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grasp_sim import (CameraIntrinsics, GraspPose, SimCell, box_object, execute_grasp,  # noqa: E402
                       image_grasp_to_world, top_down_camera_pose)

BOX = (0.04, 0.07, 0.03)  # 4 cm across, 7 cm long, 3 cm high


def _image_grasp_across_short_side(obs, label=0):
    """(u, v, angle, width_px) of the rectangle around the object's mask, opening across its short side."""
    v, u = np.nonzero(obs.segmentation == label)
    corners = cv2.boxPoints(cv2.minAreaRect(np.stack([u, v], 1).astype(np.float32)))
    e1, e2 = corners[1] - corners[0], corners[2] - corners[1]
    short = e1 if np.linalg.norm(e1) < np.linalg.norm(e2) else e2
    angle = math.atan2(-short[1], short[0])  # anticlockwise on screen, from +u
    return float(u.mean()), float(v.mean()), angle, float(np.linalg.norm(short))


@pytest.fixture(scope="module")
def cell():
    with SimCell([box_object(BOX)], seed=0) as c:
        yield c


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_known_good_grasp_lifts_the_box(cell, seed):
    cell.reset(0, seed=seed)
    obs = cell.render()
    u, v, angle, width_px = _image_grasp_across_short_side(obs)
    grasp = image_grasp_to_world(u, v, angle, width_px, obs.depth, obs.intrinsics, obs.camera_pose)
    pos = cell.object_pose(0)[0]
    assert np.linalg.norm(np.subtract(grasp.position[:2], pos[:2])) < 0.005
    assert grasp.position[2] == pytest.approx(2 * pos[2], abs=0.003)  # the top face
    assert 0.027 < grasp.width_m < 0.046  # the short horizontal side (3 or 4 cm, by the resting face)
    t0 = time.perf_counter()
    result = execute_grasp(cell, grasp)
    print(f"\ngrasp trial: {1e3 * (time.perf_counter() - t0):.1f} ms -> {result}")
    assert result.success, result.reason
    assert result.object_index == 0 and result.lift_height > 0.09
    assert 0.02 < cell.gripper_opening() < 0.05  # holding the box, not closed on air


def test_known_bad_grasp_beside_the_box_fails(cell):
    cell.reset(0, seed=1)
    obs = cell.render()
    u, v, angle, width_px = _image_grasp_across_short_side(obs)
    pos = cell.object_pose(0)[0]
    du = 0.10 * obs.intrinsics.fx / 0.6  # 10 cm on the floor, in pixels
    grasp = image_grasp_to_world(u + du, v, angle, width_px, obs.depth, obs.intrinsics, obs.camera_pose)
    assert grasp.position[0] - pos[0] == pytest.approx(0.10, abs=0.005)
    result = execute_grasp(cell, grasp)
    assert not result.success
    assert result.lift_height < 0.01 and "no object lifted" in result.reason
    assert cell.gripper_opening() < 0.002  # closed on nothing
    # a grasp wider than the gripper is tried fully open, and its failure says the width was clipped
    wide = execute_grasp(cell, GraspPose(grasp.position, grasp.yaw, 0.2))
    assert not wide.success and "clipped to the max opening" in wide.reason


def test_image_grasp_to_world_geometry():
    K = CameraIntrinsics.realsense_d435_color()
    yaw_cam = math.radians(30)
    T = top_down_camera_pose(0.5, xy=(0.1, -0.05))
    Rz = np.array([[math.cos(yaw_cam), -math.sin(yaw_cam), 0], [math.sin(yaw_cam), math.cos(yaw_cam), 0], [0, 0, 1]])
    T[:3, :3] = Rz @ T[:3, :3]  # camera turned 30 deg about the vertical
    depth = np.full((480, 640), 0.5, np.float32)
    depth[200:206, 300:306] = np.nan  # dropouts next to the grasp point are ignored (median of valid)
    g = image_grasp_to_world(305.0, 205.0, 0.0, 100.0, depth, K, T)
    # opening along image +u = camera x = world (cos 30, sin 30)
    assert g.yaw == pytest.approx(yaw_cam, abs=1e-9)
    assert g.width_m == pytest.approx(100 * 0.5 / 615.0, rel=1e-9)
    assert g.position[2] == pytest.approx(0.0, abs=1e-9)
    p_cam = K.deproject(305.0, 205.0, 0.5)
    np.testing.assert_allclose(g.position, T[:3, :3] @ p_cam + T[:3, 3], atol=1e-12)
    # anticlockwise on screen = towards image -v = world +y rotated by the camera yaw
    g90 = image_grasp_to_world(320.0, 240.0, math.pi / 4, 10.0, depth, K, top_down_camera_pose(0.5))
    assert g90.yaw == pytest.approx(math.pi / 4)


def test_image_grasp_to_world_errors_name_the_parameter():
    K = CameraIntrinsics.realsense_d435_color()
    T = top_down_camera_pose(0.6)
    depth = np.full((480, 640), 0.6, np.float32)
    with pytest.raises(ValueError, match="u=700"):
        image_grasp_to_world(700, 100, 0.0, 20, depth, K, T)
    with pytest.raises(ValueError, match="v=-3"):
        image_grasp_to_world(100, -3, 0.0, 20, depth, K, T)
    depth[90:111, 90:111] = np.nan
    with pytest.raises(ValueError, match="depth_image has no valid depth"):
        image_grasp_to_world(100, 100, 0.0, 20, depth, K, T)
    with pytest.raises(ValueError, match="depth_image shape"):
        image_grasp_to_world(100, 100, 0.0, 20, depth[:100], K, T)
    with pytest.raises(ValueError, match="width_px"):
        image_grasp_to_world(300, 300, 0.0, -1, depth, K, T)
