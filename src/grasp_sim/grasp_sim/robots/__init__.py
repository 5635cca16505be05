"""Simulated arm models for the MuJoCo grasp cell: WidowX 250 6-DoF and Kinova Gen3 7-DoF + Robotiq 2F-85."""

from .arm import (ARMS, KINOVA, WIDOWX, ArmModel, IKResult, UnreachableError, get_arm, joint_trajectory,
                  set_gripper_width, solve_ik, solve_ik_or_raise, top_down_grasp_orientation, grasp_orientation,
                  trajectory_duration)
from .kinova_gen3 import add_kinova_gen3, kinova_gen3_mjcf, kinova_gen3_parts
from .widowx250 import add_widowx250, widowx250_mjcf, widowx250_parts

__all__ = [
    "ARMS", "KINOVA", "WIDOWX", "ArmModel", "IKResult", "UnreachableError", "get_arm", "joint_trajectory",
    "set_gripper_width", "solve_ik", "solve_ik_or_raise", "top_down_grasp_orientation", "grasp_orientation",
    "trajectory_duration",
    "add_kinova_gen3", "kinova_gen3_mjcf", "kinova_gen3_parts", "add_widowx250", "widowx250_mjcf",
    "widowx250_parts",
]
