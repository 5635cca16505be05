"""Perception node: latest synchronised RGB-D frame -> ``/plan_grasp`` (grasps in the robot base frame).

Subscribes to colour, aligned depth and camera_info (realsense-ros names by default), keeps the latest
synchronised set, and answers ``/plan_grasp`` with :class:`grasp_perception.planning.GraspPlanner`.
The camera -> base transform comes from TF when ``tf2_ros`` is installed and ``calibration`` is empty
(easy_handeye2 publishes its result as a static TF), else from an easy_handeye2 ``.calib`` file.
With ``continuous:=true`` it also plans on every frame (up to ``continuous_rate_hz``) and publishes
the best grasp on ``~/grasp``. Every plan is drawn on ``~/overlay`` and shown as RViz markers on
``~/markers``.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
import rclpy.duration
import rclpy.time
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from grasp_interfaces.msg import Grasp
from grasp_interfaces.srv import PlanGrasp

from ..handeye import CalibrationError, load_calibration, link_T_optical
from ..backends import BackendUnavailable
from ..model_io import ModelFileError
from ..planning import CameraFrame, PlannerConfig, PlanResult, Workspace, make_planner
from ..sync import ApproximateTimeSync
from ..visualise import depth_to_bgr, draw_grasps
from . import StartupError, overrides, spin, topics
from .conversions import (ConversionError, array_to_image, camera_info_to_intrinsics, depth_from_image,
                          ns_to_stamp, planned_grasp_to_msg, rgb_from_image, stamp_to_ns,
                          transform_msg_to_matrix)

try:  # a full ROS 2 install; absent when ROS comes from PyPI wheels
    import tf2_ros
except ImportError:
    tf2_ros = None
try:
    import message_filters
except ImportError:
    message_filters = None

PARAMETERS = {  # name: (default, description)
    "model": ("default", "model folder, its card/weights file, 'default' or the pointer file models/default; "
                         "an image model or a 6-DoF point-cloud model (card kind: point_cloud)"),
    "device": ("cpu", "torch device: cpu, cuda, auto (image models)"),
    "backend": ("torch", "inference runtime: torch (the reference), onnxruntime, openvino"),
    "precision": ("fp32", "fp32; bf16 (torch, openvino); int8 (onnxruntime, openvino: needs a calibrated export)"),
    "input_size": (0, "network input side in px (0 = the model card's)"),
    "threads": (0, "inference threads for onnxruntime/openvino (0 = the runtime's default: all cores)"),
    "base_frame": ("base_link", "planning frame of the returned grasps (the robot base)"),
    "calibration": ("", "easy_handeye2 .calib file; empty = look the camera pose up in TF"),
    "camera_link_to_optical_xyz": ([0.0, 0.0, 0.0], "colour sensor offset from the calibrated camera_link (m), "
                                   "used with a calibration file whose tracking_base_frame is not the image frame"),
    "color_topic": (topics.COLOR_TOPIC, "rgb8/bgr8 colour image"),
    "depth_topic": (topics.DEPTH_TOPIC, "depth aligned to colour: 16UC1 mm or 32FC1 m"),
    "info_topic": (topics.DEPTH_INFO_TOPIC, "camera_info of the aligned depth (the colour intrinsics)"),
    "use_color": (True, "subscribe to the colour image (needed by rgb/rgbd models and for the overlay)"),
    "sync_slop_s": (0.05, "approximate-time sync tolerance between the three topics"),
    "max_image_age_s": (1.0, "refuse frames older than this (0 = never stale)"),
    "depth_window": (5, "median window for the grasp depth, px"),
    "approach": ("optical_axis", "approach direction: optical_axis (PLGP labels) or viewing_ray"),
    "candidates": (20, "network grasps considered before the workspace filters"),
    "level_table": (True, "remove the table plane's slope from the network input (for tilted cameras)"),
    "workspace_roi": ([0.0], "image ROI [u_min, v_min, u_max, v_max] px; [0] = whole image"),
    "workspace_min": ([0.0], "base-frame box minimum [x, y, z] m; [0] = no box"),
    "workspace_max": ([0.0], "base-frame box maximum [x, y, z] m"),
    "continuous": (False, "also plan on every frame and publish the best grasp on ~/grasp"),
    "continuous_rate_hz": (0.0, "continuous planning rate limit (0 = every synchronised frame)"),
    "publish_overlay": (True, "draw each plan's grasps on ~/overlay"),
}


def _list_or_none(values, n: int, name: str):
    values = list(values)
    if len(values) <= 1:
        return None
    if len(values) != n:
        raise ValueError(f"parameter '{name}' must hold {n} numbers (or [0] for none), got {values}")
    return tuple(float(v) for v in values)


class PerceptionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("perception", **kwargs)
        try:
            self._configure()
        except Exception:
            self.destroy_node()  # a node that cannot start leaves nothing behind on the graph
            raise

    def _configure(self) -> None:
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default)
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.base_frame = p["base_frame"]
        workspace = Workspace(_list_or_none(p["workspace_roi"], 4, "workspace_roi"),
                              _list_or_none(p["workspace_min"], 3, "workspace_min"),
                              _list_or_none(p["workspace_max"], 3, "workspace_max"))
        config = PlannerConfig(workspace=workspace, max_image_age_s=float(p["max_image_age_s"]),
                               depth_window=int(p["depth_window"]), approach=p["approach"],
                               candidates=int(p["candidates"]), level_table=bool(p["level_table"]))
        try:  # an image model, or a 6-DoF point-cloud model (its card says kind: point_cloud)
            self.planner = make_planner(p["model"], config, device=p["device"], backend=p["backend"],
                                        precision=p["precision"], input_size=int(p["input_size"]) or None,
                                        threads=int(p["threads"]) or None)
        except ModelFileError as exc:
            raise StartupError(f"perception: parameter 'model' = {p['model']!r}: {exc}") from exc
        except (BackendUnavailable, ValueError) as exc:
            raise StartupError(f"perception: parameters backend={p['backend']!r} precision={p['precision']!r} "
                               f"input_size={p['input_size']}: {exc}") from exc
        card = self.planner.predictor.card
        self._tracking_T_optical = link_T_optical(p["camera_link_to_optical_xyz"])
        self.calibration = None
        self.tf_buffer = None
        if p["calibration"]:
            try:
                self.calibration = load_calibration(p["calibration"])
            except CalibrationError as exc:
                raise StartupError(f"perception: parameter 'calibration' = {p['calibration']!r}: {exc}") from exc
            if self.calibration.robot_base_frame != self.base_frame:
                self.get_logger().warn(f"calibration base frame {self.calibration.robot_base_frame!r} differs from "
                                       f"base_frame {self.base_frame!r}; grasps are in the calibration's frame")
                self.base_frame = self.calibration.robot_base_frame
        if tf2_ros is not None and (self.calibration is None or self.calibration.calibration_type == "eye_in_hand"):
            self.tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self.tf_buffer, self)
        elif self.calibration is None:
            raise StartupError("perception: parameter 'calibration' is empty and tf2_ros is not installed: "
                             "give an easy_handeye2 .calib file (or run on a full ROS 2 install with TF)")
        elif self.calibration.calibration_type == "eye_in_hand":
            raise StartupError(f"perception: calibration {p['calibration']!r} is eye_in_hand, which needs the "
                             f"effector pose from TF, and tf2_ros is not installed")

        self._latest: CameraFrame | None = None
        self._latest_error: str | None = None
        self._lock = threading.Lock()
        self._last_continuous = 0.0
        self.continuous = bool(p["continuous"])
        self.continuous_period = 1.0 / p["continuous_rate_hz"] if p["continuous_rate_hz"] > 0 else 0.0
        self.publish_overlay = bool(p["publish_overlay"])
        self.frames_received = 0
        self.plans_published = 0
        self.last_timings_ms: dict = {}
        self.frames_planned = 0     # continuous mode: frames planned on ...
        self._new_frame = threading.Event()  # ... the others were replaced by a newer one first
        self._stopping = threading.Event()
        self._worker = None
        if self.continuous:
            # Plans in its own thread on the newest frame only: a frame that arrives while the network runs
            # replaces the one waiting, so a slow model drops stale frames instead of queueing them.
            self._worker = threading.Thread(target=self._continuous_loop, name="continuous_planning", daemon=True)
            self._worker.start()

        sensor_qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        sub_group = MutuallyExclusiveCallbackGroup()
        topics_in = [(p["depth_topic"], Image), (p["info_topic"], CameraInfo)]
        if p["use_color"]:
            topics_in.insert(0, (p["color_topic"], Image))
        self._topic_names = [t for t, _ in topics_in]
        if message_filters is not None:
            subs = [message_filters.Subscriber(self, typ, name, qos_profile=sensor_qos, callback_group=sub_group)
                    for name, typ in topics_in]
            self._sync = message_filters.ApproximateTimeSynchronizer(subs, 10, p["sync_slop_s"])
            self._sync.registerCallback(self._on_frame)
        else:
            self._sync = ApproximateTimeSync(len(topics_in), self._on_frame, slop_s=p["sync_slop_s"])
            for i, (name, typ) in enumerate(topics_in):
                self.create_subscription(typ, name, lambda m, i=i: self._sync.add(i, stamp_to_ns(m.header.stamp), m),
                                         sensor_qos, callback_group=sub_group)
        self.grasp_pub = self.create_publisher(Grasp, "~/grasp", 10)
        self.overlay_pub = self.create_publisher(Image, "~/overlay", 2)
        self.marker_pub = self.create_publisher(MarkerArray, "~/markers", 2)
        self.srv = self.create_service(PlanGrasp, "/plan_grasp", self._on_plan_grasp,
                                       callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(
            f"model {card.name} ({card.architecture}, {card.inputs}); grasps in "
            f"{self.base_frame!r} via {'TF' if self.calibration is None else 'calibration ' + p['calibration']}; "
            f"listening on {', '.join(self._topic_names)}")

    # ------------------------------------------------------------------------------------- inputs
    def _on_frame(self, *msgs) -> None:
        color = msgs[0] if len(msgs) == 3 else None
        depth_msg, info = msgs[-2], msgs[-1]
        try:
            frame = CameraFrame(depth=depth_from_image(depth_msg, f"depth image ({self._topic_names[-2]})"),
                                intrinsics=camera_info_to_intrinsics(info, f"camera_info ({self._topic_names[-1]})"),
                                stamp_ns=stamp_to_ns(depth_msg.header.stamp), frame_id=depth_msg.header.frame_id,
                                rgb=None if color is None else rgb_from_image(color, f"colour image ({self._topic_names[0]})"))
            error = None
        except ConversionError as exc:
            frame, error = None, str(exc)
        with self._lock:
            if frame is not None:
                self._latest = frame
            self._latest_error = error
            self.frames_received += 1
        if error:
            self.get_logger().warn(error, throttle_duration_sec=5.0)
        elif self.continuous:
            self._new_frame.set()

    def _continuous_loop(self) -> None:
        while not self._stopping.is_set():
            if not self._new_frame.wait(timeout=0.2) or self._stopping.is_set():
                continue
            self._new_frame.clear()
            wait = self.continuous_period - (time.monotonic() - self._last_continuous)
            if wait > 0 and self._stopping.wait(wait):
                break
            self._last_continuous = time.monotonic()
            try:  # an exception here would end continuous planning silently
                result = self.plan(max_grasps=1, min_quality=0.0)
                self.frames_planned += 1
                if result.success:
                    self.grasp_pub.publish(self._to_msgs(result)[0])
                    self.plans_published += 1
            except Exception as exc:
                self.get_logger().error(f"continuous planning failed: {exc!r}", throttle_duration_sec=5.0)

    def destroy_node(self):
        worker = getattr(self, "_worker", None)  # absent when _configure failed early
        if worker is not None:
            self._stopping.set()
            if worker is not threading.current_thread():
                worker.join(timeout=5.0)
        return super().destroy_node()

    def base_T_camera(self, frame: CameraFrame) -> np.ndarray:
        """The image frame's pose in ``base_frame`` at the frame's stamp."""
        stamp = rclpy.time.Time(nanoseconds=frame.stamp_ns)
        timeout = rclpy.duration.Duration(seconds=0.2)
        calib = self.calibration
        if calib is None:
            tf = self.tf_buffer.lookup_transform(self.base_frame, frame.frame_id, stamp, timeout)
            return transform_msg_to_matrix(tf.transform)
        tracking_T_optical = np.eye(4) if frame.frame_id == calib.tracking_base_frame else self._tracking_T_optical
        if calib.calibration_type == "eye_on_base":
            return calib.base_T_optical(tracking_T_optical)
        ee = self.tf_buffer.lookup_transform(calib.robot_base_frame, calib.robot_effector_frame, stamp, timeout)
        return calib.base_T_optical(tracking_T_optical, transform_msg_to_matrix(ee.transform))  # eye in hand

    # ------------------------------------------------------------------------------------- planning
    def plan(self, max_grasps: int, min_quality: float) -> PlanResult:
        with self._lock:
            frame, error = self._latest, self._latest_error
        if frame is None and error:
            return PlanResult(False, f"no usable frame: {error}")
        if frame is None:
            return PlanResult(False, f"no synchronised frame received yet on {', '.join(self._topic_names)}")
        try:
            base_T_camera = self.base_T_camera(frame)
        except Exception as exc:  # tf2 lookup/extrapolation errors, eye-in-hand without effector pose
            return PlanResult(False, f"no transform from {frame.frame_id!r} to {self.base_frame!r}: {exc}",
                              stamp_ns=frame.stamp_ns)
        result = self.planner.plan(frame, base_T_camera, now_ns=self.get_clock().now().nanoseconds,
                                   max_grasps=max_grasps, min_quality=min_quality)
        self.last_timings_ms = result.timings_ms  # per-stage ms of the latest plan (benchmarks, diagnostics)
        self._publish_views(frame, result)
        return result

    def _to_msgs(self, result: PlanResult) -> list[Grasp]:
        stamp = ns_to_stamp(result.stamp_ns)
        return [planned_grasp_to_msg(g, self.base_frame, stamp) for g in result.grasps]

    def _on_plan_grasp(self, request: PlanGrasp.Request, response: PlanGrasp.Response) -> PlanGrasp.Response:
        result = self.plan(max(1, int(request.max_grasps)), float(request.min_quality))
        response.success, response.message = result.success, result.message
        response.grasps = self._to_msgs(result) if result.success else []
        response.image_stamp = ns_to_stamp(result.stamp_ns)
        if not result.success:
            self.get_logger().warn(f"/plan_grasp: {result.message}")
        return response

    # ------------------------------------------------------------------------------------- outputs
    def _publish_views(self, frame: CameraFrame, result: PlanResult) -> None:
        stamp = ns_to_stamp(frame.stamp_ns)
        if self.publish_overlay and self.overlay_pub.get_subscription_count():
            base = frame.rgb[..., ::-1] if frame.rgb is not None else depth_to_bgr(frame.depth)
            img = draw_grasps(np.ascontiguousarray(base), [g.image for g in result.grasps])
            self.overlay_pub.publish(array_to_image(img[..., ::-1], "rgb8", stamp, frame.frame_id))
        if self.marker_pub.get_subscription_count():
            self.marker_pub.publish(grasp_markers(result, self.base_frame, stamp))


def grasp_markers(result: PlanResult, frame_id: str, stamp) -> MarkerArray:
    """Each grasp as an arrow along its approach ending at the grasp point, and a bar across its opening."""
    from geometry_msgs.msg import Point
    markers = MarkerArray()
    clear = Marker(action=Marker.DELETEALL)
    clear.header.frame_id = frame_id
    markers.markers.append(clear)
    for i, g in enumerate(result.grasps):
        p, a, x, w = g.pose.position, g.pose.approach, g.pose.closing, g.pose.width_m
        q = float(np.clip(g.image.quality, 0, 1))
        for kind, pts, scale in ((Marker.ARROW, (p - 0.08 * a, p), (0.005, 0.01, 0.0)),
                                 (Marker.LINE_LIST, (p - 0.5 * w * x, p + 0.5 * w * x), (0.004, 0.0, 0.0))):
            m = Marker(type=kind, action=Marker.ADD, id=2 * i + (kind == Marker.LINE_LIST), ns="grasps")
            m.header.frame_id, m.header.stamp = frame_id, stamp
            m.pose.orientation.w = 1.0
            m.points = [Point(x=float(v[0]), y=float(v[1]), z=float(v[2])) for v in pts]
            m.scale.x, m.scale.y, m.scale.z = scale
            m.color.r, m.color.g, m.color.b, m.color.a = 1.0 - q, q, 0.2, 1.0
            markers.markers.append(m)
    return markers



def create_node(**parameters) -> PerceptionNode:
    return PerceptionNode(parameter_overrides=overrides(parameters))


def main(args=None) -> None:
    spin(PerceptionNode, num_threads=2, args=args)


if __name__ == "__main__":
    main()
