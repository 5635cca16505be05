"""ROS 2 nodes of the perception half (the only modules of grasp_perception that import rclpy).

Each node is thin: parameters, topics, QoS and message conversions around the plain classes of the
package (``GraspPlanner``, ``GraspPredictor``, ``geometry``), which the tests also drive directly.
Every node module has ``create_node(**parameter_overrides)`` (used by ``grasp_bringup.run``, which runs
several nodes in one process) and ``main()`` (its console script for ``ros2 run`` / ``ros2 launch``).
"""


class StartupError(RuntimeError):
    """A node cannot start: a missing file or a bad parameter (the message names the parameter and path)."""


def overrides(parameters: dict) -> list:
    """``name=value`` keyword arguments as rclpy parameter overrides (what ``create_node`` passes to a Node)."""
    from rclpy.parameter import Parameter
    return [Parameter(k, value=v) for k, v in parameters.items()]


def spin(make_nodes, num_threads: int = 2, args=None) -> None:
    """A node executable's ``main``: init, build the node(s) with ``make_nodes()``, spin a multi-threaded
    executor until Ctrl-C or shutdown, clean up. A start-up error (bad parameter, missing file) is printed
    and exits with status 2, as the rclpy examples do for their own failures."""
    import sys

    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
    rclpy.init(args=args)
    nodes = []
    try:
        made = make_nodes()
        nodes = made if isinstance(made, list) else [made]
        executor = MultiThreadedExecutor(num_threads=num_threads)
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (StartupError, ValueError) as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
