"""ROS 2 nodes of the perception half (the only modules of grasp_perception that import rclpy).

Each node is thin: parameters, topics, QoS and message conversions around the plain classes of the
package (``GraspPlanner``, ``GraspPredictor``, ``geometry``), which the tests also drive directly.
Every node module has ``create_node(**parameter_overrides)`` (used by ``grasp_bringup.run``, which runs
several nodes in one process) and ``main()`` (its console script for ``ros2 run`` / ``ros2 launch``).
"""


class StartupError(RuntimeError):
    """A node cannot start: a missing file or a bad parameter (the message names the parameter and path)."""
