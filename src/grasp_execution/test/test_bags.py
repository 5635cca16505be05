"""Per-trial rosbag2 folders: write with TrialBag, read back with rosbags, crash and error behaviour."""
import errno
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("rosbags")
pytest.importorskip("grasp_interfaces.msg")
conversions = pytest.importorskip("grasp_perception.nodes.conversions")

import yaml  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from grasp_interfaces.msg import Grasp, TrialResult  # noqa: E402
from sensor_msgs.msg import CameraInfo, JointState  # noqa: E402

from grasp_execution import bags  # noqa: E402
from grasp_execution.bags import TOPIC_TYPES, TrialBag, bag_summary, read_bag  # noqa: E402

COLOR = "/camera/camera/color/image_raw"
DEPTH = "/camera/camera/aligned_depth_to_color/image_raw"
INFO = "/camera/camera/aligned_depth_to_color/camera_info"
PLANNED = "/trial/planned_grasps"
EXECUTED = "/trial/executed_grasp"
JOINTS = "/joint_states"
CAMERA_POSE = "/trial/camera_pose"
OUTCOME = "/trial/outcome"
T0 = 1_700_000_000_000_000_000
EXPECTED_COUNTS = {COLOR: 3, DEPTH: 3, INFO: 1, PLANNED: 2, EXECUTED: 1, JOINTS: 1, CAMERA_POSE: 1,
                   OUTCOME: 1}


