"""WidowX 250s grasp stack: ros2 launch grasp_bringup widowx.launch.py [use_sim:=true] [model:=...]
The nodes and their parameters are in config/widowx.yaml (also read by python -m grasp_bringup.run widowx)."""
from grasp_bringup.launching import launch_description


def generate_launch_description():
    return launch_description("widowx")
