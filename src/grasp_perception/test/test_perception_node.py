"""Perception node over real DDS, fed by the simulated camera: ``/plan_grasp`` answers with grasps in the
robot base frame that lie on the object the simulator placed and reproject onto the pixel they were
planned at; bad input gets ``success=False`` with a message saying why (never a hang); start-up errors
name the parameter; continuous mode, the overlay and the RViz markers publish.

Everything runs in this process on its own ROS domain, localhost only, one MultiThreadedExecutor spun
in a daemon thread. At most one camera source (simulated or a test publisher) and one perception node
live at a time, so ``/plan_grasp`` and the camera topics always have a single server / publisher.
Figures (round trip, position error, continuous rate) are printed: run with ``pytest -s`` to see them.
"""
import math
import os
import threading
import time
import traceback
from contextlib import contextmanager

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2 Jazzy wheels) is not installed")
pytest.importorskip("grasp_interfaces",
                    reason="grasp_interfaces is not built (colcon build, then source install/setup.bash)")
os.environ.setdefault("MUJOCO_GL", "egl")  # as grasp_sim does; must precede mujoco's first import
pytest.importorskip("mujoco", reason="mujoco is not installed (the simulated camera renders with it)")

from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from grasp_interfaces.msg import Grasp  # noqa: E402
from grasp_interfaces.srv import PlanGrasp  # noqa: E402
from grasp_perception.geometry import (CameraIntrinsics, invert_transform,  # noqa: E402
                                       transform_from_xyz_quat)
from grasp_perception.handeye import save_calibration  # noqa: E402
from grasp_perception.nodes import StartupError, topics  # noqa: E402
from grasp_perception.nodes.conversions import array_to_image, image_to_array, \
    intrinsics_to_camera_info  # noqa: E402
from grasp_perception.nodes.perception_node import create_node as create_perception  # noqa: E402
from grasp_sim import cell_setup  # noqa: E402
from grasp_sim.cell_setup import CellSettings, sim_calibration  # noqa: E402
from grasp_sim.nodes.sim_camera_node import create_node as create_sim_camera  # noqa: E402

BASE_FRAME = "wx250s/base_link"
TOP_DOWN = CellSettings(arm="widowx", n_objects=3, depth_noise=True)
TILTED = CellSettings(arm="widowx", n_objects=3, depth_noise=True, camera_tilt_deg=25.0)
OBJECT = 0                 # the sim camera node's default initial_objects = [0]: the only object in the tray
CALL_TIMEOUT_S = 15.0      # no call may take longer (a hang fails instead of blocking the run)
N_TIMED_CALLS = 10


def settings_params(s: CellSettings) -> dict:
    return {f: getattr(s, f) for f in CellSettings.__dataclass_fields__}


