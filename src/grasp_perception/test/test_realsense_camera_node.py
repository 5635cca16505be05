"""RealSense source and camera node, without a camera: a synthetic recording made through a
``pyrealsense2`` software device, replayed through :class:`RealSenseSource` and through the node over
real DDS (its own ROS domain, localhost only)."""
import os
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2 Jazzy wheels) is not installed")
rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and Debian libusb-1.0-0) is not installed")
pytest.importorskip("grasp_interfaces",
                    reason="grasp_interfaces is not built (colcon build, then source install/setup.bash)")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from grasp_perception.geometry import CameraIntrinsics  # noqa: E402
from grasp_perception.nodes import StartupError, topics  # noqa: E402
from grasp_perception.nodes.conversions import image_to_array, stamp_to_ns  # noqa: E402
from grasp_perception.nodes.realsense_camera_node import create_node  # noqa: E402
from grasp_perception.realsense import (RealSenseSource, RealSenseUnavailable,  # noqa: E402
                                        record_synthetic)

# fx != fy and an off-centre principal point, so a swapped or dropped field shows
K = CameraIntrinsics(640, 480, fx=612.3, fy=615.7, cx=300.2, cy=250.9)
N_FRAMES = 5


def synthetic_frames():
    """Depth: a sloped plane (600..1040 mm) with a 450 mm box; colour encodes the frame index in B."""
    u, v = np.arange(K.width)[None, :], np.arange(K.height)[:, None]
    frames = []
    for n in range(N_FRAMES):
        depth = (600 + u * 0.5 + v * 0.25 + 10 * n).astype(np.uint16)
        depth[150:300, 250:400] = 450 + n
        rgb = np.stack(np.broadcast_arrays(u % 256, v % 256, np.full_like(u, 40 * n)), axis=-1).astype(np.uint8)
        frames.append((rgb, depth))
    return frames


FRAMES = synthetic_frames()


def frame_index(rgb: np.ndarray) -> int:
    return int(rgb[0, 0, 2]) // 40


def assert_intrinsics(got: CameraIntrinsics):
    # librealsense stores intrinsics as float32
    assert (got.width, got.height) == (K.width, K.height)
    assert [got.fx, got.fy, got.cx, got.cy] == pytest.approx([K.fx, K.fy, K.cx, K.cy], rel=1e-6)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return record_synthetic(tmp_path_factory.mktemp("rs") / "synthetic.db3", FRAMES, K)


def play_all(path, **kwargs):
    with RealSenseSource(playback_file=str(path), realtime=False, **kwargs) as src:
        frames = []
        while (frame := src.wait_for_frame(timeout_s=2.0)) is not None:
            frames.append(frame)
        assert src.finished
    return frames


def test_record_synthetic_writes_the_db3_it_was_given(recording, tmp_path):
    assert os.path.isfile(recording) and recording.endswith("synthetic.db3")
    with pytest.raises(ValueError, match=r"\.db3"):
        record_synthetic(tmp_path / "x.bag", FRAMES[:1], K)


def test_playback_returns_every_frame_unchanged(recording):
    frames = play_all(recording)
    assert [f.frame_number for f in frames] == list(range(N_FRAMES))  # no drops, no stale pairs
    assert [f.stamp_ns for f in frames] == [round(n * 1e9 / 30) for n in range(N_FRAMES)]
    for f in frames:
        rgb, depth = FRAMES[f.frame_number]
        assert f.rgb.dtype == np.uint8 and f.rgb.shape == (480, 640, 3)
        assert f.depth_mm.dtype == np.uint16 and f.depth_mm.shape == (480, 640)
        np.testing.assert_array_equal(f.rgb, rgb)
        np.testing.assert_array_equal(f.depth_mm, depth)  # already registered: passed through exactly
        assert_intrinsics(f.intrinsics)


def test_depth_scale_is_rescaled_to_millimetres(tmp_path):
    path = record_synthetic(tmp_path / "half_mm.db3", FRAMES[:2], K, depth_scale=0.0005)
    frames = play_all(path)
    assert len(frames) == 2
    for f in frames:
        np.testing.assert_array_equal(f.depth_mm, FRAMES[f.frame_number][1])


