"""numpy <-> ROS message conversions for images, camera_info, poses and grasps.

Images are copied with ``tobytes()`` / ``np.frombuffer`` (the fast paths measured on this stack:
0.04 ms for a 640x480 RGB image), for the encodings a RealSense publishes (rgb8, bgr8, mono8, 16UC1
depth in millimetres, 32FC1 depth in metres), with the same meaning as cv_bridge gives them.
"""
from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose, PoseStamped
from sensor_msgs.msg import CameraInfo, Image

from ..geometry import CameraIntrinsics, transform_from_xyz_quat, xyz_quat_from_transform

_ENCODINGS = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "mono8": (np.uint8, 1),
              "16UC1": (np.uint16, 1), "mono16": (np.uint16, 1), "32FC1": (np.float32, 1)}
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


class ConversionError(ValueError):
    """A message that cannot be read as what its topic promises (names the topic or field)."""


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def array_to_image(array: np.ndarray, encoding: str, stamp: Time, frame_id: str) -> Image:
    dtype, channels = _ENCODINGS[encoding]
    array = np.ascontiguousarray(array, dtype=dtype)
    if array.ndim != (2 if channels == 1 else 3) or (channels > 1 and array.shape[2] != channels):
        raise ConversionError(f"array of shape {array.shape} cannot be encoded as {encoding}")
    msg = Image()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.height, msg.width = array.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = array.shape[1] * channels * array.itemsize
    msg.data = array.tobytes()
    return msg


def image_to_array(msg: Image, what: str = "image") -> np.ndarray:
    """The image as an (H, W) or (H, W, C) array (a view of the message buffer, read-only)."""
    if msg.encoding not in _ENCODINGS:
        raise ConversionError(f"{what}: encoding {msg.encoding!r} is not supported (expected one of "
                              f"{sorted(_ENCODINGS)})")
    dtype, channels = _ENCODINGS[msg.encoding]
    row = msg.width * channels * np.dtype(dtype).itemsize
    if msg.height == 0 or msg.width == 0 or msg.step < row or len(msg.data) < msg.step * msg.height:
        raise ConversionError(f"{what}: {msg.width}x{msg.height} {msg.encoding} with step {msg.step} "
                              f"needs {msg.step * msg.height} bytes, got {len(msg.data)}")
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height).reshape(msg.height, msg.step)
    arr = buf[:, :row].view(np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<"))
    return arr.reshape(msg.height, msg.width, channels) if channels > 1 else arr.reshape(msg.height, msg.width)


def rgb_from_image(msg: Image, what: str = "colour image") -> np.ndarray:
    arr = image_to_array(msg, what)
    if msg.encoding == "rgb8":
        return arr
    if msg.encoding == "bgr8":
        return arr[..., ::-1]
    raise ConversionError(f"{what}: encoding {msg.encoding!r} is not colour (expected rgb8 or bgr8)")


def depth_from_image(msg: Image, what: str = "depth image", depth_scale: float = 0.001) -> np.ndarray:
    """Depth in metres (float32, NaN = no return). 16UC1/mono16 are millimetres times ``depth_scale``/0.001
    (REP 118: 16-bit depth is mm); 32FC1 is metres."""
    arr = image_to_array(msg, what)
    if msg.encoding == "32FC1":
        out = arr.astype(np.float32)
    elif msg.encoding in ("16UC1", "mono16"):
        out = arr.astype(np.float32) * np.float32(depth_scale)
    else:
        raise ConversionError(f"{what}: encoding {msg.encoding!r} is not depth (expected one of {DEPTH_ENCODINGS})")
    out[~(out > 0)] = np.nan  # 0 = no data (RealSense); also NaN/negatives
    return out


def intrinsics_to_camera_info(K: CameraIntrinsics, stamp: Time, frame_id: str) -> CameraInfo:
    msg = CameraInfo()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.width, msg.height = K.width, K.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [K.fx, 0.0, K.cx, 0.0, K.fy, K.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [K.fx, 0.0, K.cx, 0.0, 0.0, K.fy, K.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def camera_info_to_intrinsics(msg: CameraInfo, what: str = "camera_info") -> CameraIntrinsics:
    k = list(msg.k)
    if len(k) != 9 or not all(math.isfinite(x) for x in k):
        raise ConversionError(f"{what}: field 'k' must hold 9 finite numbers, got {k}")
    try:
        return CameraIntrinsics(int(msg.width), int(msg.height), float(k[0]), float(k[4]), float(k[2]), float(k[5]))
    except ValueError as exc:
        raise ConversionError(f"{what}: {exc}") from exc


def transform_to_pose(T: np.ndarray) -> Pose:
    xyz, q = xyz_quat_from_transform(T)
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in xyz)
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in q)
    return pose


def pose_to_transform(pose: Pose) -> np.ndarray:
    p, o = pose.position, pose.orientation
    return transform_from_xyz_quat((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))


def transform_msg_to_matrix(t) -> np.ndarray:
    """``geometry_msgs/Transform`` (what a TF lookup returns) -> 4x4."""
    p, o = t.translation, t.rotation
    return transform_from_xyz_quat((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))


def matrix_to_transform_stamped(T: np.ndarray, parent: str, child: str, stamp: Time):
    """4x4 ``parent_T_child`` -> ``geometry_msgs/TransformStamped`` (for a TF broadcaster)."""
    from geometry_msgs.msg import TransformStamped
    xyz, q = xyz_quat_from_transform(T)
    t = TransformStamped()
    t.header.stamp, t.header.frame_id, t.child_frame_id = stamp, parent, child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = map(float, xyz)
    t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w = map(float, q)
    return t


def planned_grasp_to_msg(grasp, frame_id: str, stamp: Time):
    """A :class:`grasp_perception.planning.PlannedGrasp` as ``grasp_interfaces/msg/Grasp``."""
    from grasp_interfaces.msg import Grasp
    msg = Grasp()
    msg.pose = PoseStamped()
    msg.pose.header.frame_id, msg.pose.header.stamp = frame_id, stamp
    msg.pose.pose = transform_to_pose(grasp.pose.T)
    msg.width = float(grasp.pose.width_m)
    msg.grasp_depth = float(grasp.pose.approach_depth_m or 0.0)
    msg.quality = float(grasp.image.quality)
    msg.center_u, msg.center_v = float(grasp.image.u), float(grasp.image.v)
    msg.angle = float(grasp.image.angle)
    msg.width_px, msg.jaw_px = float(grasp.image.width), float(grasp.image.jaw)
    msg.depth = float(grasp.pose.depth_m)
    return msg