def _grasp(width: float, u: float, frame: str = "base_link") -> Grasp:
    g = Grasp()
    g.pose.header.frame_id = frame
    g.pose.header.stamp = conversions.ns_to_stamp(T0)
    g.pose.pose.position.x, g.pose.pose.position.z = 0.4, 0.02
    g.pose.pose.orientation.w = 1.0
    g.width, g.quality, g.center_u, g.center_v, g.angle = width, 0.9, u, 240.0, 0.25
    return g


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A closed trial bag with every standard topic; returns (path, what was written)."""
    path = tmp_path_factory.mktemp("trials") / "obj_A" / "trial_000"  # parents get created
    rng = np.random.default_rng(0)
    written = {"color": [], "depth": []}
    with TrialBag(path, TOPIC_TYPES) as bag:
        for i in range(3):
            t = T0 + i * 33_000_000
            rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
            depth = rng.integers(300, 1500, (480, 640), dtype=np.uint16)
            stamp = conversions.ns_to_stamp(t)
            color_msg = conversions.array_to_image(rgb, "rgb8", stamp, "camera_color_optical_frame")
            depth_msg = conversions.array_to_image(depth, "16UC1", stamp, "camera_color_optical_frame")
            bag.write(COLOR, t, color_msg)
            bag.write(DEPTH, color_msg.header.stamp, depth_msg)  # a Time is a stamp too
            written["color"].append(bytes(color_msg.data))
            written["depth"].append(bytes(depth_msg.data))
        info = CameraInfo(width=640, height=480, distortion_model="plumb_bob")
        info.k = [615.0, 0.0, 320.0, 0.0, 615.0, 240.0, 0.0, 0.0, 1.0]
        bag.write(INFO, T0, info)
        bag.write(PLANNED, T0 + 100_000_000, _grasp(0.05, 321.0))
        bag.write(PLANNED, T0 + 100_000_000, _grasp(0.07, 100.5))
        bag.write(EXECUTED, T0 + 110_000_000, _grasp(0.05, 321.0))
        # empty velocity/effort: rclpy's CDR buffer for this has 8 bytes too many (see bags.py)
        bag.write(JOINTS, T0 + 120_000_000,
                  JointState(name=["waist", "shoulder"], position=[0.1, -0.2]))
        pose = PoseStamped()
        pose.header.frame_id = "base_link"
        pose.pose.position.z, pose.pose.orientation.w = 0.6, 1.0
        bag.write(CAMERA_POSE, T0, pose)
        outcome = TrialResult(object_name="A0", trial=0, success=True, reason="lifted and held",
                              lift_height=math.nan, grasp=_grasp(0.05, 321.0),
                              bag_path=str(path), seconds=12.5)
        bag.write(OUTCOME, T0 + 5_000_000_000, outcome)
        assert bag.counts == EXPECTED_COUNTS and bag.message_count == 13
    assert not bag.is_open
    return path, written


def test_layout_and_metadata(recorded):
    path, _ = recorded
    assert not bags.partial_path(path).exists()
    assert sorted(p.name for p in path.iterdir()) == ["metadata.yaml", "trial_000.mcap"]
    info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 9
    assert info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == ["trial_000.mcap"]
    assert info["message_count"] == 13
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in info["topics_with_message_count"]}
    assert counts == EXPECTED_COUNTS
    hashes = {t["topic_metadata"]["name"]: t["topic_metadata"]["type_description_hash"]
              for t in info["topics_with_message_count"]}
    # the RIHS01 hash of the installed Image (share/sensor_msgs/msg/Image.json)
    assert hashes[COLOR] == "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47"
    assert bag_summary(path) == EXPECTED_COUNTS


def test_round_trip(recorded):
    path, written = recorded
    msgs = read_bag(path)
    assert {topic: len(v) for topic, v in msgs.items()} == EXPECTED_COUNTS
    assert [bytes(m.data) for _, m in msgs[COLOR]] == written["color"]
    assert [bytes(m.data) for _, m in msgs[DEPTH]] == written["depth"]
    stamps = [t for t, _ in msgs[COLOR]]
    assert stamps == [T0, T0 + 33_000_000, T0 + 66_000_000]
    assert [t for t, _ in msgs[DEPTH]] == stamps
    image = msgs[COLOR][0][1]
    assert (image.width, image.height, image.encoding, image.step) == (640, 480, "rgb8", 1920)
    assert msgs[INFO][0][1].k[2] == 320.0
    planned = [m for _, m in msgs[PLANNED]]
    assert [m.width for m in planned] == pytest.approx([0.05, 0.07])
    assert [m.center_u for m in planned] == [321.0, 100.5]
    assert planned[0].pose.header.frame_id == "base_link"
    assert msgs[EXECUTED][0][1].width == pytest.approx(0.05)
    joints = msgs[JOINTS][0][1]
    assert list(joints.name) == ["waist", "shoulder"] and list(joints.position) == [0.1, -0.2]
    assert len(joints.velocity) == 0 and len(joints.effort) == 0
    assert msgs[CAMERA_POSE][0][1].pose.position.z == pytest.approx(0.6)
    stamp, outcome = msgs[OUTCOME][0]
    assert stamp == T0 + 5_000_000_000
    assert outcome.reason == "lifted and held" and outcome.success and math.isnan(outcome.lift_height)
    assert outcome.grasp.width == pytest.approx(0.05)
    assert outcome.grasp.pose.header.frame_id == "base_link"


def test_killed_trial_leaves_only_partial(tmp_path):
    path = tmp_path / "trial_007"
    package_root = Path(bags.__file__).resolve().parents[1]
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(package_root)!r})
from sensor_msgs.msg import Image
from grasp_execution.bags import TrialBag
bag = TrialBag({str(path)!r}, {{"/camera/camera/color/image_raw": "sensor_msgs/msg/Image"}})
for i in range(3):
    bag.write("/camera/camera/color/image_raw", i, Image(height=480, width=640, encoding="rgb8",
              step=1920, data=bytes(640 * 480 * 3)))
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    partial = bags.partial_path(path)
    assert not path.exists() and partial.is_dir()
    assert not list(partial.rglob("metadata.yaml"))
    mcap = partial / "trial_007" / "trial_007.mcap"
    assert mcap.read_bytes()[:8] == b"\x89MCAP0\r\n"
    assert mcap.stat().st_size > 921_600  # the full chunks reached the disk
    with pytest.raises(FileNotFoundError, match="never closed"):
        bag_summary(path)
    with pytest.raises(FileExistsError) as err:  # a leftover is never overwritten
        TrialBag(path, TOPIC_TYPES)
    assert err.value.filename == str(partial)


def test_existing_destination(tmp_path):
    path = tmp_path / "trial_000"
    path.mkdir()
    with pytest.raises(FileExistsError) as err:
        TrialBag(path, TOPIC_TYPES)
    assert err.value.filename == str(path) and str(path) in str(err.value)
    assert not bags.partial_path(path).exists()


def test_parent_is_a_file(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    path = tmp_path / "results" / "trial_000"
    with pytest.raises(OSError) as err:
        TrialBag(path, TOPIC_TYPES)
    assert isinstance(err.value, NotADirectoryError)
    assert str(path) in str(err.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as err:
            TrialBag(folder / "trial_000", TOPIC_TYPES)
        assert str(folder / "trial_000") in str(err.value)
    finally:
        folder.chmod(0o755)


def test_write_errors(tmp_path, monkeypatch):
    path = tmp_path / "trial_000"
    bag = TrialBag(path, {COLOR: "sensor_msgs/msg/Image", OUTCOME: "grasp_interfaces/msg/TrialResult"})
    with pytest.raises(ValueError, match="not one of the topics"):
        bag.write(JOINTS, 0, JointState())
    with pytest.raises(TypeError, match="takes sensor_msgs/msg/Image, got grasp_interfaces/msg/Grasp"):
        bag.write(COLOR, 0, Grasp())
    with pytest.raises(ValueError, match="stamp"):
        bag.write(OUTCOME, -1, TrialResult())
    bag.write(OUTCOME, np.int64(5), TrialResult(reason="ok"))
    with pytest.raises(ValueError, match="not a CDR grasp_interfaces/msg/TrialResult"):
        bag.write(OUTCOME, 5, b"\x00\x01\x00\x00\x05\x00")
    from rclpy.serialization import serialize_message
    bag.write(OUTCOME, 5, serialize_message(TrialResult(reason="raw")))  # pre-serialized CDR
    assert bag.counts == {COLOR: 0, OUTCOME: 2}

    def disk_full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(bag._writer, "write", disk_full)
    with pytest.raises(OSError) as err:
        bag.write(OUTCOME, 6, TrialResult())
    assert err.value.errno == errno.ENOSPC and str(path) in str(err.value)
    assert not bag.is_open and not path.exists() and bags.partial_path(path).is_dir()
    with pytest.raises(RuntimeError, match="aborted"):
        bag.close()


def test_exception_in_block_still_closes(tmp_path):
    path = tmp_path / "trial_000"
    with pytest.raises(KeyError):
        with TrialBag(path, {OUTCOME: "grasp_interfaces/msg/TrialResult"}) as bag:
            bag.write(OUTCOME, 1, TrialResult(reason="planner failed"))
            raise KeyError("planner failed")
    assert bag_summary(path) == {OUTCOME: 1}
    assert read_bag(path)[OUTCOME][0][1].reason == "planner failed"


def test_unknown_type(tmp_path):
    with pytest.raises(ValueError, match="unknown message types"):
        TrialBag(tmp_path / "t", {"/x": "nope_msgs/msg/Nope"})
    assert not list(tmp_path.iterdir())


def test_module_imports_without_rclpy():
    code = ("import sys; sys.modules['rclpy'] = None; sys.path.insert(0, %r); "  # rclpy import fails
            "import grasp_execution.bags as b; print(len(b.TOPIC_TYPES))"
            % str(Path(bags.__file__).resolve().parents[1]))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "8"


def test_compressed_bag_round_trips(tmp_path):
    path = tmp_path / "trial_000"
    depth = np.full((480, 640), 600, np.uint16)
    with TrialBag(path, {DEPTH: "sensor_msgs/msg/Image"}, compress=True) as bag:
        bag.write(DEPTH, 1, conversions.array_to_image(depth, "16UC1", conversions.ns_to_stamp(1), "c"))
    assert (path / "trial_000.mcap").stat().st_size < 100_000  # zstd chunks, vs 614 kB raw
    assert bytes(read_bag(path)[DEPTH][0][1].data) == depth.tobytes()
    assert bag_summary(path) == {DEPTH: 1}


def test_msg_files_without_ament_index(monkeypatch):
    packages = pytest.importorskip("ament_index_python.packages")
    installed = bags.grasp_interfaces_msg_dir()
    assert (installed / "Grasp.msg").is_file() and (installed / "TrialResult.msg").is_file()

    def not_found(name):
        raise packages.PackageNotFoundError(name)
    monkeypatch.setattr(packages, "get_package_share_directory", not_found)
    source = Path(bags.__file__).resolve().parents[2] / "grasp_interfaces" / "msg"
    if not source.is_dir():
        with pytest.raises(FileNotFoundError, match="grasp_interfaces"):
            bags.grasp_interfaces_msg_dir()
    else:  # a source checkout
        assert bags.grasp_interfaces_msg_dir() == source