def test_rs_align_path_keeps_colour_geometry(recording):
    """rs.align (what a real camera's depth goes through) on registered depth: the colour intrinsics,
    and the recorded values except librealsense's round-off holes (~5 % zeros, ~0.5 % off by one pixel)."""
    frames = play_all(recording, force_align=True)
    assert len(frames) == N_FRAMES
    for f in frames:
        depth = FRAMES[f.frame_number][1]
        assert_intrinsics(f.intrinsics)
        assert np.mean(f.depth_mm == depth) > 0.9
        moved = (f.depth_mm != depth) & (f.depth_mm > 0)
        assert np.mean(moved) < 0.02
        # anything not a hole is the value of a neighbouring pixel
        near = [np.roll(depth, (dv, du), axis=(0, 1)) for dv in (-1, 0, 1) for du in (-1, 0, 1)]
        assert np.all(np.any(np.stack(near)[:, moved] == f.depth_mm[moved], axis=0))


def test_live_without_device_raises_unavailable():
    with pytest.raises(RealSenseUnavailable, match="no RealSense device found"):
        RealSenseSource(serial="000000000000")  # no unit has this serial, so also with cameras attached


# ---- the node, over DDS ----

@pytest.fixture
def ros(monkeypatch):
    # own domain per test process, localhost only: parallel test runs and other hosts stay out
    monkeypatch.setenv("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()


def test_node_publishes_recording_on_realsense_topics(ros, recording):
    # repeat: the subscriber may match after the first frames went out
    camera = create_node(playback_file=recording, repeat_playback=True)
    listener = rclpy.create_node("listener")
    got = {}  # stamp ns -> {topic: msg}
    qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    for topic, typ in ((topics.COLOR_TOPIC, Image), (topics.COLOR_INFO_TOPIC, CameraInfo),
                       (topics.DEPTH_TOPIC, Image), (topics.DEPTH_INFO_TOPIC, CameraInfo)):
        listener.create_subscription(
            typ, topic, lambda msg, topic=topic: got.setdefault(stamp_to_ns(msg.header.stamp), {})
            .__setitem__(topic, msg), qos)
    executor = SingleThreadedExecutor()
    executor.add_node(camera)
    executor.add_node(listener)
    try:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and sum(len(m) == 4 for m in got.values()) < 3:
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.shutdown()
        camera.destroy_node()
        listener.destroy_node()

    complete = [m for m in got.values() if len(m) == 4]  # all four topics share each frameset's stamp
    assert len(complete) >= 3, f"only {len(complete)} complete framesets in 10 s ({len(got)} stamps)"
    for m in complete:
        color, depth = m[topics.COLOR_TOPIC], m[topics.DEPTH_TOPIC]
        assert (color.encoding, color.width, color.height) == ("rgb8", 640, 480)
        assert (depth.encoding, depth.width, depth.height) == ("16UC1", 640, 480)
        rgb, depth_mm = FRAMES[frame_index(image_to_array(color))]
        np.testing.assert_array_equal(image_to_array(color), rgb)
        np.testing.assert_array_equal(image_to_array(depth), depth_mm)
        for info in (m[topics.COLOR_INFO_TOPIC], m[topics.DEPTH_INFO_TOPIC]):
            assert (info.width, info.height) == (640, 480)
            assert list(info.k) == pytest.approx([K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1], rel=1e-6)
        assert {msg.header.frame_id for msg in m.values()} == {"camera_color_optical_frame"}


def test_node_without_device_keeps_retrying(ros, capfd):
    camera = create_node(serial="000000000000", retry_period_s=0.1)
    try:
        deadline = time.monotonic() + 3.0
        err = ""
        while time.monotonic() < deadline and err.count("retrying") < 2:
            time.sleep(0.1)
            err += capfd.readouterr().err
        assert camera._thread.is_alive()  # still trying, nothing raised
    finally:
        camera.destroy_node()
    assert err.count("no RealSense device found (serial 000000000000); retrying in 0.1 s") >= 2, err


def test_node_missing_playback_file_fails_at_startup(ros, tmp_path):
    missing = str(tmp_path / "nope.db3")
    with pytest.raises(StartupError, match="playback_file") as exc:
        create_node(playback_file=missing)
    assert missing in str(exc.value)
