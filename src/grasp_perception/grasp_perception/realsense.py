"""RealSense colour + aligned depth frames as numpy arrays, from a live camera or a recording (no ROS).

:class:`RealSenseSource` wraps a ``pyrealsense2`` pipeline: colour (rgb8) and depth (z16), depth
aligned to colour, depth in millimetres. :func:`record_synthetic` writes a recording from numpy frames
through a ``rs.software_device``: the way to get a RealSense recording without hardware (tests, sim).

Measured with pyrealsense2 2.59 (what shaped the code below):

- the recorder only writes ROS 2 sqlite bags: the path must end in ``.db3`` and it writes exactly that
  one file (no ``metadata.yaml``); ``.bag`` is refused;
- playback in "real time" (the default) paces by the time frames were *written*, not by their
  timestamps, and drops frames whenever the reader lags, even right after ``start()``; so playback
  here runs non-real-time (set before starting) and paces itself by the frame timestamps;
- playback starts as the pipeline starts, and under CPU load it can play frame 0 before the pipeline
  listens; so the playback is paused until ``start()`` has returned;
- the pipeline's syncer also emits framesets pairing depth N with colour N-1 (about one per real pair);
  framesets whose colour and depth timestamps differ by more than half a frame period are skipped;
- ``rs.align`` is not exact for a depth stream that is already registered to colour (same intrinsics,
  identity extrinsics): float round-off leaves ~5 % zero holes and ~0.5 % pixels shifted by one; such
  depth is passed through unchanged (a real camera's depth is never registered, so it is always aligned);
- at the end of a recording ``wait_for_frames`` only times out (``RuntimeError``); the playback status
  turns ``stopped`` while decoded frames may still be queued.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import pyrealsense2 as rs

from .geometry import CameraIntrinsics

MM = 0.001  # depth unit of the published 16UC1 image (REP 118)


class RealSenseError(RuntimeError):
    """The camera or recording cannot deliver what was asked (bad profile, unreadable file)."""


class RealSenseUnavailable(RealSenseError):
    """No RealSense device (with the requested serial) is connected: retry later."""


@dataclass
class RGBDFrame:
    rgb: np.ndarray            # (H, W, 3) uint8
    depth_mm: np.ndarray       # (H, W) uint16, aligned to colour, 0 = no data
    intrinsics: CameraIntrinsics  # of the colour stream (= of the aligned depth)
    stamp_ns: int              # frame timestamp (device clock or recorded), ns
    frame_number: int          # colour frame number


def parse_profile(text: str) -> tuple[int, int, int]:
    """``"640x480x30"`` -> (width, height, fps)."""
    try:
        w, h, fps = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"profile {text!r} is not WIDTHxHEIGHTxFPS (e.g. 640x480x30)") from None
    return w, h, fps


def _intrinsics(profile) -> CameraIntrinsics:
    i = profile.as_video_stream_profile().get_intrinsics()
    return CameraIntrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy)


def _registered(depth_profile, color_profile) -> bool:
    """Depth already in colour pixels: same intrinsics and identity extrinsics."""
    d, c = (p.as_video_stream_profile().get_intrinsics() for p in (depth_profile, color_profile))
    e = depth_profile.get_extrinsics_to(color_profile)
    same = [(d.width, d.height) == (c.width, c.height),
            np.allclose([d.fx, d.fy, d.ppx, d.ppy], [c.fx, c.fy, c.ppx, c.ppy]),
            np.allclose(d.coeffs, c.coeffs), d.model == c.model,
            np.allclose(e.rotation, np.eye(3).ravel()), np.allclose(e.translation, 0.0)]
    return all(same)


class RealSenseSource:
    """Colour + aligned depth from a live camera (``serial``: any if empty) or a ``playback_file``.

    Opens on construction; raises :class:`RealSenseUnavailable` when no (matching) device is connected,
    :class:`FileNotFoundError` for a missing recording, :class:`RealSenseError` for an unsupported
    profile. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, serial: str = "", color_profile=(640, 480, 30), depth_profile=(640, 480, 30),
                 playback_file: str = "", repeat_playback: bool = False, realtime: bool = True,
                 force_align: bool = False):
        self.playback = bool(playback_file)
        self._realtime = realtime
        self._pace = None  # (first frame timestamp ms, wall time) of the playback pacing
        cfg = rs.config()
        if self.playback:
            if not os.path.isfile(playback_file):
                raise FileNotFoundError(f"RealSense recording {playback_file!r} does not exist")
            cfg.enable_device_from_file(str(playback_file), repeat_playback=repeat_playback)
            # the file decides sizes; (stream, format, fps=0) -- (stream, format) alone would bind
            # the format enum to the stream-index overload
            cfg.enable_stream(rs.stream.color, rs.format.rgb8, 0)
            cfg.enable_stream(rs.stream.depth, rs.format.z16, 0)
        else:
            serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
            if not serials or (serial and serial not in serials):
                raise RealSenseUnavailable(f"no RealSense device found (serial {serial or 'any'}; "
                                           f"connected: {', '.join(serials) or 'none'})")
            if serial:
                cfg.enable_device(serial)
            cw, ch, cfps = color_profile
            dw, dh, dfps = depth_profile
            cfg.enable_stream(rs.stream.color, cw, ch, rs.format.rgb8, cfps)
            cfg.enable_stream(rs.stream.depth, dw, dh, rs.format.z16, dfps)
        self._pipe = rs.pipeline()
        try:
            if self.playback:
                # switch off real-time playback before start: it drops frames from the first moment
                # on (start() reuses the playback device that resolve() loaded)
                # and hold it paused until start() returns: otherwise frame 0 can be played before
                # the pipeline listens, and is lost (5 of 160 playbacks under CPU load; 0 paused)
                playback = cfg.resolve(rs.pipeline_wrapper(self._pipe)).get_device().as_playback()
                playback.set_real_time(False)
                playback.pause()
            profile = self._pipe.start(cfg)
            if self.playback:
                playback.resume()
        except RuntimeError as exc:
            if "no device connected" in str(exc).lower():
                raise RealSenseUnavailable(f"no RealSense device found (serial {serial or 'any'}): {exc}") from exc
            what = f"recording {playback_file!r}" if self.playback else \
                f"colour {color_profile} rgb8 / depth {depth_profile} z16 on device {serial or 'any'}"
            raise RealSenseError(f"cannot start RealSense {what}: {exc}") from exc
        device = profile.get_device()
        self._playback = device.as_playback() if self.playback else None
        self.depth_scale = device.first_depth_sensor().get_depth_scale()
        color, depth = profile.get_stream(rs.stream.color), profile.get_stream(rs.stream.depth)
        self.intrinsics = _intrinsics(color)
        self._half_period_ms = 500.0 / color.fps()
        self._align = rs.align(rs.stream.color) if force_align or not _registered(depth, color) else None

    @property
    def finished(self) -> bool:
        """A recording played to its end (never for live devices or repeated playback)."""
        return self.playback and self._playback.current_status() == rs.playback_status.stopped

    def wait_for_frame(self, timeout_s: float = 1.0) -> RGBDFrame | None:
        """The next colour + depth pair, or None on timeout / end of the recording."""
        deadline = time.monotonic() + timeout_s
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                return None
            ok, frames = self._pipe.try_wait_for_frames(min(left_ms, 100))
            if not ok:
                if self.finished:  # only once the queue is empty: the file is read ahead of us
                    return None
                continue
            color, depth = frames.get_color_frame(), frames.get_depth_frame()
            if not color or not depth or abs(color.get_timestamp() - depth.get_timestamp()) > self._half_period_ms:
                continue  # incomplete or stale pairing from the syncer
            if self._align is not None:
                aligned = self._align.process(frames)
                color, depth = aligned.get_color_frame(), aligned.get_depth_frame()
            return self._to_frame(color, depth)

    def _to_frame(self, color, depth) -> RGBDFrame:
        stamp_ms = color.get_timestamp()
        if self.playback and self._realtime:
            self._sleep_until(stamp_ms)
        # copy: the frames' buffers go back to librealsense's pool
        raw = np.asanyarray(depth.get_data())
        if np.isclose(self.depth_scale, MM, rtol=1e-6):
            depth_mm = raw.copy()
        else:
            depth_mm = np.clip(np.rint(raw * (self.depth_scale / MM)), 0, 65535).astype(np.uint16)
        return RGBDFrame(rgb=np.asanyarray(color.get_data()).copy(), depth_mm=depth_mm,
                         intrinsics=_intrinsics(color.get_profile()), stamp_ns=int(round(stamp_ms * 1e6)),
                         frame_number=int(color.get_frame_number()))

    def _sleep_until(self, stamp_ms: float) -> None:
        now = time.monotonic()
        if self._pace is None or stamp_ms < self._pace[0]:  # first frame, or a repeat restarted
            self._pace = (stamp_ms, now)
        time.sleep(max(0.0, self._pace[1] + (stamp_ms - self._pace[0]) / 1000.0 - now))

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.stop()
            self._pipe = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _video_stream(kind, uid: int, fmt, bpp: int, K: CameraIntrinsics, fps: int):
    intr = rs.intrinsics()
    intr.width, intr.height = K.width, K.height
    intr.fx, intr.fy, intr.ppx, intr.ppy = K.fx, K.fy, K.cx, K.cy
    intr.model, intr.coeffs = rs.distortion.none, [0.0] * 5
    vs = rs.video_stream()
    vs.type, vs.index, vs.uid, vs.fmt, vs.bpp, vs.fps = kind, 0, uid, fmt, bpp, fps
    vs.width, vs.height, vs.intrinsics = K.width, K.height, intr
    return vs


