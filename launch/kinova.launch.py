"""Kinova Gen3 + Robotiq 2F-85 grasp stack: ros2 launch grasp_bringup kinova.launch.py [use_sim:=true] [model:=...]
The nodes and their parameters are in config/kinova.yaml (also read by python -m grasp_bringup.run kinova)."""
from grasp_bringup.launching import launch_description


def generate_launch_description():
    return launch_description("kinova")
