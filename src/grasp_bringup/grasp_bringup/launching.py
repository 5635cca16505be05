"""The ROS 2 launch description of a set-up (used by ``launch/<setup>.launch.py``; needs ``launch_ros``)."""
from __future__ import annotations

from .setups import load_setup, resolve


def launch_description(setup_name: str):
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    setup = load_setup(setup_name)

    def nodes(context):
        given = {k: LaunchConfiguration(k).perform(context) for k in setup.arguments}
        specs, _ = resolve(setup, given)
        return [Node(package=s.package, executable=s.executable, name=s.name, parameters=[s.parameters],
                     output="screen", emulate_tty=True) for s in specs]

    declared = [DeclareLaunchArgument(k, default_value=str(a.default).lower() if isinstance(a.default, bool)
                                      else str(a.default), description=a.description)
                for k, a in setup.arguments.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=nodes)])
