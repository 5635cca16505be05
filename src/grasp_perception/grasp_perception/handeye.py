"""Hand-eye calibration files (easy_handeye2's ``.calib`` YAML) and the camera -> robot-base transform.

easy_handeye2 saves ``~/.ros2/easy_handeye2/calibrations/<name>.calib``: the YAML of its
``HandeyeCalibration`` message, ``parameters`` (calibration_type ``eye_on_base`` | ``eye_in_hand``,
robot_base_frame, robot_effector_frame, tracking_base_frame, ...) and ``transform`` (translation,
rotation as a quaternion x, y, z, w). Its publisher sends that transform as one static TF from
``robot_base_frame`` (eye on base) or ``robot_effector_frame`` (eye in hand) to ``tracking_base_frame``.
This module reads the same file, so the stack runs from it where no TF tree exists, and writes it (the
simulator's known camera pose stands in for a calibration).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .geometry import LINK_R_OPTICAL, invert_transform, is_rigid, make_transform, transform_from_xyz_quat, \
    xyz_quat_from_transform

CALIBRATION_TYPES = ("eye_on_base", "eye_in_hand")


class CalibrationError(ValueError):
    """A calibration file that is missing, malformed or inconsistent (names the file and field)."""


@dataclass(frozen=True)
class HandEyeCalibration:
    name: str
    calibration_type: str          # eye_on_base | eye_in_hand
    robot_base_frame: str
    robot_effector_frame: str
    tracking_base_frame: str       # the camera frame the transform ends in (camera_link for a RealSense)
    transform: np.ndarray          # parent_T_tracking, 4x4; parent = base (eye on base) or effector (in hand)

    @property
    def parent_frame(self) -> str:
        return self.robot_base_frame if self.calibration_type == "eye_on_base" else self.robot_effector_frame

    def base_T_optical(self, tracking_T_optical: np.ndarray, base_T_effector: np.ndarray | None = None) -> np.ndarray:
        """base_T_(image optical frame). ``tracking_T_optical`` links the calibrated camera frame to the frame
        the images are in (identity when they are the same); eye in hand also needs the effector's pose."""
        if self.calibration_type == "eye_on_base":
            return self.transform @ tracking_T_optical
        if base_T_effector is None:
            raise CalibrationError(f"calibration {self.name!r} is eye_in_hand: the pose of "
                                   f"{self.robot_effector_frame!r} in {self.robot_base_frame!r} is needed")
        return base_T_effector @ self.transform @ tracking_T_optical


def link_T_optical(translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    """camera_link -> camera_color_optical_frame: the REP 103 optical rotation and the colour sensor's offset."""
    return make_transform(LINK_R_OPTICAL, translation)


def _field(d: dict, key: str, path: Path, where: str):
    if not isinstance(d, dict) or key not in d:
        raise CalibrationError(f"{path}: missing field '{where}{key}'")
    return d[key]


def load_calibration(path: str | Path) -> HandEyeCalibration:
    path = Path(path).expanduser()
    if not path.is_file():
        raise CalibrationError(f"calibration file not found: {path} (an easy_handeye2 .calib YAML)")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{path}: not valid YAML: {exc}") from exc
    params = _field(doc, "parameters", path, "")
    tf = _field(doc, "transform", path, "")
    ctype = _field(params, "calibration_type", path, "parameters.")
    if ctype not in CALIBRATION_TYPES:
        raise CalibrationError(f"{path}: field 'parameters.calibration_type' must be one of {CALIBRATION_TYPES}, "
                               f"got {ctype!r}")
    frames = {k: _field(params, k, path, "parameters.") for k in
              ("robot_base_frame", "robot_effector_frame", "tracking_base_frame")}
    for k, v in frames.items():
        if not isinstance(v, str) or (not v and not (k == "robot_effector_frame" and ctype == "eye_on_base")):
            raise CalibrationError(f"{path}: field 'parameters.{k}' must be a frame name, got {v!r}")
    t, r = _field(tf, "translation", path, "transform."), _field(tf, "rotation", path, "transform.")
    try:
        xyz = [float(_field(t, k, path, "transform.translation.")) for k in "xyz"]
        quat = [float(_field(r, k, path, "transform.rotation.")) for k in "xyzw"]
        T = transform_from_xyz_quat(xyz, quat)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CalibrationError):
            raise
        raise CalibrationError(f"{path}: field 'transform': {exc}") from exc
    return HandEyeCalibration(str(params.get("name", path.stem)), ctype, frames["robot_base_frame"],
                              frames["robot_effector_frame"], frames["tracking_base_frame"], T)


def save_calibration(path: str | Path, calib: HandEyeCalibration) -> Path:
    """Write ``calib`` in easy_handeye2's layout (readable by its ``publish.launch.py``)."""
    if not is_rigid(calib.transform):
        raise CalibrationError(f"save_calibration: transform of {calib.name!r} is not a rigid 4x4 transform")
    xyz, q = xyz_quat_from_transform(calib.transform)
    doc = {"parameters": {"name": calib.name, "calibration_type": calib.calibration_type,
                          "robot_base_frame": calib.robot_base_frame,
                          "robot_effector_frame": calib.robot_effector_frame,
                          "tracking_base_frame": calib.tracking_base_frame,
                          "tracking_marker_frame": "", "freehand_robot_movement": True,
                          "move_group_namespace": "/", "move_group": ""},
           "transform": {"translation": dict(zip("xyz", map(float, xyz))),
                         "rotation": dict(zip("xyzw", map(float, q)))}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def eye_on_base_from_camera_pose(base_T_optical: np.ndarray, *, name: str, robot_base_frame: str,
                                 tracking_base_frame: str = "camera_link",
                                 tracking_T_optical: np.ndarray | None = None) -> HandEyeCalibration:
    """The eye-on-base calibration a perfect calibration would give for a camera whose optical frame sits at
    ``base_T_optical`` (the simulator knows its camera pose exactly)."""
    t_o = link_T_optical() if tracking_T_optical is None else tracking_T_optical
    return HandEyeCalibration(name, "eye_on_base", robot_base_frame, "", tracking_base_frame,
                              base_T_optical @ invert_transform(t_o))