# ------------------------------------------------------------------------------------------ fixtures
class Ros:
    """The module's ROS graph: an executor in a daemon thread, a tester node with a /plan_grasp client,
    and the one camera source of the moment."""

    def __init__(self, tmp_dir):
        self.tmp_dir = tmp_dir
        self.executor = MultiThreadedExecutor(num_threads=4)
        self.errors = []              # exceptions raised out of callbacks (they would end executor.spin)
        self.thread = threading.Thread(target=self._spin, name="test_executor", daemon=True)
        self.tester = rclpy.create_node("perception_tester")
        self.client = self.tester.create_client(PlanGrasp, "/plan_grasp")
        self.executor.add_node(self.tester)
        self.thread.start()
        self.camera = None            # the live SimCameraNode, if any
        self.camera_settings = None

    def _spin(self):
        # A callback's exception ends MultiThreadedExecutor.spin: record it (each test checks) and spin on.
        while True:
            try:
                self.executor.spin()
                return
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{exc!r}\n{''.join(traceback.format_exception(exc))}")

    # nodes ------------------------------------------------------------------------------------
    def add(self, node):
        self.executor.add_node(node)
        return node

    def remove(self, node):
        """Take ``node`` off the executor and destroy it once none of its callbacks still runs: a plan in
        flight (continuous mode) would otherwise publish on a destroyed publisher. (rclpy 7.1's
        Executor.shutdown / remove_node do not wait for running callbacks, so wait for the executor's
        outstanding handlers here.)"""
        self.executor.remove_node(node)
        time.sleep(0.05)  # a handler already taken from the wait set gets submitted
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not all(f.done() for f in list(getattr(self.executor, "_futures", []))):
            time.sleep(0.01)
        node.destroy_node()

    @contextmanager
    def running(self, node):
        self.add(node)
        try:
            yield node
        finally:
            self.remove(node)

    def sim_camera(self, settings: CellSettings):
        """The simulated camera for ``settings`` (replacing any other one: one camera on the topics)."""
        if self.camera is not None and self.camera_settings == settings:
            return self.camera
        self.stop_camera()
        self.camera = self.add(create_sim_camera(**settings_params(settings), base_frame=BASE_FRAME))
        self.camera_settings = settings
        return self.camera

    def stop_camera(self):
        if self.camera is not None:
            self.remove(self.camera)
            self.camera = self.camera_settings = None

    def calibration(self, settings: CellSettings) -> str:
        path = self.tmp_dir / f"sim_tilt{settings.camera_tilt_deg:g}.calib"
        if not path.exists():
            save_calibration(path, sim_calibration(settings, BASE_FRAME))
        return str(path)

    def perception(self, settings: CellSettings = TOP_DOWN, **params):
        params.setdefault("calibration", self.calibration(settings))
        return self.running(create_perception(base_frame=BASE_FRAME, **params))

    # calls ------------------------------------------------------------------------------------
    def call(self, max_grasps=3, min_quality=0.0, timeout_s=CALL_TIMEOUT_S) -> PlanGrasp.Response:
        assert self.client.wait_for_service(timeout_sec=10.0), "/plan_grasp never appeared"
        future = self.client.call_async(PlanGrasp.Request(max_grasps=max_grasps, min_quality=min_quality))
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout_s):
            self.client.remove_pending_request(future)
            pytest.fail(f"/plan_grasp did not answer within {timeout_s} s")
        return future.result()

    def shutdown(self):
        self.stop_camera()
        self.executor.shutdown(timeout_sec=5.0)
        self.tester.destroy_node()
        self.thread.join(timeout=5.0)


