"""RealSense camera node: colour + depth aligned to colour, on realsense-ros's default topic names.

A stand-in for ``realsense2_camera`` (not installable here) built on :class:`RealSenseSource`: a live
camera (``serial``, or the first one found) or a recording (``playback_file``, e.g. one made with
``grasp_perception.realsense.record_synthetic``). Frames are grabbed in a background thread so that
spinning is never blocked; without a device it warns and retries every ``retry_period_s``.

Both images and both camera_infos of one frameset carry the same stamp: the node clock at publication
(as realsense-ros does by default), so consumers can sync them exactly.
"""
from __future__ import annotations

import os
import threading
import time

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from ..realsense import RealSenseError, RealSenseSource, RealSenseUnavailable, parse_profile
from . import StartupError, overrides, spin, topics
from .conversions import array_to_image, intrinsics_to_camera_info, ns_to_stamp

# REP 2003: sensor drivers publish reliable (a best-effort subscriber still matches)
QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
PARAMETERS = {  # name: (default, description)
    "serial": ("", "serial number of the camera to open; empty = the first one found"),
    "color_profile": ("640x480x30", "colour stream WIDTHxHEIGHTxFPS"),
    "depth_profile": ("640x480x30", "depth stream WIDTHxHEIGHTxFPS (aligned to colour before publishing)"),
    "playback_file": ("", "replay this recording (.db3 from rs.recorder) instead of a device"),
    "repeat_playback": (False, "loop the recording"),
    "frame_id": (topics.CAMERA_FRAME, "frame of the images and camera_info"),
    "retry_period_s": (2.0, "seconds between attempts to open a missing device"),
}
NO_FRAMES_REOPEN_S = 5.0  # a live camera silent this long is closed and reopened (unplugged, USB reset)


class RealSenseCameraNode(Node):
    def __init__(self, **kwargs):
        super().__init__("camera", **kwargs)
        p = {name: self.declare_parameter(name, default).value for name, (default, _) in PARAMETERS.items()}
        try:
            color, depth = parse_profile(p["color_profile"]), parse_profile(p["depth_profile"])
        except ValueError as exc:
            raise StartupError(f"parameter color_profile/depth_profile: {exc}") from None
        if p["playback_file"] and not os.path.isfile(p["playback_file"]):
            raise StartupError(f"parameter playback_file: no such recording {p['playback_file']!r}")
        self._source_args = dict(serial=p["serial"], color_profile=color, depth_profile=depth,
                                 playback_file=p["playback_file"], repeat_playback=p["repeat_playback"])
        self._frame_id, self._retry_s = p["frame_id"], float(p["retry_period_s"])
        self.frames_published = 0

        self._pub_color = self.create_publisher(Image, topics.COLOR_TOPIC, QOS)
        self._pub_color_info = self.create_publisher(CameraInfo, topics.COLOR_INFO_TOPIC, QOS)
        self._pub_depth = self.create_publisher(Image, topics.DEPTH_TOPIC, QOS)
        self._pub_depth_info = self.create_publisher(CameraInfo, topics.DEPTH_INFO_TOPIC, QOS)

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="realsense_grab", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        source, last_frame = None, 0.0
        try:
            while not self._stop.is_set():
                if source is None:
                    try:
                        source = RealSenseSource(**self._source_args)
                    except RealSenseError as exc:
                        if self._source_args["playback_file"]:
                            raise  # an unreadable recording stays unreadable
                        # unplugged, or busy / lacking the profile (a RealSenseError that names it)
                        why = (f"no RealSense device found (serial {self._source_args['serial'] or 'any'})"
                               if isinstance(exc, RealSenseUnavailable) else str(exc))
                        self.get_logger().warning(f"{why}; retrying in {self._retry_s:g} s")
                        self._stop.wait(self._retry_s)
                        continue
                    last_frame = time.monotonic()
                    self.get_logger().info(f"streaming {self._describe()} at {source.intrinsics}")
                try:
                    frame = source.wait_for_frame(timeout_s=0.5)  # short: destroy_node waits for us
                except RuntimeError as exc:  # a live camera unplugged mid-stream
                    if source.playback:
                        raise
                    self.get_logger().warning(f"RealSense stream failed ({exc}); reopening the camera")
                    source.close()
                    source = None
                    continue
                if frame is not None:
                    self._publish(frame)
                    last_frame = time.monotonic()
                elif source.finished:
                    self.get_logger().info(f"end of recording {self._source_args['playback_file']!r} "
                                           f"({self.frames_published} frames published)")
                    return
                elif not source.playback and time.monotonic() - last_frame > NO_FRAMES_REOPEN_S:
                    self.get_logger().warning(f"no frames for {NO_FRAMES_REOPEN_S:g} s; reopening the camera")
                    source.close()
                    source = None
        except Exception as exc:  # a dying grab thread must say why (the node itself keeps spinning)
            self.get_logger().error(f"RealSense capture stopped: {exc!r}")
        finally:
            if source is not None:
                source.close()

    def _describe(self) -> str:
        a = self._source_args
        return f"recording {a['playback_file']!r}" if a["playback_file"] else f"device {a['serial'] or '(first)'}"

    def _publish(self, frame) -> None:
        stamp = ns_to_stamp(self.get_clock().now().nanoseconds)  # one stamp for the whole frameset
        info = intrinsics_to_camera_info(frame.intrinsics, stamp, self._frame_id)
        self._pub_color.publish(array_to_image(frame.rgb, "rgb8", stamp, self._frame_id))
        self._pub_color_info.publish(info)
        self._pub_depth.publish(array_to_image(frame.depth_mm, "16UC1", stamp, self._frame_id))
        self._pub_depth_info.publish(info)  # aligned depth has the colour intrinsics
        self.frames_published += 1

    def destroy_node(self):
        self._stop.set()
        self._thread.join(timeout=5.0)
        return super().destroy_node()


def create_node(**parameters) -> RealSenseCameraNode:
    return RealSenseCameraNode(parameter_overrides=overrides(parameters))


def main(args=None) -> None:
    spin(RealSenseCameraNode, num_threads=2, args=args)


if __name__ == "__main__":
    main()
