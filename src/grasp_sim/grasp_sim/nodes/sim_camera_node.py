"""Simulated camera node: the simulated cell's RGB-D camera on the RealSense driver's topics.

Publishes what ``realsense2_camera`` publishes with ``align_depth.enable:=true`` (same names, encodings,
units and frame), rendered from a :class:`grasp_sim.SimCell`, so the perception node cannot tell the
two apart. The cell's known camera pose stands in for the hand-eye calibration: as a static TF
(``base_frame`` -> ``camera_link`` -> ``camera_color_optical_frame``) where ``tf2_ros`` exists, and as
the calibration file ``grasp_bringup`` writes from the same settings (:func:`cell_setup.sim_calibration`).
The cell object is shared (``cell`` and ``lock``) with the simulated arm when both run in one process.
"""
from __future__ import annotations

import threading
import time

import numpy as np
from grasp_perception.nodes import overrides, spin, topics
from grasp_perception.nodes.conversions import array_to_image, intrinsics_to_camera_info
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from ..cell_setup import CellSettings, build_cell, sim_calibration

try:
    import tf2_ros
except ImportError:
    tf2_ros = None

PARAMETERS = {  # name: (default, description); the cell's own settings are CellSettings' fields
    **{f: (getattr(CellSettings(), f), "sim cell setting (grasp_sim.cell_setup.CellSettings)")
       for f in CellSettings.__dataclass_fields__},
    "rate_hz": (10.0, "frames per second"),
    "base_frame": ("wx250s/base_link", "robot base frame of the static TF to the camera"),
    "initial_objects": ([0], "object indices dropped into the tray at start-up"),
}


def depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """Metres (NaN = no return) -> 16-bit millimetres (0 = no return), as a RealSense publishes it."""
    mm = np.nan_to_num(np.asarray(depth_m, np.float32) * 1000.0, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.round(mm), 0, 65535).astype(np.uint16)


