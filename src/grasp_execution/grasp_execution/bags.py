"""One rosbag2 folder per grasp trial: write with ``rosbags`` (MCAP, metadata version 9), read back.

Writing takes rclpy message objects and serializes them with ``rclpy.serialization.serialize_message``:
the CDR bytes ``ros2 bag record`` stores (cut to the message's real length, see
``TrialBag._exact_cdr``), so the bag needs none of rosbags' own message classes. rosbags' typestore (ROS 2 Jazzy, plus ``grasp_interfaces/msg/Grasp`` and ``TrialResult``
registered from their ``.msg`` text) supplies the message definitions and RIHS01 type hashes that go
into the MCAP schemas and ``metadata.yaml``; the hashes equal the ones in the installed packages'
``share/<pkg>/msg/<Type>.json``. The folder has the layout ``ros2 bag info`` / ``ros2 bag play`` on
Jazzy read (``<name>.mcap`` + ``metadata.yaml``; its ``ros_distro`` field says ``rosbags``; not run
here: no ros2cli in this environment); :func:`read_bag` and :func:`bag_summary` read it here.

This module imports neither rclpy nor any message package: ``rclpy.serialization`` is imported the
first time :meth:`TrialBag.write` gets a message object; pre-serialized CDR ``bytes`` (e.g. from a
raw subscription) are taken too.

Crash safety. A bag is written under ``<path>.partial/<name>/`` and renamed to ``<path>`` only when
:meth:`TrialBag.close` has written the MCAP summary and ``metadata.yaml``. A trial process that dies
without closing (SIGKILL, ``docker kill``, power loss -- rosbag2's own recorder loses
``metadata.yaml`` the same way, rosbag2#901/#1953) therefore leaves ``<path>.partial`` and never a
folder that looks complete. Its MCAP file has the header and every 1 MiB chunk flushed before the
kill (the chunk still being filled in memory is lost) but no summary or footer. To salvage it (not
tried here: this environment has no ros2cli), fix the file with ``mcap recover`` from the MCAP CLI
if needed, then ``ros2 bag reindex <path>.partial/<name> -s mcap`` writes the missing metadata.yaml.
A new :class:`TrialBag` at the same path refuses to start while ``<path>.partial`` exists, so a
leftover is never silently overwritten.

Leaving a ``with TrialBag(...)`` block by an exception still closes the bag: what was written is a
valid recording of a trial that went wrong. Only an error of the bag itself (disk full, ...) or
:meth:`TrialBag.abort` leaves it ``.partial``.
"""
from __future__ import annotations

import errno
import operator
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

__all__ = [
    "PARTIAL_SUFFIX", "TOPIC_TYPES", "TrialBag", "bag_summary", "grasp_interfaces_msg_dir",
    "partial_path", "read_bag", "typestore",
]

BAG_VERSION = 9              # rosbag2 metadata version of Jazzy (and Kilted)
STORAGE = StoragePlugin.MCAP  # Jazzy's default storage
PARTIAL_SUFFIX = ".partial"
GRASP_INTERFACES = "grasp_interfaces"

# The standard topics of one trial, topic -> ROS 2 type name.
TOPIC_TYPES: dict[str, str] = {
    "/camera/camera/color/image_raw": "sensor_msgs/msg/Image",
    "/camera/camera/aligned_depth_to_color/image_raw": "sensor_msgs/msg/Image",
    "/camera/camera/aligned_depth_to_color/camera_info": "sensor_msgs/msg/CameraInfo",
    # Every grasp the planner returned for the trial, one message per grasp, best first.
    "/trial/planned_grasps": "grasp_interfaces/msg/Grasp",
    # The grasp that was executed (none when the trial stopped before executing one).
    "/trial/executed_grasp": "grasp_interfaces/msg/Grasp",
    "/joint_states": "sensor_msgs/msg/JointState",
    # The camera pose in the planning frame, in place of /tf: tf2_msgs has no wheels in this
    # environment (so neither rclpy messages nor the runner's TF buffer can produce TFMessage
    # here). On a ROS distro the runner can add "/tf" and "/tf_static" (tf2_msgs/msg/TFMessage,
    # known to the Jazzy typestore) to its topics.
    "/trial/camera_pose": "geometry_msgs/msg/PoseStamped",
    "/trial/outcome": "grasp_interfaces/msg/TrialResult",
}


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The staging folder of the bag at ``path`` (``<path>.partial``)."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def grasp_interfaces_msg_dir() -> Path:
    """The folder holding grasp_interfaces' ``.msg`` files.

    The installed package's share directory (found through ament_index) when there is one, else
    ``src/grasp_interfaces/msg`` of this repository."""
    try:
        from ament_index_python.packages import get_package_share_directory
        share = Path(get_package_share_directory(GRASP_INTERFACES)) / "msg"
        if any(share.glob("*.msg")):
            return share
    except (ImportError, LookupError, ValueError):  # PackageNotFoundError is a KeyError
        pass
    source = Path(__file__).resolve().parents[2] / GRASP_INTERFACES / "msg"
    if any(source.glob("*.msg")):
        return source
    raise FileNotFoundError(
        f"cannot find the {GRASP_INTERFACES} .msg files: not in the ament index (source the "
        f"workspace: install/local_setup.bash) nor in {source}")