def record_synthetic(path, frames, intrinsics: CameraIntrinsics, depth_scale: float = MM,
                     fps: int = 30) -> str:
    """Record ``frames`` (a list of ``(rgb uint8 HxWx3, depth_mm uint16 HxW)``) as a RealSense recording.

    Builds a ``rs.software_device`` with a colour (rgb8) and a depth (z16, ``depth_units`` =
    ``depth_scale``) sensor sharing ``intrinsics``, depth registered to colour by an identity extrinsic,
    and records it with ``rs.recorder``. ``path`` must end in ``.db3`` (librealsense 2.59 writes one
    ROS 2 sqlite bag, exactly at ``path``; an existing file is replaced). Frame n has timestamp
    ``n * 1000 / fps`` ms. Returns the path written; play it back with ``RealSenseSource(playback_file=...)``.
    """
    path = os.fspath(path)
    if not path.endswith(".db3"):
        raise ValueError(f"RealSense recordings must end in .db3 (librealsense 2.59 refuses others), got {path!r}")
    if os.path.exists(path):
        os.remove(path)  # start from an empty bag
    dev = rs.software_device()
    depth_sensor, color_sensor = dev.add_sensor("Depth"), dev.add_sensor("Color")
    depth_prof = depth_sensor.add_video_stream(_video_stream(rs.stream.depth, 0, rs.format.z16, 2, intrinsics, fps))
    color_prof = color_sensor.add_video_stream(_video_stream(rs.stream.color, 1, rs.format.rgb8, 3, intrinsics, fps))
    depth_sensor.add_read_only_option(rs.option.depth_units, float(depth_scale))
    identity = rs.extrinsics()
    identity.rotation, identity.translation = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], [0.0, 0.0, 0.0]
    depth_prof.register_extrinsics_to(color_prof, identity)
    dev.create_matcher(rs.matchers.default)

    recorder = rs.recorder(path, dev)
    # frames reach the file only through the recorder's (wrapping) sensors once they stream
    sensors = recorder.query_sensors()
    for s in sensors:
        s.open(s.get_stream_profiles())
        s.start(lambda f: None)
    keep = []  # software frames point into these buffers until the recorder has written them
    for n, (rgb, depth_mm) in enumerate(frames):
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        raw = np.clip(np.rint(np.asarray(depth_mm, dtype=np.float64) * (MM / depth_scale)), 0, 65535)
        raw = np.ascontiguousarray(raw, dtype=np.uint16)
        if rgb.shape != (intrinsics.height, intrinsics.width, 3) or raw.shape != rgb.shape[:2]:
            raise ValueError(f"frame {n}: rgb {rgb.shape} / depth {raw.shape} do not match the "
                             f"{intrinsics.width}x{intrinsics.height} intrinsics")
        for sensor, prof, pixels, bpp in ((depth_sensor, depth_prof, raw, 2), (color_sensor, color_prof, rgb, 3)):
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride = pixels, bpp, intrinsics.width * bpp
            f.timestamp, f.domain, f.frame_number = n * 1000.0 / fps, rs.timestamp_domain.hardware_clock, n
            f.profile = prof.as_video_stream_profile()
            sensor.on_video_frame(f)
            keep.append(pixels)
    for s in sensors:
        s.stop()
        s.close()
    del recorder  # closes (flushes) the file
    return path
