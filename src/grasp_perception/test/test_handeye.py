"""easy_handeye2 calibration files and the camera -> robot-base transform (grasp_perception.handeye)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from grasp_perception.geometry import invert_transform, is_rigid, make_transform
from grasp_perception.handeye import (CalibrationError, HandEyeCalibration, eye_on_base_from_camera_pose,
                                      link_T_optical, load_calibration, save_calibration)


def _pose(euler_deg, xyz) -> np.ndarray:
    return make_transform(Rotation.from_euler("xyz", euler_deg, degrees=True).as_matrix(), xyz)


EYE_ON_BASE = HandEyeCalibration("cell_cam", "eye_on_base", "base_link", "", "camera_link",
                                 _pose([170, 20, -35], [0.45, -0.1, 0.8]))
EYE_IN_HAND = HandEyeCalibration("wrist_cam", "eye_in_hand", "panda_link0", "panda_hand", "camera_link",
                                 _pose([5, -90, 12], [0.05, 0.0, 0.04]))

S = math.sqrt(0.5)
HAND_WRITTEN = f"""\
parameters:
  name: hand_written
  calibration_type: eye_on_base
  robot_base_frame: base_link
  robot_effector_frame: tool0
  tracking_base_frame: camera_link
  tracking_marker_frame: aruco_marker
  freehand_robot_movement: false
  move_group_namespace: /
  move_group: manipulator
transform:
  translation:
    x: 0.5
    y: -0.25
    z: 1.2
  rotation:
    x: 0.0
    y: 0.0
    z: {S!r}
    w: {S!r}
