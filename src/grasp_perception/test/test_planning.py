"""From one RGB-D frame to robot-frame grasps with a shipped model (grasp_perception.planning)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from grasp_perception.geometry import CameraIntrinsics, make_transform
from grasp_perception.model_io import models_dir
from grasp_perception.planning import CameraFrame, GraspPlanner, PlannerConfig, PlanResult, Workspace

W, H = 640, 480
K = CameraIntrinsics(W, H, fx=615.0, fy=615.0, cx=319.5, cy=239.5)
TABLE_Z = 0.6
BOX_TOP_Z = 0.57          # 3 cm tall box on the table
BOX_X, BOX_Y = 0.04, 0.06  # 4 cm across the image (u), 6 cm down it (v)
NOW = 5_000_000_000
# a camera 0.6 m above the base origin looking down, yawed and shifted: a non-trivial hand-eye transform
BASE_T_CAMERA = make_transform(Rotation.from_euler("zx", [35.0, 180.0], degrees=True).as_matrix(), [0.5, -0.1, 0.6])


def _box_footprint_px():
    """(u_min, u_max, v_min, v_max) of the box top in pixels."""
    hu = 0.5 * BOX_X * K.fx / BOX_TOP_Z
    hv = 0.5 * BOX_Y * K.fy / BOX_TOP_Z
    return K.cx - hu, K.cx + hu, K.cy - hv, K.cy + hv


def scene_depth() -> np.ndarray:
    depth = np.full((H, W), TABLE_Z, np.float32)
    u0, u1, v0, v1 = _box_footprint_px()
    vv, uu = np.mgrid[0:H, 0:W]
    depth[(uu >= u0) & (uu <= u1) & (vv >= v0) & (vv <= v1)] = BOX_TOP_Z
    return depth


def frame(depth=None, intrinsics=K, stamp_ns=NOW, rgb=None) -> CameraFrame:
    return CameraFrame(scene_depth() if depth is None else depth, intrinsics, stamp_ns, "camera_color_optical_frame",
                       rgb)


@pytest.fixture(scope="module")
def predictor():
    from grasp_perception.inference import GraspPredictor
    # the shipped depth model: these frames are a synthetic depth scene (colour only where a test adds it)
    p = GraspPredictor(models_dir() / "ggcnn2-sim-v1", device="cpu")
    assert p.card.inputs == "depth" and p.card.input_size == 256 and p.card.crop == "center"
    return p


@pytest.fixture(scope="module")
def planner(predictor):
    return GraspPlanner(predictor, PlannerConfig())


@pytest.fixture(scope="module")
def good_result(planner) -> PlanResult:
    return planner.plan(frame(), BASE_T_CAMERA, now_ns=NOW, max_grasps=3)


# ------------------------------------------------------------------------------------------- success
def test_plan_succeeds_on_the_box(good_result):
    r = good_result
    assert r.success, r.message
    assert 1 <= len(r.grasps) <= 3
    assert r.stamp_ns == NOW
    assert r.image_grasps, "the network candidates are reported for overlays"
    qualities = [g.image.quality for g in r.grasps]
    assert qualities == sorted(qualities, reverse=True)
    assert {"check", "preprocess", "network", "postprocess", "poses", "total"} <= set(r.timings_ms)
    assert r.timings_ms["total"] >= r.timings_ms["network"] + r.timings_ms["poses"]


def test_best_grasp_is_over_the_box(good_result):
    best = good_result.grasps[0]
    u0, u1, v0, v1 = _box_footprint_px()
    # the camera-frame position projects back into the box top (independent check via the pinhole model)
    u, v = K.project(best.camera_pose.position)
    assert u0 <= u <= u1 and v0 <= v <= v1, (u, v, (u0, u1, v0, v1))
    assert u == pytest.approx(best.image.u, abs=1e-6) and v == pytest.approx(best.image.v, abs=1e-6)
    assert best.camera_pose.position[2] == pytest.approx(BOX_TOP_Z, abs=0.005)
    assert best.camera_pose.depth_m == pytest.approx(BOX_TOP_Z, abs=0.005)
    # metric position: within the 4 x 6 cm top
    x, y, _ = best.camera_pose.position
    assert abs(x) <= BOX_X / 2 + 1e-3 and abs(y) <= BOX_Y / 2 + 1e-3
    # default approach is the optical axis
    np.testing.assert_allclose(best.camera_pose.approach, [0, 0, 1], atol=1e-9)
    # a sensible opening: at least the narrow side of the box, at most what the model may output
    assert 0.02 < best.pose.width_m < 0.15


def test_base_pose_is_base_T_camera_times_camera_pose(good_result):
    for g in good_result.grasps:
        np.testing.assert_allclose(g.pose.T, BASE_T_CAMERA @ g.camera_pose.T, atol=1e-12)
        assert g.pose.width_m == g.camera_pose.width_m
    best = good_result.grasps[0]
    # the box top is 3 cm above the table, which is at base z = 0 (camera 0.6 m above, looking down)
    assert best.pose.position[2] == pytest.approx(TABLE_Z - BOX_TOP_Z, abs=0.005)
    np.testing.assert_allclose(best.pose.approach, [0, 0, -1], atol=1e-9)  # straight down in the base frame


def test_min_quality_below_best_keeps_grasp(planner, good_result):
    q = good_result.grasps[0].image.quality
    r = planner.plan(frame(), BASE_T_CAMERA, now_ns=NOW, min_quality=q - 1e-3)
    assert r.success and r.grasps[0].image.quality >= q - 1e-3


def test_roi_and_box_including_the_object_keep_grasp(predictor):
    u0, u1, v0, v1 = _box_footprint_px()
    ws = Workspace(roi=(u0 - 20, v0 - 20, u1 + 20, v1 + 20), box_min=(0.3, -0.3, -0.01), box_max=(0.7, 0.1, 0.1))
    r = GraspPlanner(predictor, PlannerConfig(workspace=ws)).plan(frame(), BASE_T_CAMERA, now_ns=NOW)
    assert r.success, r.message


def test_viewing_ray_approach(predictor):
    r = GraspPlanner(predictor, PlannerConfig(approach="viewing_ray")).plan(frame(), np.eye(4), now_ns=NOW)
    assert r.success, r.message
    p = r.grasps[0].camera_pose.position
    np.testing.assert_allclose(r.grasps[0].camera_pose.approach, p / np.linalg.norm(p), atol=1e-9)


# ------------------------------------------------------------------------------------------- refusals
def _refused(r: PlanResult, *words: str):
    assert isinstance(r, PlanResult)
    assert r.success is False
    assert r.grasps == []
    for w in words:
        assert w.lower() in r.message.lower(), (w, r.message)


def test_no_frame(planner):
    _refused(planner.plan(None, BASE_T_CAMERA, now_ns=NOW), "no synchronised")


def test_stale_frame(planner):
    r = planner.plan(frame(stamp_ns=NOW - 2_500_000_000), BASE_T_CAMERA, now_ns=NOW)
    _refused(r, "stale")
    assert "2.50" in r.message


def test_stale_check_off_when_zero(predictor):
    planner = GraspPlanner(predictor, PlannerConfig(max_image_age_s=0.0))
    r = planner.plan(frame(stamp_ns=0), BASE_T_CAMERA, now_ns=NOW + 3600 * 10**9)
    assert r.success, r.message


def test_camera_info_size_mismatch(planner):
    K_small = CameraIntrinsics(320, 240, 307.5, 307.5, 159.5, 119.5)
    _refused(planner.plan(frame(intrinsics=K_small), BASE_T_CAMERA, now_ns=NOW), "camera_info", "320x240")


def test_rgb_not_aligned(planner):
    rgb = np.zeros((240, 320, 3), np.uint8)
    _refused(planner.plan(frame(rgb=rgb), BASE_T_CAMERA, now_ns=NOW), "aligned")


@pytest.mark.parametrize("fill", [np.nan, 0.0])
def test_no_valid_depth(planner, fill):
    depth = np.full((H, W), fill, np.float32)
    _refused(planner.plan(frame(depth=depth), BASE_T_CAMERA, now_ns=NOW), "no valid")


def test_depth_in_millimetres_mistaken_for_metres(planner):
    depth = scene_depth() * 1000.0  # 600.0 "metres"
    _refused(planner.plan(frame(depth=depth), BASE_T_CAMERA, now_ns=NOW), "millimetres")


def test_min_quality_above_every_grasp(planner, good_result):
    top = max(g.quality for g in good_result.image_grasps)
    r = planner.plan(frame(), BASE_T_CAMERA, now_ns=NOW, min_quality=top + 1.0)
    _refused(r, "min_quality")
    assert r.image_grasps  # the candidates are still reported


def test_roi_excluding_the_box(predictor):
    planner = GraspPlanner(predictor, PlannerConfig(workspace=Workspace(roi=(0, 0, 100, 100))))
    _refused(planner.plan(frame(), BASE_T_CAMERA, now_ns=NOW), "ROI")


def test_workspace_box_excluding_everything(predictor):
    ws = Workspace(box_min=(5.0, 5.0, 5.0), box_max=(6.0, 6.0, 6.0))
    _refused(GraspPlanner(predictor, PlannerConfig(workspace=ws)).plan(frame(), BASE_T_CAMERA, now_ns=NOW),
             "workspace box")


@pytest.mark.parametrize("T", [np.diag([2.0, 2.0, 2.0, 1.0]), np.eye(3), np.full((4, 4), np.nan)],
                         ids=["scaled", "3x3", "nan"])
def test_non_rigid_base_T_camera(planner, T):
    _refused(planner.plan(frame(), T, now_ns=NOW), "rigid")


def test_colour_model_without_colour():
    class NoPredict:
        card = SimpleNamespace(inputs="rgbd", name="rgbd-model")

        def predict(self, *a, **k):  # pragma: no cover - must not be reached
            raise AssertionError("plan() ran the network on a frame it should refuse")

    r = GraspPlanner(NoPredict()).plan(frame(), BASE_T_CAMERA, now_ns=NOW)
    _refused(r, "colour", "rgbd-model")


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("roi", [(10, 10, 5, 50), (10, 50, 20, 40), (0, 0, 10), (5, 5, 5, 9)])
def test_workspace_bad_roi(roi):
    with pytest.raises(ValueError, match="roi"):
        Workspace(roi=roi)


@pytest.mark.parametrize("kwargs", [dict(box_min=(0, 0, 0)), dict(box_max=(1, 1, 1)),
                                    dict(box_min=(0, 0, 1), box_max=(1, 1, 0)),
                                    dict(box_min=(0, 0), box_max=(1, 1))])
def test_workspace_bad_box(kwargs):
    with pytest.raises(ValueError, match="box"):
        Workspace(**kwargs)


def test_workspace_contains():
    ws = Workspace(roi=(10, 20, 30, 40), box_min=(0, 0, 0), box_max=(1, 2, 3))
    assert ws.contains_pixel(10, 40) and ws.contains_pixel(20, 30)
    assert not ws.contains_pixel(9.9, 30) and not ws.contains_pixel(20, 41)
    assert ws.contains_point(np.array([0.5, 1.5, 2.5]))
    assert not ws.contains_point(np.array([0.5, 2.5, 2.5]))
    assert Workspace().contains_pixel(-1e6, 1e6) and Workspace().contains_point(np.array([1e6, 0, 0]))


@pytest.mark.parametrize("kwargs", [dict(approach="normal"), dict(candidates=0), dict(depth_window=0),
                                    dict(max_image_age_s=-1.0)])
def test_planner_config_validation(kwargs):
    with pytest.raises(ValueError):
        PlannerConfig(**kwargs)


def test_math_sanity_of_the_scene():
    # the synthetic box covers ~43 x 65 px, well inside the 256 px centre crop the model sees
    u0, u1, v0, v1 = _box_footprint_px()
    assert math.isclose(u1 - u0, 0.04 * 615 / 0.57) and 0 < u0 and u1 < W and 0 < v0 and v1 < H
    assert (scene_depth() == BOX_TOP_Z).sum() > 40 * 60


def test_table_levelling_removes_a_tilted_table_and_keeps_objects():
    from grasp_perception.frame_input import FrameInput
    h, w = 480, 640
    vv, uu = np.mgrid[0:h, 0:w]
    table = 0.6 + 0.0004 * (uu - (w - 1) / 2) - 0.0002 * (vv - (h - 1) / 2)  # a ramp of ~26 cm across
    depth = table.astype(np.float32)
    depth[200:260, 300:360] -= 0.03          # a 3 cm object standing on it
    depth[::7, ::11] = np.nan                # dropouts are ignored by the fit (and inpainted)
    fi = FrameInput("depth", 256, "center")
    out = fi(depth, level_table=True)[0][0, 0].copy()
    window = (slice(112, 368), slice(192, 448))
    floor = np.abs(depth[window] - table[window]) < 1e-6
    assert np.std(out[floor]) < 1e-4        # the ramp is gone from what the network sees
    np.testing.assert_allclose(out[floor].mean() - out[200 - 112:260 - 112, 300 - 192:360 - 192].mean(), 0.03,
                               atol=1e-4)   # the object keeps its height
    assert np.std(fi(depth)[0][0, 0][floor]) > 0.01  # without levelling the ramp is there
    flat = np.full((h, w), 0.6, np.float32)
    flat[200:260, 300:360] -= 0.03
    np.testing.assert_array_equal(fi(flat, level_table=True)[0].copy(), fi(flat)[0])  # top-down: unchanged


def test_workspace_contains_arrays_and_a_margin():
    ws = Workspace(roi=(10, 20, 30, 40), box_min=(0, 0, 0), box_max=(1, 2, 3))
    assert ws.contains_pixels(np.array([10, 9.9, 20]), np.array([40, 30, 41])).tolist() == [True, False, False]
    pts = np.array([[0.5, 1.5, 2.5], [1.04, 1.0, 1.0], [1.06, 1.0, 1.0], [np.nan, 0, 0]])
    assert ws.contains_points(pts).tolist() == [True, False, False, False]
    assert ws.contains_points(pts, margin=0.05).tolist() == [True, True, False, False]


def test_point_cloud_planner_takes_its_cloud_from_the_workspace_box_only():
    """A 6-DoF model's cloud spends no points beyond CLOUD_MARGIN_M of the workspace box: the depth it gets has
    every pixel whose base-frame point lies farther out invalid, and the rest as the camera gave them."""
    from grasp_perception.planning import CLOUD_MARGIN_M, PointCloudPlanner
    from grasp_perception.pointcloud.predict import GraspPredictor6D, untrained

    class Recording(GraspPredictor6D):  # the real predictor, remembering the depth it was given
        def image_grasps(self, depth, intrinsics, top_k=None):
            self.seen = depth.copy()
            return super().image_grasps(depth, intrinsics, top_k)

    centre = (BASE_T_CAMERA @ np.array([0.0, 0.0, BOX_TOP_Z, 1.0]))[:3]  # the box top, base frame
    ws = Workspace(box_min=tuple(centre - [0.05, 0.05, 0.05]), box_max=tuple(centre + [0.05, 0.05, 0.05]))
    predictor = Recording(untrained(sample_sizes=(256, 128, 64, 32), n_points=2000, operation_seeds=32))
    PointCloudPlanner(predictor, PlannerConfig(workspace=ws)).plan(frame(), BASE_T_CAMERA, now_ns=NOW)
    depth = scene_depth()
    vv, uu = np.mgrid[0:H, 0:W]
    cam = np.stack([(uu - K.cx) * depth / K.fx, (vv - K.cy) * depth / K.fy, depth], -1)
    base = cam @ BASE_T_CAMERA[:3, :3].T + BASE_T_CAMERA[:3, 3]
    inside = ws.contains_points(base, margin=CLOUD_MARGIN_M)
    assert 0 < inside.mean() < 0.5  # the box keeps the object and the table near it, not the whole frame
    assert np.isnan(predictor.seen[~inside]).all()
    np.testing.assert_array_equal(predictor.seen[inside], depth[inside])