@lru_cache(maxsize=1)
def typestore() -> Any:
    """rosbags' ROS 2 Jazzy typestore with every grasp_interfaces message type registered."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for msg_file in sorted(grasp_interfaces_msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(msg_file.read_text(encoding="utf-8"),
                                        f"{GRASP_INTERFACES}/msg/{msg_file.stem}"))
    store.register(types)
    return store


def _ros_type_name(msg: object) -> str:
    """'pkg/msg/Name' of an rclpy message object (its class lives in module 'pkg.msg._name')."""
    cls = type(msg)
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


def _stamp_ns(stamp: Any) -> int:
    if hasattr(stamp, "sec") and hasattr(stamp, "nanosec"):  # builtin_interfaces/Time
        return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    try:
        ns = operator.index(stamp)  # int, numpy integers; not float
    except TypeError:
        ns = -1
    if isinstance(stamp, bool) or ns < 0:
        raise ValueError(f"stamp must be a non-negative int of nanoseconds or a Time, got {stamp!r}")
    return ns


def _naming(err: OSError, what: str, path: Path) -> OSError:
    """The same kind of OSError (same errno, so the same subclass), with the bag path in its text."""
    if str(path) in str(err):
        return err
    return OSError(err.errno, f"{err.strerror or err} ({what} {path})",
                   *([err.filename] if err.filename is not None else []))


class TrialBag:
    """A rosbag2 folder being written for one trial; open from construction to :meth:`close`.

    ``topics`` maps every topic that may be written to its ROS 2 type name; all of them are listed
    in the bag (with a count of 0 when nothing was written). Raises FileExistsError when ``path``
    or ``<path>.partial`` exists, ValueError for a type the typestore does not know, and OSError
    (naming the path) when the folder cannot be created; parent folders are created.

    ``compress=True`` zstd-compresses the MCAP chunks (what ``ros2 bag record -s mcap
    --storage-preset-profile zstd_fast`` does; Jazzy's reader handles it, metadata.yaml says no
    compression since it is inside the storage). Worth it for depth and rendered images; off by
    default, as it costs CPU time in the trial loop.
    """

    def __init__(self, path: str | os.PathLike[str],
                 topics: Mapping[str, str] = TOPIC_TYPES, *, compress: bool = False) -> None:
        self.path = Path(path)
        self.partial_path = partial_path(self.path)
        self.topics = dict(topics)
        if not self.topics:
            raise ValueError("a trial bag needs at least one topic")
        store = typestore()
        unknown = sorted({t for t in self.topics.values() if t not in store.fielddefs})
        if unknown:
            raise ValueError(f"unknown message types {unknown} for bag {self.path} (the typestore "
                             f"has ROS 2 Jazzy's standard types and {GRASP_INTERFACES})")
        self.counts: dict[str, int] = {topic: 0 for topic in self.topics}
        self._state = "new"
        for existing in (self.path, self.partial_path):
            if os.path.lexists(existing):
                why = ("exists already, not overwriting" if existing == self.path else
                       "is left from a trial bag that was never closed; reindex it (ros2 bag "
                       "reindex) or delete it")
                raise FileExistsError(errno.EEXIST, f"trial bag folder {why}", str(existing))
        try:
            # mkdir of .partial is the claim on the name: of two writers, only one gets it.
            self.partial_path.mkdir(parents=True)
        except OSError as err:
            raise _naming(err, "cannot create trial bag", self.path)
        self._bag_dir = self.partial_path / self.path.name  # holds <name>.mcap, as ros2 bag does
        self._writer = Writer(self._bag_dir, version=BAG_VERSION, storage_plugin=STORAGE)
        if compress:
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        try:
            self._writer.open()
            self._connections = {topic: self._writer.add_connection(topic, msgtype, typestore=store)
                                 for topic, msgtype in self.topics.items()}
        except OSError as err:
            self._writer.abort()
            self._state = "aborted"
            raise _naming(err, "cannot create trial bag", self.path)
        self._state = "open"

    @property
    def is_open(self) -> bool:
        return self._state == "open"

    @property
    def message_count(self) -> int:
        return sum(self.counts.values())

    def write(self, topic: str, stamp_ns: int | Any, msg: Any) -> None:
        """Write one message: an rclpy message of the topic's type, or its CDR ``bytes``.

        ``stamp_ns`` is the bag (receive) time in nanoseconds, or a builtin_interfaces Time."""
        if self._state != "open":
            raise RuntimeError(f"trial bag {self.path} is {self._state}, cannot write to {topic}")
        connection = self._connections.get(topic)
        if connection is None:
            raise ValueError(f"topic {topic!r} is not one of the topics of bag {self.path}: "
                             f"{sorted(self._connections)}")
        stamp = _stamp_ns(stamp_ns)
        if isinstance(msg, (bytes, bytearray, memoryview)):
            data = msg
        else:
            if _ros_type_name(msg) != self.topics[topic]:
                raise TypeError(f"{topic} in bag {self.path} takes {self.topics[topic]}, "
                                f"got {_ros_type_name(msg)}")
            from rclpy.serialization import serialize_message
            data = serialize_message(msg)
        data = self._exact_cdr(topic, data)
        try:
            self._writer.write(connection, stamp, data)
        except OSError as err:
            self.abort()
            raise _naming(err, "cannot write trial bag", self.path)
        self.counts[topic] += 1

    def _exact_cdr(self, topic: str, data: bytes | bytearray | memoryview) -> memoryview:
        """The CDR bytes cut to the message's real length, after checking that rosbags reads them.

        rclpy's ``serialize_message`` (rmw_fastrtps_cpp) returns a buffer of Fast-CDR's *estimated*
        size: a JointState with empty float64 sequences comes with 8 bytes of uninitialised memory
        at its end, which rosbags' reader rejects ("CDR message size mismatch", it allows at most 3
        bytes of padding). Parsing the bytes once here with the typestore gives the real length
        (microseconds, also for a 640x480 image: the pixel data is not copied) and guarantees that
        every message in the bag reads back. Uses rosbags' per-type deserializer (rosbags 0.11).
        """
        view = memoryview(data).cast("B")
        msgtype = self.topics[topic]
        if len(view) < 4 or bytes(view[:2]) not in (b"\x00\x00", b"\x00\x01"):
            raise ValueError(f"{topic} in bag {self.path}: not CDR data (bad encapsulation header)")
        store = typestore()
        msgdef = store.get_msgdef(msgtype)
        parse = msgdef.deserialize_cdr_le if view[1] else msgdef.deserialize_cdr_be
        try:
            _, end = parse(view[4:], 0, msgdef.cls, store)
        except Exception as err:  # struct.error, UnicodeDecodeError, ValueError, IndexError
            raise ValueError(f"{topic} in bag {self.path}: bytes are not a CDR {msgtype} "
                             f"({type(err).__name__}: {err})") from err
        return view[:4 + end]

    def close(self) -> Path:
        """Finish the bag (MCAP summary, metadata.yaml) and move it to ``path``; returns ``path``.

        Closing a closed bag does nothing; closing an aborted one raises RuntimeError."""
        if self._state == "closed":
            return self.path
        if self._state != "open":
            raise RuntimeError(f"trial bag {self.path} was aborted; what it wrote is in "
                               f"{self.partial_path}")
        try:
            self._writer.close()
        except OSError as err:
            self.abort()
            raise _naming(err, "cannot finish trial bag", self.path)
        if os.path.lexists(self.path):  # someone made it while we were recording
            self._state = "aborted"
            raise FileExistsError(errno.EEXIST, f"trial bag folder appeared while recording; the "
                                  f"finished bag stays in {self._bag_dir}", str(self.path))
        try:
            os.rename(self._bag_dir, self.path)
            self.partial_path.rmdir()
        except OSError as err:
            self._state = "aborted"
            raise _naming(err, "cannot move finished trial bag to", self.path)
        self._state = "closed"
        return self.path

    def abort(self) -> None:
        """Stop writing without finishing: the bag stays in ``<path>.partial``, as after a crash."""
        if self._state == "open":
            self._state = "aborted"
            self._writer.abort()

    def __enter__(self) -> TrialBag:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._state == "open":
            self.close()

    def __repr__(self) -> str:
        return f"TrialBag({str(self.path)!r}, {self._state}, {self.message_count} messages)"


def _finished_bag(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not (path / "metadata.yaml").is_file():
        partial = partial_path(path)
        hint = (f"; {partial} is a bag that was never closed (ros2 bag reindex "
                f"{partial / path.name} -s mcap recovers it)" if partial.exists() else "")
        raise FileNotFoundError(errno.ENOENT, f"no finished rosbag2 folder (metadata.yaml){hint}",
                                str(path))
    return path


def read_bag(path: str | os.PathLike[str]) -> dict[str, list[tuple[int, Any]]]:
    """Every message of a bag: {topic: [(bag time ns, rosbags message), ...]} in time order.

    Messages are rosbags' dataclasses (same field names as the ROS messages; ``data`` arrays are
    numpy). Types come from the definitions the bag embeds, else from :func:`typestore`. Every
    topic of the bag is a key, with an empty list when it has no messages."""
    path = _finished_bag(path)
    out: dict[str, list[tuple[int, Any]]] = {}
    with AnyReader([path], default_typestore=typestore()) as reader:
        for connection in reader.connections:
            out.setdefault(connection.topic, [])
        for connection, stamp, raw in reader.messages():
            out[connection.topic].append((stamp, reader.deserialize(raw, connection.msgtype)))
    return out


def bag_summary(path: str | os.PathLike[str]) -> dict[str, int]:
    """{topic: message count} from the bag's metadata.yaml (reads no messages)."""
    path = _finished_bag(path)
    counts: dict[str, int] = {}
    with Reader(path) as reader:
        for connection in reader.connections:
            counts[connection.topic] = counts.get(connection.topic, 0) + connection.msgcount
    return counts