"""


def _valid_doc() -> dict:
    return yaml.safe_load(HAND_WRITTEN)


def _write(tmp_path: Path, doc, name: str = "c.calib") -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return p


# ---------------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("calib", [EYE_ON_BASE, EYE_IN_HAND], ids=["eye_on_base", "eye_in_hand"])
def test_save_load_round_trip(tmp_path, calib):
    path = save_calibration(tmp_path / "sub" / f"{calib.name}.calib", calib)
    assert path.is_file()
    back = load_calibration(path)
    assert back.name == calib.name
    assert back.calibration_type == calib.calibration_type
    assert back.robot_base_frame == calib.robot_base_frame
    assert back.robot_effector_frame == calib.robot_effector_frame
    assert back.tracking_base_frame == calib.tracking_base_frame
    np.testing.assert_allclose(back.transform, calib.transform, atol=1e-12)


def test_saved_yaml_has_easy_handeye2_layout(tmp_path):
    path = save_calibration(tmp_path / "x.calib", EYE_IN_HAND)
    doc = yaml.safe_load(path.read_text())
    p = doc["parameters"]
    assert p["calibration_type"] == "eye_in_hand"
    assert p["robot_base_frame"] == "panda_link0"
    assert p["robot_effector_frame"] == "panda_hand"
    assert p["tracking_base_frame"] == "camera_link"
    t, r = doc["transform"]["translation"], doc["transform"]["rotation"]
    assert set(t) == {"x", "y", "z"} and set(r) == {"x", "y", "z", "w"}
    np.testing.assert_allclose([t["x"], t["y"], t["z"]], EYE_IN_HAND.transform[:3, 3])
    q = [r["x"], r["y"], r["z"], r["w"]]
    assert all(isinstance(v, float) for v in q + [t["x"], t["y"], t["z"]])  # plain YAML floats, not numpy tags
    # the stored quaternion is x, y, z, w of the transform's rotation (independent of our loader)
    np.testing.assert_allclose(Rotation.from_quat(q).as_matrix(), EYE_IN_HAND.transform[:3, :3], atol=1e-12)


def test_save_rejects_non_rigid(tmp_path):
    bad = HandEyeCalibration("bad", "eye_on_base", "base", "", "cam", np.diag([2.0, 2.0, 2.0, 1.0]))
    with pytest.raises(CalibrationError, match="rigid"):
        save_calibration(tmp_path / "bad.calib", bad)


def test_hand_written_file_loads(tmp_path):
    calib = load_calibration(_write(tmp_path, HAND_WRITTEN, "hand.calib"))
    assert calib.name == "hand_written"
    assert calib.calibration_type == "eye_on_base"
    assert calib.parent_frame == "base_link"
    assert calib.tracking_base_frame == "camera_link"
    expected = np.array([[0.0, -1.0, 0.0, 0.5],
                         [1.0, 0.0, 0.0, -0.25],
                         [0.0, 0.0, 1.0, 1.2],
                         [0.0, 0.0, 0.0, 1.0]])
    np.testing.assert_allclose(calib.transform, expected, atol=1e-12)


def test_hand_written_eye_in_hand_unnormalised_quaternion_and_no_name(tmp_path):
    doc = _valid_doc()
    doc["parameters"]["calibration_type"] = "eye_in_hand"
    del doc["parameters"]["name"]
    doc["transform"]["rotation"] = {"x": 2.0, "y": 0.0, "z": 0.0, "w": 0.0}  # 180 deg about x, not unit length
    doc["transform"]["translation"] = {"x": 0, "y": 0, "z": 0.1}               # YAML ints are fine too
    calib = load_calibration(_write(tmp_path, doc, "wrist.calib"))
    assert calib.name == "wrist"  # the file's stem
    assert calib.parent_frame == "tool0"
    np.testing.assert_allclose(calib.transform, make_transform(np.diag([1.0, -1.0, -1.0]), [0, 0, 0.1]), atol=1e-12)


# ------------------------------------------------------------------------------------------------- errors
def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "missing.calib"
    with pytest.raises(CalibrationError, match="missing.calib") as exc:
        load_calibration(path)
    assert str(path) in str(exc.value)


def test_invalid_yaml(tmp_path):
    path = _write(tmp_path, "parameters: [unclosed\n  transform: {", "broken.calib")
    with pytest.raises(CalibrationError, match="YAML") as exc:
        load_calibration(path)
    assert "broken.calib" in str(exc.value)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_yaml_that_is_not_a_mapping(tmp_path, text):
    with pytest.raises(CalibrationError, match="parameters"):
        load_calibration(_write(tmp_path, text))


@pytest.mark.parametrize("section, key, where", [
    ("parameters", "calibration_type", "parameters.calibration_type"),
    ("parameters", "robot_base_frame", "parameters.robot_base_frame"),
    ("parameters", "tracking_base_frame", "parameters.tracking_base_frame"),
    ("transform", "translation", "transform.translation"),
    ("rotation", "w", "transform.rotation.w"),
    ("translation", "y", "transform.translation.y"),
    (None, "transform", "transform"),
    (None, "parameters", "parameters"),
])
def test_missing_field_is_named(tmp_path, section, key, where):
    doc = _valid_doc()
    if section is None:
        del doc[key]
    elif section in ("rotation", "translation"):
        del doc["transform"][section][key]
    else:
        del doc[section][key]
    with pytest.raises(CalibrationError) as exc:
        load_calibration(_write(tmp_path, doc))
    assert f"'{where}'" in str(exc.value)
    assert "c.calib" in str(exc.value)


def test_unknown_calibration_type(tmp_path):
    doc = _valid_doc()
    doc["parameters"]["calibration_type"] = "eye_on_hand"
    with pytest.raises(CalibrationError, match="calibration_type") as exc:
        load_calibration(_write(tmp_path, doc))
    assert "eye_on_hand" in str(exc.value)


def test_zero_quaternion(tmp_path):
    doc = _valid_doc()
    doc["transform"]["rotation"] = {"x": 0.0, "y": 0.0, "z": 0.0, "w": 0.0}
    with pytest.raises(CalibrationError, match="quaternion"):
        load_calibration(_write(tmp_path, doc))


def test_non_numeric_translation(tmp_path):
    doc = _valid_doc()
    doc["transform"]["translation"]["x"] = "half a metre"
    with pytest.raises(CalibrationError, match="transform"):
        load_calibration(_write(tmp_path, doc))


def test_empty_frame_names(tmp_path):
    doc = _valid_doc()
    doc["parameters"]["tracking_base_frame"] = ""
    with pytest.raises(CalibrationError, match="tracking_base_frame"):
        load_calibration(_write(tmp_path, doc))
    # an empty effector frame is fine for eye on base (easy_handeye2 leaves it blank) but not in hand
    doc = _valid_doc()
    doc["parameters"]["robot_effector_frame"] = ""
    assert load_calibration(_write(tmp_path, doc)).robot_effector_frame == ""
    doc["parameters"]["calibration_type"] = "eye_in_hand"
    with pytest.raises(CalibrationError, match="robot_effector_frame"):
        load_calibration(_write(tmp_path, doc))


# ------------------------------------------------------------------------------------- base_T_optical
def test_base_T_optical_eye_on_base():
    t_T_o = _pose([0, 0, 0], [0.0, 0.015, 0.0])
    np.testing.assert_allclose(EYE_ON_BASE.base_T_optical(t_T_o), EYE_ON_BASE.transform @ t_T_o)
    # the effector pose is irrelevant for a camera fixed to the base
    np.testing.assert_allclose(EYE_ON_BASE.base_T_optical(t_T_o, _pose([1, 2, 3], [1, 1, 1])),
                               EYE_ON_BASE.transform @ t_T_o)


def test_base_T_optical_eye_in_hand():
    base_T_eff = _pose([180, 0, 45], [0.4, 0.1, 0.5])
    t_T_o = link_T_optical([0.0, 0.015, 0.0])
    got = EYE_IN_HAND.base_T_optical(t_T_o, base_T_eff)
    np.testing.assert_allclose(got, base_T_eff @ EYE_IN_HAND.transform @ t_T_o, atol=1e-12)
    assert is_rigid(got)
    # the optical origin as a point: effector pose applied to the camera offset
    origin = (base_T_eff @ EYE_IN_HAND.transform @ np.append(t_T_o[:3, 3], 1.0))[:3]
    np.testing.assert_allclose(got[:3, 3], origin, atol=1e-12)


def test_eye_in_hand_needs_effector_pose():
    with pytest.raises(CalibrationError, match="eye_in_hand"):
        EYE_IN_HAND.base_T_optical(np.eye(4))


def test_link_T_optical_is_rep103():
    T = link_T_optical()
    R = T[:3, :3]
    np.testing.assert_allclose(R @ [0, 0, 1], [1, 0, 0])    # optical z (forward) = link +x
    np.testing.assert_allclose(R @ [1, 0, 0], [0, -1, 0])   # optical x (right)   = link -y
    np.testing.assert_allclose(R @ [0, 1, 0], [0, 0, -1])   # optical y (down)    = link -z
    assert is_rigid(T)
    np.testing.assert_allclose(link_T_optical([0.0, 0.015, 0.0])[:3, 3], [0.0, 0.015, 0.0])


def test_eye_on_base_from_camera_pose_round_trip(tmp_path):
    base_T_opt = _pose([180, -25, 90], [0.5, 0.0, 0.7])
    calib = eye_on_base_from_camera_pose(base_T_opt, name="sim", robot_base_frame="world")
    assert calib.calibration_type == "eye_on_base" and calib.tracking_base_frame == "camera_link"
    assert calib.robot_base_frame == "world"
    np.testing.assert_allclose(calib.base_T_optical(link_T_optical()), base_T_opt, atol=1e-12)
    # base_T_link: camera_link's +x is the optical axis
    np.testing.assert_allclose(calib.transform[:3, 0], base_T_opt[:3, 2], atol=1e-12)
    # and it survives the file
    back = load_calibration(save_calibration(tmp_path / "sim.calib", calib))
    np.testing.assert_allclose(back.base_T_optical(link_T_optical()), base_T_opt, atol=1e-12)


def test_eye_on_base_from_camera_pose_custom_tracking_frame():
    base_T_opt = _pose([170, 10, 0], [0.3, 0.2, 0.9])
    t_T_o = _pose([0, 0, 0], [0.01, 0.0, 0.0])
    calib = eye_on_base_from_camera_pose(base_T_opt, name="x", robot_base_frame="base",
                                         tracking_base_frame="camera_color_optical_frame",
                                         tracking_T_optical=t_T_o)
    np.testing.assert_allclose(calib.transform, base_T_opt @ invert_transform(t_T_o), atol=1e-12)
    np.testing.assert_allclose(calib.base_T_optical(t_T_o), base_T_opt, atol=1e-12)
