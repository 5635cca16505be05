"""Grasp execution: trial runner, grasp executors and per-trial rosbag2 recording."""
