"""Trial runner: the EGAD protocol (``grasp_sim.protocol``) over ROS, started by the ``/run_trials`` action.

For each trial: reset (simulation: ``/sim/reset_scene`` re-drops the object; real arm: the operator puts
it in and confirms with ``/trial_runner/confirm_reset`` (std_srvs/Trigger) or Enter), ``/plan_grasp`` on a
frame of the new scene, ``/execute_grasp`` of the best candidate (an unreachable one is reported and the
next is tried), and one rosbag2 per trial (``bags/<object>_<trial>``: the planning frame, the planned and
executed grasps, joint states, the outcome). Results go to ``trials.jsonl`` as each trial ends, so a
killed session resumes without losing or repeating trials; the end writes ``results.json``,
``session.json`` (trial -> bag) and, for EGAD objects, the A-G x 0-6 heatmap.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from grasp_interfaces.action import RunTrials
from grasp_interfaces.msg import TrialResult
from grasp_interfaces.srv import ExecuteGrasp, PlanGrasp, ResetScene
from grasp_perception.nodes import overrides, spin, topics
from grasp_perception.nodes.conversions import stamp_to_ns
from rclpy.action import ActionServer, CancelResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger

from ..bags import TOPIC_TYPES, TrialBag, partial_path

PARAMETERS = {  # name: (default, description)
    "use_sim": (True, "reset through /sim/reset_scene (else ask the operator)"),
    "objects": ("procedural", "the object set: 'procedural' or a folder of meshes (names = file stems)"),
    "n_objects": (10, "procedural pool size"),
    "objects_seed": (1000, "procedural pool seed"),
    "trials_per_object": (20, "EGAD's 20 attempts per object (a goal's non-zero value overrides it)"),
    "seed": (0, "seeds the simulated drops (and their depth noise), as grasp_sim.trials --seed"),
    "output_dir": ("runs/session", "session folder (a goal's non-empty value overrides it)"),
    "record_bags": (True, "one rosbag2 per trial under output_dir/bags"),
    "candidates": (5, "grasps asked of /plan_grasp; the next is tried when one is unreachable"),
    "model": ("default", "the perception model (recorded in the session settings: a resume must match)"),
    "arm": ("widowx", "recorded in the session settings"),
    "service_timeout_s": (60.0, "longest wait for /plan_grasp, /execute_grasp or a reset"),
}
BAG_TOPICS = {k: v for k, v in TOPIC_TYPES.items() if k != "/trial/camera_pose"}  # the pose is in each grasp


class Stop(Exception):
    """The goal was cancelled: stop after the trial in flight."""


class RosTrialExecutor:
    """grasp_sim.protocol.TrialExecutor over ROS services (see the module docstring)."""

    def __init__(self, node: "TrialRunnerNode", names: list[str], output_dir: Path):
        self.node, self.names, self.output_dir = node, names, output_dir
        self.scene_stamp_ns = 0

    def reset(self, object_index: int, trial: int) -> None:
        node, name = self.node, self.names[object_index]
        if node.p["use_sim"]:
            res = node.call(node.reset_client, ResetScene.Request(object_name=name, trial=trial, seed=node.p["seed"]))
            if not res.success:
                raise RuntimeError(f"/sim/reset_scene failed for {name!r}: {res.message}")
            self.scene_stamp_ns = stamp_to_ns(res.first_frame_stamp)
            return
        node.get_logger().warn(f"trial {trial} of {name}: put {name} into the arena at random, then call "
                               f"/trial_runner/confirm_reset (or press Enter)")
        node.wait_for_operator()
        self.scene_stamp_ns = node.get_clock().now().nanoseconds

    def attempt(self, object_index: int, trial: int) -> dict:
        node, name = self.node, self.names[object_index]
        t0 = time.perf_counter()
        joints_from = len(node.joint_log)
        record = {"success": False}
        plan = None
        for _ in range(100):  # a plan on a frame of the new scene (camera latency, a late subscriber)
            plan = node.call(node.plan_client, PlanGrasp.Request(max_grasps=node.p["candidates"]))
            if plan.success and stamp_to_ns(plan.image_stamp) >= self.scene_stamp_ns:
                break
            if not plan.success and "no synchronised" not in plan.message and "stale" not in plan.message:
                break
            time.sleep(0.05)
        t1 = time.perf_counter()
        executed, notes = None, []
        if not plan.success:
            record["reason"] = f"no grasp: {plan.message}"
        else:
            for k, g in enumerate(plan.grasps):
                res = node.call(node.execute_client, ExecuteGrasp.Request(grasp=g))
                if res.executed:
                    executed = g
                    record.update(success=bool(res.success), reason=res.message, candidate=k,
                                  lift_m=float(res.lift_measured))
                    break
                notes.append(res.message)
            if executed is None:
                record["reason"] = f"unreachable: all {len(plan.grasps)} candidates ({notes[-1]})"
            else:
                p = executed.pose.pose.position
                record.update(u=executed.center_u, v=executed.center_v, angle=executed.angle,
                              quality=executed.quality, width_m=executed.width, position=[p.x, p.y, p.z],
                              skipped=notes)
        t2 = time.perf_counter()
        record["ms"] = {"plan": 1e3 * (t1 - t0), "execute": 1e3 * (t2 - t1)}
        if node.p["record_bags"]:
            record["bag"] = self._write_bag(name, trial, plan, executed, record, joints_from, t2 - t0)
        return record

    def _write_bag(self, name: str, trial: int, plan, executed, record: dict, joints_from: int, seconds: float) -> str:
        rel = Path("bags") / f"{name}_{trial:03d}"
        path = self.output_dir / rel
        for leftover in (path, partial_path(path)):  # a trial killed after its bag, or mid-bag
            if leftover.exists():
                leftover.rename(leftover.with_name(f"{leftover.name}.interrupted-{time.time_ns()}"))
        node = self.node
        with TrialBag(path, BAG_TOPICS) as bag:
            stamp = stamp_to_ns(plan.image_stamp) if plan is not None else 0
            for topic, msg in node.frame_at(stamp).items():
                bag.write(topic, stamp_to_ns(msg.header.stamp), msg)
            for g in (plan.grasps if plan is not None and plan.success else []):
                bag.write("/trial/planned_grasps", stamp, g)
            for msg in node.joint_log[joints_from:]:
                bag.write("/joint_states", stamp_to_ns(msg.header.stamp), msg)
            out = TrialResult(object_name=name, trial=trial, success=bool(record["success"]),
                              reason=record["reason"], lift_height=float(record.get("lift_m", float("nan"))),
                              bag_path=str(rel), seconds=float(seconds))
            now = node.get_clock().now().nanoseconds
            if executed is not None:
                out.grasp = executed
                bag.write("/trial/executed_grasp", now, executed)
            bag.write("/trial/outcome", now, out)
        return str(rel)


class TrialRunnerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("trial_runner", **kwargs)
        for name, (default, _) in PARAMETERS.items():
            self.declare_parameter(name, default)
        self.p = {name: self.get_parameter(name).value for name in PARAMETERS}
        group = ReentrantCallbackGroup()  # service calls are made from inside the action callback
        self.plan_client = self.create_client(PlanGrasp, "/plan_grasp", callback_group=group)
        self.execute_client = self.create_client(ExecuteGrasp, "/execute_grasp", callback_group=group)
        self.reset_client = self.create_client(ResetScene, "/sim/reset_scene", callback_group=group)
        self._frames: dict[str, list] = {t: [] for t in (topics.COLOR_TOPIC, topics.DEPTH_TOPIC, topics.DEPTH_INFO_TOPIC)}
        self._frames_lock = threading.Lock()
        for topic, typ in ((topics.COLOR_TOPIC, Image), (topics.DEPTH_TOPIC, Image), (topics.DEPTH_INFO_TOPIC, CameraInfo)):
            self.create_subscription(typ, topic, lambda m, t=topic: self._keep_frame(t, m), 5, callback_group=group)
        self.joint_log: list[JointState] = []
        self.create_subscription(JointState, "/joint_states", self.joint_log.append, 50, callback_group=group)
        self._operator = threading.Event()
        self.create_service(Trigger, "~/confirm_reset", self._on_confirm, callback_group=group)
        self._busy = threading.Lock()
        self.action = ActionServer(self, RunTrials, "/run_trials", self._execute, callback_group=group,
                                   cancel_callback=lambda _: CancelResponse.ACCEPT)

    # ------------------------------------------------------------------------------- helpers
    def _keep_frame(self, topic: str, msg) -> None:
        with self._frames_lock:
            buf = self._frames[topic]
            buf.append(msg)
            del buf[:-10]  # the last second at 10 Hz is enough to find the planning frame

    def frame_at(self, stamp_ns: int) -> dict:
        """The colour, depth and camera_info messages with this stamp (the frame a plan used)."""
        with self._frames_lock:
            return {t: m for t, buf in self._frames.items() for m in buf if stamp_to_ns(m.header.stamp) == stamp_ns}

    def _on_confirm(self, request, response):
        self._operator.set()
        response.success, response.message = True, "reset confirmed"
        return response

    def wait_for_operator(self) -> None:
        self._operator.clear()
        if sys.stdin is not None and sys.stdin.isatty():
            threading.Thread(target=lambda: (sys.stdin.readline(), self._operator.set()), daemon=True).start()
        self._operator.wait()

    def call(self, client, request):
        if not client.wait_for_service(timeout_sec=self.p["service_timeout_s"]):
            raise RuntimeError(f"{client.srv_name} is not available")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self.p["service_timeout_s"]):
            raise RuntimeError(f"{client.srv_name} did not answer within {self.p['service_timeout_s']} s")
        return future.result()

    # ------------------------------------------------------------------------------- the action
    def _execute(self, goal_handle):
        from grasp_sim.cell_setup import CellSettings, object_names
        from grasp_sim.protocol import TrialLog, finish, run_protocol
        goal, result = goal_handle.request, RunTrials.Result()
        if not self._busy.acquire(blocking=False):
            goal_handle.abort()
            result.message = "a session is already running"
            return result
        try:
            names = object_names(CellSettings(objects=self.p["objects"], n_objects=self.p["n_objects"],
                                              objects_seed=self.p["objects_seed"], arm=self.p["arm"]))
            if goal.objects:
                unknown = sorted(set(goal.objects) - set(names))
                if unknown:
                    raise ValueError(f"unknown objects {unknown}; the set has {names}")
                names = [n for n in names if n in set(goal.objects)]
            n_trials = int(goal.trials_per_object) or int(self.p["trials_per_object"])
            out = Path(goal.output_dir or self.p["output_dir"])
            out.mkdir(parents=True, exist_ok=True)
            settings = {k: self.p[k] for k in ("model", "arm", "objects", "n_objects", "objects_seed", "seed",
                                               "use_sim", "candidates")}
            settings.update(names=names, trials_per_object=n_trials)
            log = TrialLog.open(out / "trials.jsonl", settings, bool(goal.resume))
            executor = RosTrialExecutor(self, names, out)

            def on_trial(done, total, record):
                fb = RunTrials.Feedback(done=done, total=total)
                fb.last = TrialResult(object_name=record["object"], trial=record["trial"],
                                      success=bool(record["success"]), reason=record["reason"],
                                      bag_path=record.get("bag", ""))
                goal_handle.publish_feedback(fb)
                if goal_handle.is_cancel_requested:
                    raise Stop()

            try:
                records = run_protocol(executor, names, n_trials, log, on_trial=on_trial, progress=False)
            except Stop:
                goal_handle.canceled()
                result.message = f"cancelled; {len(log)} trials are logged in {out} (resume continues)"
                return result
            summary = finish(records, names, out, title=f"{self.p['model']} ({self.p['arm']}, ROS)")
            summary["settings"] = settings
            (out / "results.json").write_text(json.dumps(summary, indent=1))
            (out / "session.json").write_text(json.dumps(
                {"settings": settings, "results": str(out / "results.json"),
                 "trials": [{k: r.get(k) for k in ("object", "trial", "success", "reason", "bag")} for r in records]},
                indent=1))
            goal_handle.succeed()
            result.success, result.n_trials, result.successes = True, summary["n_trials"], summary["successes"]
            result.success_rate = float(summary["success_rate"] or 0.0)
            result.results_path = str(out / "results.json")
            result.message = f"{summary['successes']}/{summary['n_trials']} trials succeeded"
            return result
        except (ValueError, FileExistsError, RuntimeError, OSError) as exc:
            self.get_logger().error(f"/run_trials: {exc}")
            goal_handle.abort()
            result.message = str(exc)
            return result
        finally:
            self._busy.release()


def create_node(**parameters) -> TrialRunnerNode:
    return TrialRunnerNode(parameter_overrides=overrides(parameters))


def main(args=None) -> None:
    spin(TrialRunnerNode, num_threads=4, args=args)


if __name__ == "__main__":
    main()