@pytest.fixture(scope="module")
def ros(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        # own domain per test process, localhost only: parallel runs and other hosts stay out
        mp.setenv("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
        mp.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        rclpy.init()
        graph = None
        try:
            graph = Ros(tmp_path_factory.mktemp("perception_node"))
            yield graph
        finally:
            if graph is not None:
                graph.shutdown()
            rclpy.try_shutdown()


@pytest.fixture(autouse=True)
def no_callback_errors(ros):
    yield
    errors, ros.errors[:] = list(ros.errors), []
    assert not errors, "callbacks raised:\n" + "\n".join(errors)


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def wait_for_frames(perception, n: int = 1, timeout_s: float = 15.0):
    start = perception.frames_received
    wait_for(lambda: perception.frames_received >= start + n, timeout_s,
             f"{n} synchronised frame(s) at the perception node")


# ------------------------------------------------------------------------------------------ 1. grasps
def quat_axes(q) -> np.ndarray:
    return transform_from_xyz_quat((0.0, 0.0, 0.0), (q.x, q.y, q.z, q.w))[:3, :3]


def angle_deg(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return math.degrees(math.acos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0)))


@pytest.mark.parametrize("settings", [TOP_DOWN, TILTED], ids=["top_down", "tilted_25deg"])
def test_plan_grasp_lands_on_the_simulated_object(ros, settings):
    """Geometry (frame, reprojection, unit quaternion, approach) is asserted for every returned grasp and
    both cameras. The best grasp lies on the object for both: the tilted camera's table slope is levelled
    before the network (PlannerConfig.level_table), which was trained on top-down views only."""
    camera = ros.sim_camera(settings)
    cell = camera.cell
    with ros.perception(settings) as perception:
        wait_for_frames(perception, 2)
        t0 = time.perf_counter()
        responses = [ros.call(max_grasps=3)]  # the first plan warms torch up: timed apart
        first_ms = 1e3 * (time.perf_counter() - t0)
        times_ms = []
        for _ in range(N_TIMED_CALLS):
            t0 = time.perf_counter()
            responses.append(ros.call(max_grasps=3))
            times_ms.append(1e3 * (time.perf_counter() - t0))
    for r in responses:
        assert r.success, r.message
        assert 1 <= len(r.grasps) <= 3, r.message

    base_T_world = invert_transform(cell_setup.world_T_base("widowx"))
    base_T_cam = cell_setup.base_T_camera(settings)
    cam_T_base = invert_transform(base_T_cam)
    with camera.lock:
        obj_world = cell.object_pose(OBJECT)[0]
    obj = (base_T_world @ np.append(obj_world, 1.0))[:3]
    radius = cell.objects[OBJECT].bounding_radius()
    # top-down: straight down in the base frame; tilted: the camera's optical axis (approach=optical_axis)
    expected_approach = np.array([0.0, 0.0, -1.0]) if settings.camera_tilt_deg == 0 else base_T_cam[:3, 2]

    h_errors, misses = [], []
    for r in responses:
        for g in r.grasps:
            assert g.pose.header.frame_id == BASE_FRAME
            p = np.array([g.pose.pose.position.x, g.pose.pose.position.y, g.pose.pose.position.z])
            # reprojection: the base-frame point goes back onto the pixel it was planned at
            uv = cell.intrinsics.project((cam_T_base @ np.append(p, 1.0))[:3])
            assert np.hypot(uv[0] - g.center_u, uv[1] - g.center_v) < 1.5, (uv, g.center_u, g.center_v)
            o = g.pose.pose.orientation
            assert math.isclose(math.sqrt(o.x ** 2 + o.y ** 2 + o.z ** 2 + o.w ** 2), 1.0, abs_tol=1e-6)
            approach = quat_axes(o)[:, 2]
            assert angle_deg(approach, expected_approach) < 2.0, (approach, expected_approach)
            if not 0.0 < g.width < 0.1:
                misses.append(f"width {g.width:.3f} m at ({g.center_u:.0f}, {g.center_v:.0f}) not in (0, 0.1)")
        # the best grasp is on the object: horizontally within its bounding radius + 1 cm, between table and top
        best = r.grasps[0].pose.pose.position
        h = float(np.hypot(best.x - obj[0], best.y - obj[1]))
        h_errors.append(h)
        if not (h < radius + 0.01 and 0.0 < best.z < obj[2] + radius + 0.01):
            misses.append(f"best grasp at ({best.x:.3f}, {best.y:.3f}, {best.z:.3f}) is {h * 1e3:.0f} mm from the "
                          f"object centre (tolerance {1e3 * (radius + 0.01):.0f} mm, top {obj[2] + radius:.3f} m)")

    print(f"\n[tilt {settings.camera_tilt_deg:g} deg] /plan_grasp round trip over DDS (in-process, "
          f"{N_TIMED_CALLS} calls after a {first_ms:.0f} ms first call): median {np.median(times_ms):.1f} ms, "
          f"p95 {np.percentile(times_ms, 95):.1f} ms; best grasp vs object centre (horizontal): median "
          f"{1e3 * np.median(h_errors):.1f} mm, max {1e3 * max(h_errors):.1f} mm (object bounding radius "
          f"{1e3 * radius:.1f} mm, at {np.round(obj, 3).tolist()} in {BASE_FRAME}); best quality "
          f"{responses[-1].grasps[0].quality:.3f}; {len(misses)} width/position misses")
    assert not misses, misses


def test_plan_grasp_runs_a_point_cloud_model_folder(ros, tmp_path):
    """A 6-DoF model folder (card kind: point_cloud) through the same node and service: the cloud comes from
    the aligned depth, the poses are the network's own (any approach), each with its approach depth in the
    message, and the pixel fields are the grasp point's projection. The network is untrained (small sample
    sizes, every seed made graspable): what is checked is the path, not the grasps' quality."""
    import torch
    from grasp_perception.model_io import save_model
    from grasp_perception.pointcloud.predict import untrained
    torch.manual_seed(0)
    net, card = untrained((512, 256, 128, 64), n_points=4000, operation_seeds=64)
    with torch.no_grad():
        net.approach[-1].bias[1] += 100.0
    model = save_model(tmp_path / "graspnet6dof-tiny", net, card)
    camera = ros.sim_camera(TOP_DOWN)
    cam_T_base = invert_transform(cell_setup.base_T_camera(TOP_DOWN))
    with ros.perception(TOP_DOWN, model=str(model)) as perception:
        wait_for_frames(perception)
        r = ros.call(max_grasps=5, min_quality=-1e9)
        timings = dict(perception.last_timings_ms)
    assert r.success, r.message
    assert len(r.grasps) == 5
    for g in r.grasps:
        assert g.pose.header.frame_id == BASE_FRAME
        assert any(math.isclose(g.grasp_depth, d, abs_tol=1e-6) for d in (0.01, 0.02, 0.03, 0.04))
        o = g.pose.pose.orientation
        assert math.isclose(math.sqrt(o.x ** 2 + o.y ** 2 + o.z ** 2 + o.w ** 2), 1.0, abs_tol=1e-6)
        p = np.array([g.pose.pose.position.x, g.pose.pose.position.y, g.pose.pose.position.z])
        uv = camera.cell.intrinsics.project((cam_T_base @ np.append(p, 1.0))[:3])
        assert np.hypot(uv[0] - g.center_u, uv[1] - g.center_v) < 1e-3
        assert 0.0 <= g.width <= 0.1
    print(f"\n6-DoF model through /plan_grasp (untrained, sample sizes 512/256/128/64, 4000 points): network "
          f"{timings['network']:.0f} ms, total {timings['total']:.0f} ms")


# ------------------------------------------------------------------------------------------ 2. bad input
def assert_refused(response, *words):
    assert not response.success, f"expected a refusal mentioning {words}, got success: {response.message}"
    assert len(response.grasps) == 0
    for w in words:
        assert w in response.message, f"{w!r} not in {response.message!r}"


def test_no_image_yet(ros):
    ros.stop_camera()
    with ros.perception() as perception:
        assert_refused(ros.call(), "no synchronised")
        assert perception.frames_received == 0


def test_stale_images(ros):
    ros.sim_camera(TOP_DOWN)
    with ros.perception(max_image_age_s=0.2) as perception:
        wait_for_frames(perception)
        ros.stop_camera()
        time.sleep(0.5)
        assert_refused(ros.call(), "stale")


class FakeCamera:
    """A test publisher on the realsense topic names, publishing one colour + depth + camera_info set
    (same stamp) every 0.1 s."""

    def __init__(self, depth_mm: np.ndarray, info_intrinsics: CameraIntrinsics):
        self.node = rclpy.create_node("fake_camera")
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.color = self.node.create_publisher(Image, topics.COLOR_TOPIC, qos)
        self.depth = self.node.create_publisher(Image, topics.DEPTH_TOPIC, qos)
        self.info = self.node.create_publisher(CameraInfo, topics.DEPTH_INFO_TOPIC, qos)
        self.depth_mm = depth_mm
        self.rgb = np.full(depth_mm.shape + (3,), 128, np.uint8)
        self.K = info_intrinsics
        self.node.create_timer(0.1, self.publish)

    def publish(self):
        stamp = self.node.get_clock().now().to_msg()
        self.color.publish(array_to_image(self.rgb, "rgb8", stamp, topics.CAMERA_FRAME))
        self.depth.publish(array_to_image(self.depth_mm, "16UC1", stamp, topics.CAMERA_FRAME))
        self.info.publish(intrinsics_to_camera_info(self.K, stamp, topics.CAMERA_FRAME))


K640 = CameraIntrinsics.realsense_d435_color(640, 480)


@pytest.mark.parametrize("depth_mm, info, words", [
    (np.zeros((480, 640), np.uint16), K640, ("no valid",)),
    (np.full((480, 640), 600, np.uint16), CameraIntrinsics.realsense_d435_color(320, 240),
     ("camera_info", "320x240", "640x480")),
], ids=["depth_all_zero", "camera_info_size_mismatch"])
def test_bad_frames_from_a_test_publisher(ros, depth_mm, info, words):
    ros.stop_camera()
    fake = FakeCamera(depth_mm, info)
    with ros.running(fake.node), ros.perception() as perception:
        wait_for_frames(perception)
        assert_refused(ros.call(), *words)


def test_min_quality_above_every_grasp(ros):
    ros.sim_camera(TOP_DOWN)
    with ros.perception() as perception:
        wait_for_frames(perception)
        assert_refused(ros.call(min_quality=1e6), "min_quality")


def test_every_grasp_outside_the_workspace_roi(ros):
    ros.sim_camera(TOP_DOWN)
    with ros.perception(workspace_roi=[0.0, 0.0, 10.0, 10.0]) as perception:
        wait_for_frames(perception)
        assert_refused(ros.call(), "ROI")


# ------------------------------------------------------------------------------------------ 3. start-up
def test_missing_model_is_a_startup_error(ros, tmp_path):
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(StartupError) as exc:
        create_perception(base_frame=BASE_FRAME, calibration=ros.calibration(TOP_DOWN), model=missing)
    assert "'model'" in str(exc.value) and missing in str(exc.value), str(exc.value)


def test_missing_calibration_is_a_startup_error(tmp_path, ros):
    missing = str(tmp_path / "no_such.calib")
    with pytest.raises(StartupError) as exc:
        create_perception(base_frame=BASE_FRAME, calibration=missing)
    assert "'calibration'" in str(exc.value) and missing in str(exc.value), str(exc.value)


# ------------------------------------------------------------------------------------------ 4. outputs
def test_continuous_mode_publishes_grasps(ros):
    ros.sim_camera(TOP_DOWN)
    got = []
    listener = rclpy.create_node("grasp_listener")
    listener.create_subscription(Grasp, "/perception/grasp", lambda m: got.append((time.monotonic(), m)), 10)
    with ros.running(listener), ros.perception(continuous=True) as perception:
        wait_for(lambda: perception.grasp_pub.get_subscription_count() > 0, 10.0, "the grasp listener to match")
        wait_for(lambda: len(got) > 0, 15.0, "a first continuous grasp")
        t0, n0 = time.monotonic(), len(got)
        time.sleep(2.0)
        n, dt = len(got) - n0, time.monotonic() - t0
    print(f"\ncontinuous mode: {n} grasps on /perception/grasp in {dt:.1f} s = {n / dt:.1f} Hz "
          f"(camera at 10 Hz)")
    assert n >= 1
    for _, m in got:
        assert m.pose.header.frame_id == BASE_FRAME
        assert 0.0 < m.width < 0.1


def test_continuous_mode_drops_stale_frames_instead_of_queueing(ros, tmp_path):
    """A network slower than the camera plans on the newest frame each time: frames are skipped and the
    age of what is planned stays bounded, where a queue would make it grow frame after frame."""
    import torch
    from grasp_perception.model_io import ModelCard, save_model
    from grasp_perception.networks import build_network
    from grasp_perception.nodes.conversions import stamp_to_ns
    torch.manual_seed(0)  # untrained: only its cost matters here (U-Net, ~0.1-0.3 s a frame on 2 cores)
    card = ModelCard(name="unet-slow", architecture="unet", inputs="rgbd", n_bins=1, input_size=224,
                     crop="center", max_width_px=150.0)
    model = save_model(tmp_path / "unet-slow", build_network("unet", 4, n_bins=1).eval(), card)
    ros.sim_camera(TOP_DOWN)  # 10 Hz
    ages = []
    listener = rclpy.create_node("overlay_age_listener")
    clock = listener.get_clock()
    listener.create_subscription(
        Image, "/perception/overlay",
        lambda m: ages.append((clock.now().nanoseconds - stamp_to_ns(m.header.stamp)) / 1e9), 10)
    with ros.running(listener), ros.perception(model=str(model), continuous=True, max_image_age_s=0.0) as per:
        wait_for(lambda: len(ages) >= 2, 30.0, "continuous plans of the slow model")
        received0, planned0, n0 = per.frames_received, per.frames_planned, len(ages)
        time.sleep(3.0)
        received, planned = per.frames_received - received0, per.frames_planned - planned0
        late, plan_s = ages[n0:], per.last_timings_ms["total"] / 1e3
    print(f"\ncontinuous mode, slow model ({1e3 * plan_s:.0f} ms a plan): {received} frames received, {planned} "
          f"planned in 3 s; age of planned frames at publication {min(late):.2f}-{max(late):.2f} s")
    assert 0 < planned < received  # frames were dropped ...
    # ... and what is planned is fresh: at most about one plan plus one frame period old. A queue would add
    # (plan time - frame period) of age with every plan.
    assert max(late) < 2 * plan_s + 0.5


def test_overlay_and_markers_after_plan_grasp(ros):
    ros.sim_camera(TOP_DOWN)
    overlays, markers = [], []
    listener = rclpy.create_node("view_listener")
    listener.create_subscription(Image, "/perception/overlay", overlays.append, 2)
    listener.create_subscription(MarkerArray, "/perception/markers", markers.append, 2)
    with ros.running(listener), ros.perception() as perception:
        wait_for_frames(perception)
        wait_for(lambda: perception.overlay_pub.get_subscription_count() > 0
                 and perception.marker_pub.get_subscription_count() > 0, 10.0, "the view listener to match")
        assert not overlays and not markers  # nothing is drawn until a plan
        r = ros.call(max_grasps=3)
        assert r.success, r.message
        wait_for(lambda: overlays and markers, 5.0, "the overlay and markers of the plan")
    img = overlays[-1]
    assert (img.encoding, img.width, img.height) == ("rgb8", 640, 480)
    assert image_to_array(img).shape == (480, 640, 3)
    ma = markers[-1]
    assert ma.markers[0].action == Marker.DELETEALL
    adds = [m for m in ma.markers if m.action == Marker.ADD]
    assert len(adds) == 2 * len(r.grasps)  # an arrow and an opening bar per grasp
    assert {m.header.frame_id for m in ma.markers} == {BASE_FRAME}
