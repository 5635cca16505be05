"""Bring-up of the grasp stack: set-up YAML (``config/<setup>.yaml``) -> the nodes to start.

``setups`` reads a set-up (pure Python, no ROS); ``launching`` turns it into a ROS 2 launch description
(``launch/<setup>.launch.py``); ``run`` starts the same nodes in one process without ``ros2 launch``.
"""
