"""Start a set-up's nodes in one process, for machines without ``ros2 launch`` (ROS 2 from PyPI wheels).

    python -m grasp_bringup.run widowx [use_sim:=true] [model:=default] [name:=value ...]

Reads the same ``config/<setup>.yaml`` as ``launch/<setup>.launch.py`` and starts the same nodes with the
same parameters, in one multi-threaded executor (images between them then never leave the process).
"""
from __future__ import annotations

import argparse
import sys

from .nodes import node_module
from .setups import SetupError, available_setups, load_setup, parse_arguments, resolve


def start_nodes(specs, log=print) -> list:
    """Create the nodes of ``specs`` in order (rclpy must be initialised); on failure destroy those made."""
    made = []
    try:
        for spec in specs:
            module = node_module(spec.package, spec.executable)
            log(f"starting {spec.package}/{spec.executable} as '{spec.name}'")
            node = module.create_node(**spec.parameters)  # some executables hold several nodes (sim_cell)
            made.extend(node if isinstance(node, list) else [node])
    except BaseException:
        for node in made:
            node.destroy_node()
        raise
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("setup", help=f"set-up name ({', '.join(available_setups())}) or a YAML path")
    parser.add_argument("arguments", nargs="*", help="name:=value launch arguments")
    args = parser.parse_args(argv)
    try:
        setup = load_setup(args.setup)
        specs, values = resolve(setup, parse_arguments(args.arguments))
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    from grasp_perception.nodes import StartupError
    rclpy.init(args=[sys.argv[0]])  # name:=value words are set-up arguments, not ROS remaps
    nodes = []
    try:
        nodes = start_nodes(specs)
        executor = MultiThreadedExecutor(num_threads=4)
        for node in nodes:
            executor.add_node(node)
        print(f"{setup.name}: {len(nodes)} nodes running ({', '.join(f'{k}={v}' for k, v in values.items())}); "
              f"Ctrl-C stops. Try: python -m grasp_bringup.plan_grasp --overlay overlay.png", flush=True)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (StartupError, SetupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