class SimCameraNode(Node):
    def __init__(self, cell=None, lock: threading.Lock | None = None, **kwargs):
        super().__init__("camera", **kwargs)
        for name, (default, _) in PARAMETERS.items():
            self.declare_parameter(name, default)
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.settings = CellSettings(**{f: p[f] for f in CellSettings.__dataclass_fields__})
        self.cell = cell if cell is not None else build_cell(self.settings)
        self.lock = lock or threading.Lock()
        if cell is None:
            self.cell.reset(list(p["initial_objects"]), seed=self.settings.seed)
        self.frames_published = 0
        # Between resets every frame gets the depth noise of the reset's seed, as the simulator's CLI renders
        # once per trial: the same seeds give the same image, however many frames the camera sends.
        self._noise_seed = self.settings.seed
        self._reset_done = threading.Condition()
        self._frames_since_reset = 0
        self._generation = 0          # resets so far: a frame rendered before a reset never counts after it
        self._last_stamp = None
        from grasp_interfaces.srv import ResetScene
        self.reset_srv = self.create_service(ResetScene, "/sim/reset_scene", self._on_reset,
                                             callback_group=MutuallyExclusiveCallbackGroup())
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.color_pub = self.create_publisher(Image, topics.COLOR_TOPIC, qos)
        self.color_info_pub = self.create_publisher(CameraInfo, topics.COLOR_INFO_TOPIC, qos)
        self.depth_pub = self.create_publisher(Image, topics.DEPTH_TOPIC, qos)
        self.depth_info_pub = self.create_publisher(CameraInfo, topics.DEPTH_INFO_TOPIC, qos)
        if tf2_ros is not None:
            self._publish_static_tf(p["base_frame"])
        # One thread renders: an EGL context is current in one thread at a time, and executor threads vary.
        self.period = 1.0 / float(p["rate_hz"])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._render_loop, name="sim_camera_render", daemon=True)
        self._thread.start()
        self.get_logger().info(f"simulated {self.cell.intrinsics.width}x{self.cell.intrinsics.height} camera at "
                               f"{p['rate_hz']} Hz, {len(self.cell.objects)} objects ({self.settings.objects}), "
                               f"arm {self.settings.arm}, tilt {self.settings.camera_tilt_deg} deg")

    def _render_loop(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                self.publish_frame()
            except Exception as exc:  # keep the camera alive; say why a frame was lost
                self.get_logger().error(f"simulated frame failed: {exc!r}", throttle_duration_sec=5.0)
            next_t += self.period
            self._stop.wait(max(0.0, next_t - time.monotonic()))
            next_t = max(next_t, time.monotonic() - self.period)  # after a slow frame, do not burst

    def destroy_node(self):
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)
        return super().destroy_node()

    def reset_scene(self, object_name: str, trial: int, seed: int) -> None:
        """Re-drop ``object_name`` at the pose ``grasp_sim.trials`` uses for (seed, object, trial)."""
        from ..seeds import trial_seed
        names = [o.name for o in self.cell.objects]
        if object_name not in names:
            raise ValueError(f"no object {object_name!r} in the simulated cell (it has {names})")
        i = names.index(object_name)
        reset_seed = trial_seed(seed, object_name, trial)
        with self.lock:
            self.cell.reset(i, seed=reset_seed)
            self._noise_seed = reset_seed
            with self._reset_done:
                self._generation += 1
                self._frames_since_reset = 0

    def _on_reset(self, request, response):
        try:
            self.reset_scene(request.object_name, int(request.trial), int(request.seed))
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        with self._reset_done:  # answer once a frame of the new scene is out
            ok = self._reset_done.wait_for(lambda: self._frames_since_reset > 0, timeout=5.0)
            stamp = self._last_stamp
        response.success = bool(ok)
        response.message = f"{request.object_name} dropped (trial {request.trial})" if ok else \
            "reset done but the camera published no frame within 5 s"
        if stamp is not None:
            response.first_frame_stamp = stamp
        return response

    def publish_frame(self) -> None:
        with self.lock:  # the arm may be moving the same cell
            if self.cell.depth_noise is not None:
                self.cell.depth_noise.reseed(np.random.SeedSequence([self._noise_seed, 1]))
            obs = self.cell.render(segmentation=False)
            generation = self._generation
        stamp = self.get_clock().now().to_msg()
        info = intrinsics_to_camera_info(obs.intrinsics, stamp, topics.CAMERA_FRAME)
        self.color_pub.publish(array_to_image(obs.rgb, "rgb8", stamp, topics.CAMERA_FRAME))
        self.color_info_pub.publish(info)
        self.depth_pub.publish(array_to_image(depth_to_mm(obs.depth), "16UC1", stamp, topics.CAMERA_FRAME))
        self.depth_info_pub.publish(info)
        self.frames_published += 1
        with self._reset_done:
            if generation == self._generation:
                self._frames_since_reset += 1
                self._last_stamp = stamp
                self._reset_done.notify_all()

    def _publish_static_tf(self, base_frame: str) -> None:
        from grasp_perception.handeye import link_T_optical
        from grasp_perception.nodes.conversions import matrix_to_transform_stamped
        calib = sim_calibration(self.settings, base_frame)
        stamp = self.get_clock().now().to_msg()
        self._tf = tf2_ros.StaticTransformBroadcaster(self)
        self._tf.sendTransform([
            matrix_to_transform_stamped(calib.transform, base_frame, calib.tracking_base_frame, stamp),
            matrix_to_transform_stamped(link_T_optical(), calib.tracking_base_frame, topics.CAMERA_FRAME, stamp)])


def create_node(cell=None, lock=None, **parameters) -> SimCameraNode:
    return SimCameraNode(cell, lock, parameter_overrides=overrides(parameters))


def main(args=None) -> None:
    spin(SimCameraNode, num_threads=2, args=args)


if __name__ == "__main__":
    main()
