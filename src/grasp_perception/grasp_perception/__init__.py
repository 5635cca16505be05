"""Generative grasp perception: networks, grasp maps, datasets, training and evaluation.

Pure Python + PyTorch; nothing here imports ROS, so it trains on any GPU box or cluster and the
ROS perception node imports it unchanged.
"""
from .grasp import ImageGrasp, angle_to_bin, rectangle_corners, wrap_angle

__all__ = ["ImageGrasp", "angle_to_bin", "rectangle_corners", "wrap_angle"]
__version__ = "0.1.0"
