"""numpy <-> ROS message conversions (grasp_perception.nodes.conversions); needs rclpy and grasp_interfaces."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy (ROS 2 Jazzy wheels) is not installed")
pytest.importorskip("sensor_msgs", reason="sensor_msgs is not installed")
pytest.importorskip("grasp_interfaces",
                    reason="grasp_interfaces is not built (colcon build, then source install/setup.bash)")

from grasp_interfaces.msg import Grasp  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from grasp_perception.geometry import CameraIntrinsics, GraspPose6D, make_transform  # noqa: E402
from grasp_perception.grasp import ImageGrasp  # noqa: E402
from grasp_perception.nodes.conversions import (ConversionError, array_to_image, camera_info_to_intrinsics,  # noqa: E402
                                                depth_from_image, image_to_array, intrinsics_to_camera_info,
                                                ns_to_stamp, planned_grasp_to_msg, pose_to_transform,
                                                rgb_from_image, stamp_to_ns, transform_to_pose)
from grasp_perception.planning import PlannedGrasp  # noqa: E402

STAMP_NS = 1_700_000_123_456_789_012
H, W = 6, 5  # non-square, odd width: catches row/column and stride mix-ups


def _stamp():
    return ns_to_stamp(STAMP_NS)


def test_stamp_round_trip():
    st = ns_to_stamp(STAMP_NS)
    assert st.sec == 1_700_000_123 and st.nanosec == 456_789_012
    assert stamp_to_ns(st) == STAMP_NS


# ----------------------------------------------------------------------------------------------- images
@pytest.mark.parametrize("encoding, dtype, shape", [
    ("rgb8", np.uint8, (H, W, 3)), ("bgr8", np.uint8, (H, W, 3)), ("mono8", np.uint8, (H, W)),
    ("16UC1", np.uint16, (H, W)), ("32FC1", np.float32, (H, W))])
def test_image_round_trip(encoding, dtype, shape):
    rng = np.random.default_rng(0)
    if dtype == np.float32:
        arr = rng.uniform(0.1, 4.0, shape).astype(dtype)
    else:
        arr = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    msg = array_to_image(arr, encoding, _stamp(), "cam_optical")
    assert (msg.height, msg.width, msg.encoding) == (H, W, encoding)
    assert msg.header.frame_id == "cam_optical" and stamp_to_ns(msg.header.stamp) == STAMP_NS
    assert msg.step == W * (3 if len(shape) == 3 else 1) * np.dtype(dtype).itemsize
    assert len(msg.data) == msg.step * H
    back = image_to_array(msg)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, arr)
    # survives the wire too
    back2 = image_to_array(deserialize_message(serialize_message(msg), Image))
    np.testing.assert_array_equal(back2, arr)


def test_16uc1_bytes_are_little_endian_row_major():
    arr = np.array([[1, 258], [3, 4]], np.uint16)
    msg = array_to_image(arr, "16UC1", _stamp(), "d")
    assert bytes(msg.data) == bytes([1, 0, 2, 1, 3, 0, 4, 0])
    assert msg.is_bigendian == 0


def test_rgb_from_image_reorders_bgr():
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    np.testing.assert_array_equal(rgb_from_image(array_to_image(rgb, "rgb8", _stamp(), "c")), rgb)
    bgr_msg = array_to_image(rgb[..., ::-1], "bgr8", _stamp(), "c")
    assert bytes(bgr_msg.data)[:3] == bytes([50, 100, 200])
    np.testing.assert_array_equal(rgb_from_image(bgr_msg), rgb)
    with pytest.raises(ConversionError, match="colour"):
        rgb_from_image(array_to_image(np.zeros((H, W), np.uint16), "16UC1", _stamp(), "d"), "colour topic")


def test_array_to_image_rejects_wrong_shape():
    with pytest.raises(ConversionError, match="rgb8"):
        array_to_image(np.zeros((H, W), np.uint8), "rgb8", _stamp(), "c")
    with pytest.raises(ConversionError, match="16UC1"):
        array_to_image(np.zeros((H, W, 3), np.uint16), "16UC1", _stamp(), "c")


@pytest.mark.parametrize("encoding, dtype, channels", [("rgb8", np.uint8, 3), ("16UC1", np.uint16, 1),
                                                       ("32FC1", np.float32, 1)])
def test_padded_step(encoding, dtype, channels):
    rng = np.random.default_rng(1)
    shape = (H, W, channels) if channels > 1 else (H, W)
    arr = (rng.uniform(0.1, 3.0, shape) if dtype == np.float32 else rng.integers(1, 250, shape)).astype(dtype)
    row = W * channels * np.dtype(dtype).itemsize
    pad = 7  # odd padding: each row starts at a byte offset not aligned to the pixel size
    raw = np.full((H, row + pad), 0xAB, np.uint8)
    raw[:, :row] = arr.reshape(H, -1).view(np.uint8).reshape(H, row)
    msg = Image(height=H, width=W, encoding=encoding, is_bigendian=0, step=row + pad, data=raw.tobytes())
    back = image_to_array(msg)
    assert back.shape == shape
    np.testing.assert_array_equal(back, arr)


def test_big_endian_16uc1():
    arr = np.array([[1, 258, 1000]], np.uint16)
    msg = Image(height=1, width=3, encoding="16UC1", is_bigendian=1, step=6, data=arr.astype(">u2").tobytes())
    np.testing.assert_array_equal(image_to_array(msg), arr)


def test_too_short_buffer_names_what():
    msg = array_to_image(np.zeros((H, W, 3), np.uint8), "rgb8", _stamp(), "c")
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ConversionError, match="/camera/color/image_raw"):
        image_to_array(msg, "/camera/color/image_raw")


def test_step_smaller_than_a_row_raises():
    msg = array_to_image(np.zeros((H, W), np.uint16), "16UC1", _stamp(), "d")
    msg.step = W  # one byte per pixel for a 2-byte encoding
    with pytest.raises(ConversionError, match="depth topic"):
        image_to_array(msg, "depth topic")


def test_empty_image_raises():
    with pytest.raises(ConversionError):
        image_to_array(Image(height=0, width=0, encoding="rgb8", step=0), "empty")


def test_unsupported_encoding():
    msg = Image(height=1, width=1, encoding="yuv422", step=2, data=b"\x00\x00")
    with pytest.raises(ConversionError, match="yuv422") as exc:
        image_to_array(msg, "colour")
    assert "colour" in str(exc.value)
    with pytest.raises(ConversionError, match="not depth"):
        depth_from_image(array_to_image(np.zeros((1, 1, 3), np.uint8), "rgb8", _stamp(), "c"))


def test_depth_from_16uc1_millimetres():
    mm = np.array([[0, 600, 1234], [65535, 1, 0]], np.uint16)
    d = depth_from_image(array_to_image(mm, "16UC1", _stamp(), "d"))
    assert d.dtype == np.float32 and d.shape == mm.shape
    np.testing.assert_allclose(d[mm > 0], mm[mm > 0] / 1000.0, rtol=1e-6)
    assert np.isnan(d[0, 0]) and np.isnan(d[1, 2])
    assert d[0, 1] == pytest.approx(0.6)


def test_depth_scale_override():
    d = depth_from_image(array_to_image(np.array([[1000]], np.uint16), "16UC1", _stamp(), "d"), depth_scale=0.0001)
    assert d[0, 0] == pytest.approx(0.1)


def test_depth_from_32fc1_metres():
    m = np.array([[0.0, 0.6, np.nan], [-1.0, 2.5, np.inf]], np.float32)
    d = depth_from_image(array_to_image(m, "32FC1", _stamp(), "d"))
    assert d[0, 1] == pytest.approx(0.6) and d[1, 1] == pytest.approx(2.5)
    assert np.isnan(d[0, 0]) and np.isnan(d[0, 2]) and np.isnan(d[1, 0])
    # converting must not write into the message buffer
    msg = array_to_image(m, "32FC1", _stamp(), "d")
    depth_from_image(msg)
    assert image_to_array(msg)[0, 0] == 0.0


# ------------------------------------------------------------------------------------------ camera_info
def test_camera_info_round_trip():
    K = CameraIntrinsics(640, 480, fx=612.5, fy=610.25, cx=321.0, cy=238.5)
    msg = intrinsics_to_camera_info(K, _stamp(), "camera_color_optical_frame")
    assert (msg.width, msg.height) == (640, 480)
    np.testing.assert_allclose(np.asarray(msg.k).reshape(3, 3), K.K)
    np.testing.assert_allclose(np.asarray(msg.p).reshape(3, 4)[:, :3], K.K)
    assert msg.header.frame_id == "camera_color_optical_frame"
    assert camera_info_to_intrinsics(msg) == K
    assert camera_info_to_intrinsics(deserialize_message(serialize_message(msg), CameraInfo)) == K


def test_camera_info_from_hand_built_message():
    msg = CameraInfo(width=848, height=480, k=[420.0, 0.0, 424.5, 0.0, 421.0, 240.5, 0.0, 0.0, 1.0])
    K = camera_info_to_intrinsics(msg)
    assert (K.width, K.height, K.fx, K.fy, K.cx, K.cy) == (848, 480, 420.0, 421.0, 424.5, 240.5)


def test_camera_info_zero_fx():
    msg = CameraInfo(width=640, height=480, k=[0.0, 0.0, 320.0, 0.0, 615.0, 240.0, 0.0, 0.0, 1.0])
    with pytest.raises(ConversionError, match="/camera/color/camera_info"):
        camera_info_to_intrinsics(msg, "/camera/color/camera_info")


def test_camera_info_empty_is_refused():
    # a default CameraInfo (all-zero K, 0x0) is what an unconfigured driver publishes
    with pytest.raises(ConversionError):
        camera_info_to_intrinsics(CameraInfo())


def test_camera_info_nan_k():
    msg = CameraInfo(width=640, height=480, k=[math.nan, 0.0, 320.0, 0.0, 615.0, 240.0, 0.0, 0.0, 1.0])
    with pytest.raises(ConversionError, match="'k'"):
        camera_info_to_intrinsics(msg)


# ------------------------------------------------------------------------------------------------ poses
def test_pose_round_trip():
    R = Rotation.from_euler("zyx", [30, -20, 110], degrees=True).as_matrix()
    T = make_transform(R, [0.1, -0.2, 0.3])
    pose = transform_to_pose(T)
    assert (pose.position.x, pose.position.y, pose.position.z) == pytest.approx((0.1, -0.2, 0.3))
    q = [pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w]
    assert np.linalg.norm(q) == pytest.approx(1.0)
    np.testing.assert_allclose(pose_to_transform(pose), T, atol=1e-12)


def test_pose_quaternion_order():
    T = make_transform(Rotation.from_euler("z", 90, degrees=True).as_matrix())
    o = transform_to_pose(T).orientation
    s = math.sqrt(0.5)
    assert abs(o.x) < 1e-12 and abs(o.y) < 1e-12
    assert (o.z, o.w) == pytest.approx((s, s)) or (o.z, o.w) == pytest.approx((-s, -s))


# ------------------------------------------------------------------------------------------------ grasps
def _planned_grasp() -> PlannedGrasp:
    img = ImageGrasp(u=321.25, v=200.5, angle=0.35, width=48.5, jaw=24.25, quality=0.875, angle_bin=1)
    cam_T = make_transform(Rotation.from_euler("z", -0.35).as_matrix(), [0.01, -0.02, 0.57])
    cam = GraspPose6D(cam_T, width_m=0.045, depth_m=0.57)
    base_T_cam = make_transform(Rotation.from_euler("zx", [35, 180], degrees=True).as_matrix(), [0.5, -0.1, 0.6])
    return PlannedGrasp(img, cam, cam.transformed(base_T_cam))


def test_planned_grasp_to_msg_fills_every_field():
    g = _planned_grasp()
    msg = planned_grasp_to_msg(g, "base_link", _stamp())
    assert isinstance(msg, Grasp)
    assert msg.pose.header.frame_id == "base_link"
    assert stamp_to_ns(msg.pose.header.stamp) == STAMP_NS
    np.testing.assert_allclose(pose_to_transform(msg.pose.pose), g.pose.T, atol=1e-7)
    expected = {"width": 0.045, "quality": 0.875, "center_u": 321.25, "center_v": 200.5, "angle": 0.35,
                "width_px": 48.5, "jaw_px": 24.25, "depth": 0.57, "grasp_depth": 0.0}
    fields = set(Grasp.get_fields_and_field_types())
    assert fields == set(expected) | {"pose"}, "Grasp.msg gained a field this test (and the converter) must cover"
    for name, value in expected.items():
        assert getattr(msg, name) == pytest.approx(value, rel=1e-6), name
    # a 6-DoF model's grasp carries its predicted approach depth; an image model's leaves 0 (the executor's)
    deep = dataclasses.replace(g, pose=dataclasses.replace(g.pose, approach_depth_m=0.03))
    assert planned_grasp_to_msg(deep, "base_link", _stamp()).grasp_depth == pytest.approx(0.03)


def test_planned_grasp_to_msg_survives_serialisation():
    g = _planned_grasp()
    msg = planned_grasp_to_msg(g, "base_link", _stamp())
    back = deserialize_message(serialize_message(msg), Grasp)
    # float32 fields hold Python floats until serialised: compare at float32 precision, and check that
    # a second trip through the wire is exact
    assert deserialize_message(serialize_message(back), Grasp) == back
    assert back.pose == msg.pose  # float64 all the way
    for name in ("width", "quality", "center_u", "center_v", "angle", "width_px", "jaw_px", "depth"):
        assert getattr(back, name) == pytest.approx(getattr(msg, name), rel=1e-6), name
    assert back.pose.header.frame_id == "base_link"
    np.testing.assert_allclose(pose_to_transform(back.pose.pose), g.pose.T, atol=1e-7)
    assert back.width == pytest.approx(0.045, rel=1e-6) and back.depth == pytest.approx(0.57, rel=1e-6)


def test_transform_stamped_round_trip():
    """The TF conversions (static TF of the sim camera, TF lookups of the perception node) invert each other."""
    from grasp_perception.geometry import transform_from_xyz_quat
    from grasp_perception.nodes.conversions import matrix_to_transform_stamped, ns_to_stamp, transform_msg_to_matrix
    T = transform_from_xyz_quat((0.1, -0.2, 0.6), (0.2, -0.3, 0.5, 0.8))
    msg = matrix_to_transform_stamped(T, "wx250s/base_link", "camera_link", ns_to_stamp(5))
    assert (msg.header.frame_id, msg.child_frame_id, msg.header.stamp.nanosec) == ("wx250s/base_link", "camera_link", 5)
    np.testing.assert_allclose(transform_msg_to_matrix(msg.transform), T, atol=1e-12)
