"""Simulated grasp cell (MuJoCo) standing in for a RealSense camera, an arm and objects; no ROS imports.

``MUJOCO_GL`` defaults to ``egl`` (works on CPU through Mesa llvmpipe); it must be set before
``mujoco`` is first imported, so import this package first or set the variable yourself
(``osmesa`` is the fallback and needs ``libosmesa6``).
"""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

from .camera import CameraIntrinsics, DepthNoise, realsense_d435_color  # noqa: E402
from .objects import (ObjectSpec, Primitive, box_object, load_mesh_object, load_mesh_objects,  # noqa: E402
                      procedural_objects)
from .settings import SimSettings, load_sim_settings  # noqa: E402
from .cell import SEG_BACKGROUND, SEG_GRIPPER, GripperConfig, Observation, SimCell, top_down_camera_pose  # noqa: E402
from .world_grasp import GraspPose, TrialResult, image_grasp_to_world  # noqa: E402
from .executors import execute_grasp, execute_grasp_with_arm, make_cell, plan_arm_grasp, run_grasp  # noqa: E402

__all__ = [
    "CameraIntrinsics", "DepthNoise", "realsense_d435_color",
    "ObjectSpec", "Primitive", "box_object", "load_mesh_object", "load_mesh_objects", "procedural_objects",
    "SEG_BACKGROUND", "SEG_GRIPPER", "GripperConfig", "Observation", "SimCell", "top_down_camera_pose",
    "GraspPose", "TrialResult", "execute_grasp", "image_grasp_to_world", "SimSettings", "load_sim_settings",
    "execute_grasp_with_arm", "make_cell", "plan_arm_grasp", "run_grasp",
]
