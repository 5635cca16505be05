"""Camera model, MuJoCo intrinsics, metric z-depth and the PLGP depth noise."""

import sys
import time
from pathlib import Path

import numpy as np
import pytest

try:
    import grasp_sim  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grasp_sim import CameraIntrinsics, DepthNoise, ObjectSpec, Primitive, SimCell, box_object  # noqa: E402


def _world_to_pixel(obs, p_world):
    T = np.linalg.inv(obs.camera_pose)
    return obs.intrinsics.project(np.asarray(p_world, float) @ T[:3, :3].T + T[:3, 3])


def test_project_deproject_roundtrip_and_validation():
    K = CameraIntrinsics(640, 480, 600.0, 610.0, 300.0, 250.0)
    pts = np.array([[0.1, -0.05, 0.5], [-0.2, 0.1, 0.9]])
    uv = K.project(pts)
    np.testing.assert_allclose(K.deproject(uv[:, 0], uv[:, 1], pts[:, 2]), pts, atol=1e-12)
    assert np.isnan(K.project([0.0, 0.0, -1.0])).all()  # behind the camera
    d435 = CameraIntrinsics.realsense_d435_color()
    assert (d435.width, d435.height, d435.fx) == (640, 480, 615.0)
    assert 42 < d435.fovy_deg < 44
    with pytest.raises(ValueError, match="fx/fy"):
        CameraIntrinsics(640, 480, 0.0, 600.0, 320.0, 240.0)


@pytest.mark.parametrize("intr", [CameraIntrinsics.realsense_d435_color(),
                                  CameraIntrinsics(640, 480, 600.0, 630.0, 331.0, 226.5)])
def test_mujoco_camera_reproduces_intrinsics(intr):
    """A small floating sphere must appear where the pinhole model projects it, even with fx != fy
    and an off-centre principal point (which a plain MuJoCo fovy camera cannot express)."""
    ball = ObjectSpec("ball", primitives=(Primitive("sphere", (0.004,)),), mass=0.01)
    with SimCell([ball], camera=intr) as cell:
        for p in ([0.12, 0.07, 0.05], [-0.15, -0.1, 0.0]):
            cell.set_object_pose(0, p)  # parked objects float: no reset needed
            obs = cell.render(rgb=False, depth=False)
            rows, cols = np.nonzero(obs.segmentation == 0)
            assert rows.size > 20
            expected = _world_to_pixel(obs, p)
            np.testing.assert_allclose([cols.mean(), rows.mean()], expected, atol=0.3)


@pytest.mark.parametrize("height", [0.6, 0.45])
def test_depth_is_metric_z_of_a_known_plane(height):
    """The empty tray floor (z = 0) must read the camera height everywhere, including off-axis pixels
    where the Euclidean range would be several cm longer."""
    with SimCell([box_object((0.04, 0.04, 0.04))], camera_height=height) as cell:
        cell.reset([])
        t0 = time.perf_counter()
        obs = cell.render(rgb=False, segmentation=False)
        print(f"\nfirst depth render (incl. GL context) {1e3 * (time.perf_counter() - t0):.1f} ms")
        d = obs.depth
        assert d.dtype == np.float32 and d.shape == (480, 640)
        u, v = np.round(_world_to_pixel(obs, [0.15, -0.12, 0.0])).astype(int)
        u0, v0 = np.round(_world_to_pixel(obs, [0.0, 0.0, 0.0])).astype(int)
        assert abs(d[v, u] - height) < 1e-3, f"off-axis floor pixel reads {d[v, u]} (range would be " \
            f"{np.linalg.norm([0.15, 0.12, height]):.3f})"
        assert abs(d[v0, u0] - height) < 1e-3
        # the whole floor patch inside the walls
        corner = np.round(_world_to_pixel(obs, [[-0.18, 0.18, 0], [0.18, -0.18, 0]])).astype(int)
        (ua, va), (ub, vb) = corner
        patch = d[max(va, 0):vb, max(ua, 0):ub]
        assert np.nanmax(np.abs(patch - height)) < 1e-3
        # a wall top (4 cm) is 4 cm closer
        uw, vw = np.round(_world_to_pixel(obs, [0.21, 0.0, 0.04])).astype(int)
        assert abs(d[vw, uw] - (height - 0.04)) < 1e-3


def test_depth_noise_model():
    depth = np.full((120, 160), 0.6, np.float32)
    depth[40:80, 60:100] = 0.55  # a 5 cm step: its edge must lose pixels, the flats almost none
    depth[0, 0] = np.nan         # a missing input pixel stays missing
    a = DepthNoise(seed=3)(depth)
    b = DepthNoise(seed=3)(depth)
    np.testing.assert_array_equal(a, b)  # seeded
    assert not np.array_equal(a, DepthNoise(seed=4)(depth), equal_nan=True)
    assert np.isnan(a[0, 0])
    edge = np.zeros_like(depth, bool)
    edge[39:41, 60:100] = edge[79:81, 60:100] = edge[40:80, 59:61] = edge[40:80, 99:101] = True
    flat = np.zeros_like(depth, bool)
    flat[90:, :] = True
    assert np.isnan(a[edge]).mean() > 0.2
    assert np.isnan(a[flat]).mean() < 0.01
    err = a[flat] - 0.6
    assert 1e-4 < np.nanstd(err) < 2e-3 and abs(np.nanmean(err)) < 5e-4
    off = DepthNoise(enabled=False)(depth)
    np.testing.assert_array_equal(off, depth)
    with pytest.raises(ValueError, match="downsample"):
        DepthNoise(downsample=0)
