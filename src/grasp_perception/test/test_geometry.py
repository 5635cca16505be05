"""Image -> camera-frame grasp poses, the pinhole model and rigid-transform helpers (grasp_perception.geometry)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from grasp_perception.geometry import (CameraIntrinsics, GraspPose6D, image_grasp_to_camera_pose, invert_transform,
                                       is_rigid, make_transform, transform_from_xyz_quat, xyz_quat_from_transform)

W, H = 640, 480
# fx != fy and an off-centre principal point, to catch axis mix-ups
K = CameraIntrinsics(W, H, fx=600.0, fy=500.0, cx=300.0, cy=260.0)
K_SQUARE = CameraIntrinsics(W, H, fx=615.0, fy=615.0, cx=319.5, cy=239.5)


def plane(z: float = 0.5) -> np.ndarray:
    return np.full((H, W), z, np.float64)


def _rot_y(deg: float) -> np.ndarray:
    return Rotation.from_euler("y", deg, degrees=True).as_matrix()


def _screen_direction(pose: GraspPose6D, K: CameraIntrinsics, eps: float = 1e-4) -> np.ndarray:
    """Unit on-screen (u, v) direction of the closing axis at the grasp point."""
    uv0 = K.project(pose.position)
    uv1 = K.project(pose.position + eps * pose.closing)
    d = uv1 - uv0
    return d / np.linalg.norm(d)


# ------------------------------------------------------------------------------------------ intrinsics
def test_project_deproject_round_trip():
    rng = np.random.default_rng(0)
    u = rng.uniform(0, W - 1, 50)
    v = rng.uniform(0, H - 1, 50)
    z = rng.uniform(0.2, 3.0, 50)
    p = K.deproject(u, v, z)
    assert p.shape == (50, 3)
    np.testing.assert_allclose(p[:, 2], z)
    np.testing.assert_allclose(K.project(p), np.stack([u, v], -1), atol=1e-9)


def test_deproject_uses_the_right_focal_length_and_centre():
    # a point 0.1 m right and 0.05 m down at 1 m lands at cx + fx*0.1, cy + fy*0.05
    uv = K.project(np.array([0.1, 0.05, 1.0]))
    np.testing.assert_allclose(uv, [300.0 + 60.0, 260.0 + 25.0])
    np.testing.assert_allclose(K.deproject(300.0, 260.0, 2.0), [0.0, 0.0, 2.0])
    np.testing.assert_allclose(K.deproject(360.0, 285.0, 1.0), [0.1, 0.05, 1.0])


def test_project_behind_camera_is_nan():
    uv = K.project(np.array([[0.1, 0.1, -1.0], [0.0, 0.0, 1.0]]))
    assert np.isnan(uv[0]).all() and np.isfinite(uv[1]).all()


def test_deproject_image_shape_check():
    with pytest.raises(ValueError):
        K.deproject_image(np.ones((H + 1, W)))
    pts = K.deproject_image(plane(0.5))
    assert pts.shape == (H, W, 3)
    np.testing.assert_allclose(pts[10, 20], K.deproject(20, 10, 0.5))


# ---------------------------------------------------------------------------------- image grasp -> pose
def test_position_on_flat_plane():
    u, v = 100.0, 400.0
    pose = image_grasp_to_camera_pose(u, v, 0.3, 40.0, plane(0.5), K)
    np.testing.assert_allclose(pose.position, [(100 - 300) * 0.5 / 600, (400 - 260) * 0.5 / 500, 0.5])
    assert pose.depth_m == pytest.approx(0.5)


@pytest.mark.parametrize("approach", ["optical_axis", "viewing_ray"])
@pytest.mark.parametrize("angle", [0.0, 0.4, -1.2, math.pi / 2 - 1e-3])
def test_rotation_is_orthonormal_and_right_handed(approach, angle):
    pose = image_grasp_to_camera_pose(50.0, 30.0, angle, 40.0, plane(), K, approach=approach)
    R = pose.T[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(np.cross(R[:, 0], R[:, 1]), R[:, 2], atol=1e-12)  # y = z x x  <=>  x x y = z
    np.testing.assert_allclose(pose.T[3], [0, 0, 0, 1])
    assert is_rigid(pose.T)


def test_optical_axis_approach_is_camera_z():
    pose = image_grasp_to_camera_pose(30.0, 450.0, 0.7, 40.0, plane(), K, approach="optical_axis")
    np.testing.assert_allclose(pose.approach, [0.0, 0.0, 1.0], atol=1e-12)
    assert pose.closing[2] == pytest.approx(0.0, abs=1e-12)


def test_viewing_ray_approach_is_parallel_to_the_point():
    pose = image_grasp_to_camera_pose(30.0, 450.0, 0.7, 40.0, plane(0.8), K, approach="viewing_ray")
    p = pose.position
    np.testing.assert_allclose(pose.approach, p / np.linalg.norm(p), atol=1e-12)
    assert pose.approach[2] > 0  # into the scene
    assert abs(pose.closing @ pose.approach) < 1e-12


@pytest.mark.parametrize("approach", ["optical_axis", "viewing_ray"])
@pytest.mark.parametrize("angle", [0.0, 0.5, -0.5, 1.0, -1.4])
def test_closing_axis_projects_along_screen_direction_square_pixels(approach, angle):
    pose = image_grasp_to_camera_pose(120.0, 350.0, angle, 40.0, plane(), K_SQUARE, approach=approach)
    d = _screen_direction(pose, K_SQUARE)
    expected = np.array([math.cos(angle), -math.sin(angle)])
    # a parallel-jaw grasp is symmetric: +x or -x both do, but this module promises the +x sign
    np.testing.assert_allclose(d, expected, atol=1e-5)


@pytest.mark.parametrize("approach", ["optical_axis", "viewing_ray"])
@pytest.mark.parametrize("angle", [0.0, -math.pi / 2])
def test_closing_axis_along_image_axes_fx_ne_fy(approach, angle):
    pose = image_grasp_to_camera_pose(120.0, 350.0, angle, 40.0, plane(), K, approach=approach)
    np.testing.assert_allclose(_screen_direction(pose, K), [math.cos(angle), -math.sin(angle)], atol=1e-5)


@pytest.mark.parametrize("approach", ["optical_axis", "viewing_ray"])
@pytest.mark.parametrize("angle", [0.5, -1.0])
def test_closing_axis_projects_along_screen_direction_fx_ne_fy(approach, angle):
    pose = image_grasp_to_camera_pose(120.0, 350.0, angle, 40.0, plane(), K, approach=approach)
    np.testing.assert_allclose(_screen_direction(pose, K), [math.cos(angle), -math.sin(angle)], atol=1e-4)


def test_width_in_metres_uses_fx_then_fy():
    z, wpx = 0.5, 60.0
    g0 = image_grasp_to_camera_pose(320.0, 240.0, 0.0, wpx, plane(z), K)
    g90 = image_grasp_to_camera_pose(320.0, 240.0, math.pi / 2, wpx, plane(z), K)
    assert g0.width_m == pytest.approx(wpx * z / 600.0)
    assert g90.width_m == pytest.approx(wpx * z / 500.0)
    assert g0.width_m != pytest.approx(g90.width_m)


def test_width_matches_distance_between_deprojected_fingertips_square_pixels():
    # on a fronto-parallel plane the opening is the distance between the deprojected rectangle ends
    z, wpx, a, u, v = 0.7, 50.0, 0.6, 200.0, 300.0
    pose = image_grasp_to_camera_pose(u, v, a, wpx, plane(z), K_SQUARE)
    du, dv = 0.5 * wpx * math.cos(a), -0.5 * wpx * math.sin(a)
    p1, p2 = K_SQUARE.deproject(u + du, v + dv, z), K_SQUARE.deproject(u - du, v - dv, z)
    assert pose.width_m == pytest.approx(np.linalg.norm(p1 - p2))


@pytest.mark.parametrize("bad", [np.nan, 0.0])
def test_no_valid_depth_raises(bad):
    depth = plane(0.5)
    depth[200:211, 300:311] = bad  # covers the 5x5 window round (305, 205)
    with pytest.raises(ValueError, match="no valid depth"):
        image_grasp_to_camera_pose(305.0, 205.0, 0.0, 30.0, depth, K, window=5)
    # a larger window reaches valid pixels again
    pose = image_grasp_to_camera_pose(305.0, 205.0, 0.0, 30.0, depth, K, window=15)
    assert pose.depth_m == pytest.approx(0.5)


def test_median_window_ignores_outliers():
    depth = plane(0.5)
    depth[240, 320] = 5.0   # the centre pixel itself is an outlier
    depth[241, 321] = 0.01
    depth[239, 322] = np.nan
    depth[238, 318] = 0.0
    pose = image_grasp_to_camera_pose(320.0, 240.0, 0.0, 30.0, depth, K, window=5)
    assert pose.depth_m == pytest.approx(0.5)
    assert pose.position[2] == pytest.approx(0.5)


@pytest.mark.parametrize("u, v, name", [(-1.0, 10.0, "u"), (W - 0.5, 10.0, "u"), (float(W + 10), 10.0, "u"),
                                        (10.0, -3.0, "v"), (10.0, float(H), "v")])
def test_pixel_outside_image_raises(u, v, name):
    with pytest.raises(ValueError, match=rf"\b{name}=") as exc:
        image_grasp_to_camera_pose(u, v, 0.0, 30.0, plane(), K)
    other = "v" if name == "u" else "u"
    assert f"{other}=" not in str(exc.value)


def test_non_finite_pixel_raises():
    with pytest.raises(ValueError, match="u"):
        image_grasp_to_camera_pose(float("nan"), 10.0, 0.0, 30.0, plane(), K)


def test_bad_approach_mode_raises():
    with pytest.raises(ValueError, match="approach"):
        image_grasp_to_camera_pose(10.0, 10.0, 0.0, 30.0, plane(), K, approach="surface_normal")


def test_depth_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        image_grasp_to_camera_pose(10.0, 10.0, 0.0, 30.0, np.ones((H, W + 1)), K)


# ------------------------------------------------------------------------------------------ transforms
def test_quaternion_order_is_xyzw():
    s = math.sqrt(0.5)
    T = transform_from_xyz_quat([1.0, 2.0, 3.0], [0.0, 0.0, s, s])  # +90 deg about z
    np.testing.assert_allclose(T[:3, :3] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(T @ [1.0, 0.0, 0.0, 1.0], [1.0, 3.0, 3.0, 1.0], atol=1e-12)
    # w-first (wxyz) would be read as a 180 deg turn about x, something else entirely
    T_ident = transform_from_xyz_quat([0, 0, 0], [0, 0, 0, 1])
    np.testing.assert_allclose(T_ident, np.eye(4))


def test_quaternion_is_normalised():
    T = transform_from_xyz_quat([0, 0, 0], [0.0, 0.0, 2.0, 2.0])
    assert is_rigid(T)
    np.testing.assert_allclose(T[:3, :3] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("bad", [[0, 0, 0, 0], [0, 0, 1], [np.nan, 0, 0, 1]])
def test_bad_quaternion_raises(bad):
    with pytest.raises(ValueError, match="quaternion"):
        transform_from_xyz_quat([0, 0, 0], bad)


def test_xyz_quat_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(10):
        R = Rotation.random(random_state=rng).as_matrix()
        t = rng.normal(size=3)
        T = make_transform(R, t)
        xyz, q = xyz_quat_from_transform(T)
        assert q.shape == (4,) and np.linalg.norm(q) == pytest.approx(1.0)
        np.testing.assert_allclose(xyz, t)
        np.testing.assert_allclose(transform_from_xyz_quat(xyz, q), T, atol=1e-12)


def test_xyz_quat_from_known_transform():
    T = make_transform(Rotation.from_euler("z", 90, degrees=True).as_matrix(), [0.1, 0.2, 0.3])
    xyz, q = xyz_quat_from_transform(T)
    s = math.sqrt(0.5)
    assert np.allclose(q, [0, 0, s, s]) or np.allclose(q, [0, 0, -s, -s])


def test_invert_transform():
    rng = np.random.default_rng(2)
    T = make_transform(Rotation.random(random_state=rng).as_matrix(), [0.5, -1.0, 2.0])
    Ti = invert_transform(T)
    np.testing.assert_allclose(T @ Ti, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(Ti @ T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(Ti, np.linalg.inv(T), atol=1e-12)


def test_is_rigid():
    R = Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix()
    assert is_rigid(make_transform(R, [1, 2, 3]))
    assert not is_rigid(make_transform(1.5 * R, [1, 2, 3]))          # scaled
    assert not is_rigid(make_transform(np.diag([1.0, 1.0, -1.0])))    # reflection
    bad_row = make_transform(R)
    bad_row[3, 0] = 0.1
    assert not is_rigid(bad_row)
    assert not is_rigid(np.eye(3))
    nan = np.eye(4)
    nan[0, 3] = np.nan
    assert not is_rigid(nan)


def test_grasp_pose_transformed_composes():
    cam = image_grasp_to_camera_pose(100.0, 200.0, 0.3, 40.0, plane(0.6), K)
    a_T_cam = make_transform(Rotation.from_euler("zyx", [40, -10, 25], degrees=True).as_matrix(), [0.3, -0.2, 1.1])
    b_T_a = make_transform(Rotation.from_euler("x", 70, degrees=True).as_matrix(), [1.0, 0.0, 0.0])
    in_a = cam.transformed(a_T_cam)
    np.testing.assert_allclose(in_a.T, a_T_cam @ cam.T)
    np.testing.assert_allclose(in_a.position, (a_T_cam @ np.append(cam.position, 1.0))[:3])
    np.testing.assert_allclose(in_a.approach, a_T_cam[:3, :3] @ cam.approach)
    assert in_a.width_m == cam.width_m and in_a.depth_m == cam.depth_m
    np.testing.assert_allclose(in_a.transformed(b_T_a).T, cam.transformed(b_T_a @ a_T_cam).T, atol=1e-12)
    np.testing.assert_allclose(in_a.transformed(invert_transform(a_T_cam)).T, cam.T, atol=1e-12)


@pytest.mark.parametrize("approach", ["optical_axis", "viewing_ray"])
def test_tilted_camera_world_pose(approach):
    # camera 1 m above the table looking straight down (optical z = world -z), then tilted 30 deg about world y
    down = Rotation.from_euler("x", 180, degrees=True).as_matrix()
    world_T_camera = make_transform(_rot_y(30.0) @ down, [0.2, 0.1, 1.0])
    u, v = (K.cx, K.cy) if approach == "viewing_ray" else (150.0, 100.0)
    cam = image_grasp_to_camera_pose(u, v, 0.4, 40.0, plane(0.9), K, approach=approach)
    world = cam.transformed(world_T_camera)
    tilt = math.degrees(math.acos(np.clip(world.approach @ [0.0, 0.0, -1.0], -1, 1)))
    assert tilt == pytest.approx(30.0, abs=1e-6)
    # tilted towards world +x or -x (a rotation about y), never sideways
    assert world.approach[1] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(world.position, (world_T_camera @ np.append(cam.position, 1.0))[:3], atol=1e-12)
    assert is_rigid(world.T)


def test_batched_poses_equal_the_single_grasp_function():
    from grasp_perception.geometry import camera_poses
    rng = np.random.default_rng(0)
    depth = (0.5 + 0.1 * rng.random((H, W))).astype(np.float32)
    depth[rng.random((H, W)) < 0.3] = np.nan
    depth[100:110, 100:110] = np.nan                     # a hole larger than the window
    u = np.r_[rng.uniform(0, W - 1, 30), 105.0, 0.0, W - 1.0]   # border pixels: cut patches
    v = np.r_[rng.uniform(0, H - 1, 30), 105.0, 0.0, H - 1.0]
    a, wpx = rng.uniform(-1.5, 1.5, 33), rng.uniform(5, 80, 33)
    for approach in ("optical_axis", "viewing_ray"):
        T, width_m, z = camera_poses(u, v, a, wpx, depth, K, window=5, approach=approach)
        for i in range(33):
            if i == 30:
                assert np.isnan(z[i])  # no valid depth in the patch
                with pytest.raises(ValueError, match="no valid depth"):
                    image_grasp_to_camera_pose(u[i], v[i], a[i], wpx[i], depth, K, approach=approach)
                continue
            one = image_grasp_to_camera_pose(u[i], v[i], a[i], wpx[i], depth, K, approach=approach)
            np.testing.assert_allclose(T[i], one.T, atol=1e-12)
            assert width_m[i] == pytest.approx(one.width_m) and z[i] == pytest.approx(one.depth_m)
            patch = depth[max(0, int(round(v[i])) - 2):int(round(v[i])) + 3,
                          max(0, int(round(u[i])) - 2):int(round(u[i])) + 3]
            assert z[i] == pytest.approx(float(np.median(patch[np.isfinite(patch)])))  # the median of the patch
