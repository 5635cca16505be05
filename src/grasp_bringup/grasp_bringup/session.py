"""A whole EGAD-style session: start a set-up's nodes and run ``/run_trials`` on them, over DDS.

    python -m grasp_bringup.session widowx use_sim:=true [trials_per_object:=3] [n_objects:=3]
        [objects:=../shared/data/egad_eval_set] [output_dir:=runs/session] [--resume]

The nodes are those of ``python -m grasp_bringup.run`` (one process, one executor); the goal is sent by
an action client node beside them, and each trial's outcome is printed as its feedback arrives. At the
end: the per-object table (printed by the trial runner), and where the results, heatmap and bags are.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time

from .run import start_nodes
from .setups import SetupError, available_setups, load_setup, parse_arguments, resolve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("setup", help=f"set-up name ({', '.join(available_setups())})")
    parser.add_argument("arguments", nargs="*", help="name:=value launch arguments")
    parser.add_argument("--resume", action="store_true", help="continue the trials logged in output_dir")
    args = parser.parse_args(argv)
    try:
        specs, values = resolve(load_setup(args.setup), parse_arguments(args.arguments))
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import rclpy
    from grasp_interfaces.action import RunTrials
    from grasp_perception.nodes import StartupError
    from rclpy.action import ActionClient
    from rclpy.executors import MultiThreadedExecutor
    rclpy.init(args=[sys.argv[0]])
    nodes, executor = [], None
    try:
        nodes = start_nodes(specs, log=lambda _: None)
        client_node = rclpy.create_node("session_client")
        nodes.append(client_node)
        executor = MultiThreadedExecutor(num_threads=6)
        for n in nodes:
            executor.add_node(n)
        threading.Thread(target=executor.spin, daemon=True).start()
        client = ActionClient(client_node, RunTrials, "/run_trials")
        if not client.wait_for_server(timeout_sec=30):
            print("error: /run_trials is not available", file=sys.stderr)
            return 1
        t0 = time.monotonic()

        def feedback(msg):
            fb = msg.feedback
            print(f"[{fb.done}/{fb.total}] {fb.last.object_name} trial {fb.last.trial}: "
                  f"{'success' if fb.last.success else 'failure'} ({fb.last.reason})"
                  f"{'  bag ' + fb.last.bag_path if fb.last.bag_path else ''}", flush=True)

        goal = RunTrials.Goal(output_dir=str(values["output_dir"]), resume=args.resume)
        send = client.send_goal_async(goal, feedback_callback=feedback)
        while not send.done():
            time.sleep(0.05)
        handle = send.result()
        if not handle.accepted:
            print("error: the trial runner refused the goal", file=sys.stderr)
            return 1
        result_future = handle.get_result_async()
        try:
            while not result_future.done():
                time.sleep(0.1)
        except KeyboardInterrupt:
            print("cancelling after the trial in flight ...", file=sys.stderr)
            cancel = handle.cancel_goal_async()
            while not (cancel.done() and result_future.done()):
                time.sleep(0.1)
        result = result_future.result().result
        took = time.monotonic() - t0
        print(f"{result.message} in {took:.0f} s ({took / max(1, result.n_trials):.1f} s per trial)")
        if result.success:
            print(f"results: {result.results_path}; bags: {values['output_dir']}/bags; "
                  f"session: {values['output_dir']}/session.json")
        return 0 if result.success else 1
    except (StartupError, SetupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=5)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
