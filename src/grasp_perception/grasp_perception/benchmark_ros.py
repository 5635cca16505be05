"""The ROS 2 part of ``python -m grasp_perception.benchmark``: what ``/plan_grasp`` adds over the bare pipeline.

Runs the simulated camera (grasp_sim), the perception node and a client over real DDS:

- ``/plan_grasp`` round trip with all three in one process, paired per call with the time the plan itself
  took inside the node (the difference is what ROS adds: the request and response over DDS, the executor,
  the TF/calibration lookup and the message conversion);
- the round trip with the stack in another process (``python -m grasp_bringup.run widowx use_sim:=true``);
- continuous mode on a 30 Hz camera: frames received, frames planned, grasps published per second.
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

from grasp_interfaces.msg import Grasp
from grasp_interfaces.srv import PlanGrasp

BASE = "wx250s/base_link"


def _stats(xs: list[float]) -> dict:
    if not xs:
        return {"median": float("nan"), "p95": float("nan"), "n": 0}
    return {"median": round(statistics.median(xs), 2), "p95": round(float(np.percentile(xs, 95)), 2), "n": len(xs)}


def call_service(executor, client, n: int, server=None) -> tuple[list[float], list[float]]:
    """Round-trip ms of ``n`` successful calls and, with the in-process ``server`` node, what each call's
    plan itself took on the server (so their difference is the ROS cost under the same CPU load)."""
    times, plans = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        fut = client.call_async(PlanGrasp.Request(max_grasps=1))
        executor.spin_until_future_complete(fut, timeout_sec=10)
        if fut.result() is not None and fut.result().success:
            times.append(1e3 * (time.perf_counter() - t0))
            if server is not None:
                plans.append(server.last_timings_ms["total"])
    return times, plans


@contextmanager
def sim_stack(settings, tmp: Path, camera_hz: float = 10.0, **perception_params):
    """The simulated camera and the perception node spinning in this process, and a client node with its own
    executor: yields ``(camera, perception, client_node, plan_grasp_client, client_executor)`` once the
    service is up and a first frame is in."""
    from grasp_sim.cell_setup import CellSettings, sim_calibration
    from grasp_sim.nodes.sim_camera_node import create_node as sim_camera_node

    from .handeye import save_calibration
    from .nodes.perception_node import create_node as perception_node

    calib = save_calibration(tmp / f"sim_tilt{settings.camera_tilt_deg:g}.calib", sim_calibration(settings, BASE))
    cam = sim_camera_node(**{k: getattr(settings, k) for k in CellSettings.__dataclass_fields__},
                          base_frame=BASE, initial_objects=[0], rate_hz=camera_hz)
    per = perception_node(calibration=str(calib), base_frame=BASE, **perception_params)
    client_node = rclpy.create_node("benchmark_client")
    client = client_node.create_client(PlanGrasp, "/plan_grasp")
    ex = MultiThreadedExecutor(num_threads=4)
    for n in (cam, per):
        ex.add_node(n)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    cex = SingleThreadedExecutor()
    cex.add_node(client_node)
    try:
        client.wait_for_service(timeout_sec=20)
        deadline = time.monotonic() + 20
        while per._latest is None and time.monotonic() < deadline:
            time.sleep(0.05)
        yield cam, per, client_node, client, cex
    finally:
        per.continuous = False
        ex.shutdown()
        th.join(timeout=5)
        for n in (cam, per, client_node):
            n.destroy_node()


def in_process(calls: int, backend: str, precision: str, tmp: Path) -> dict:
    from grasp_sim.cell_setup import CellSettings

    out = {}
    # Round trips with the camera at 10 Hz (the configs' rate), continuous mode on a 30 Hz camera.
    for continuous, camera_hz in ((False, 10.0), (True, 30.0)):
        with sim_stack(CellSettings(arm="widowx"), tmp, camera_hz, continuous=continuous, backend=backend,
                       precision=precision, max_image_age_s=0.0) as (cam, per, client_node, client, cex):
            got = []
            client_node.create_subscription(Grasp, "/perception/grasp", got.append, 10)
            if continuous:
                got.clear()
                received0, planned0, t0 = per.frames_received, per.frames_planned, time.monotonic()
                while time.monotonic() - t0 < 5.0:
                    cex.spin_once(timeout_sec=0.05)
                dt = time.monotonic() - t0
                received, planned = per.frames_received - received0, per.frames_planned - planned0
                out["continuous"] = {"camera_hz": camera_hz, "seconds": round(dt, 1),
                                     "frames_received_per_s": round(received / dt, 1),
                                     "frames_planned_per_s": round(planned / dt, 1),
                                     "grasps_published_per_s": round(len(got) / dt, 1),
                                     "frames_dropped_fraction": round(1 - planned / max(received, 1), 3)}
            else:
                call_service(cex, client, 3)  # warm-up
                out["camera_hz_during_round_trips"] = camera_hz
                rtt, plans = call_service(cex, client, calls, server=per)
                out["plan_grasp_one_process_ms"] = _stats(rtt)
                out["plan_inside_those_calls_ms"] = _stats(plans)
                # Paired per call: both saw the same CPU load (the simulated camera renders on these cores).
                out["ros_overhead_ms"] = _stats([a - b for a, b in zip(rtt, plans)])
    return out


def across_processes(calls: int, backend: str, precision: str, tmp: Path) -> dict:
    cmd = [sys.executable, "-m", "grasp_bringup.run", "widowx", "use_sim:=true", f"output_dir:={tmp}",
           f"backend:={backend}", f"precision:={precision}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = rclpy.create_node("benchmark_client_x")
    try:
        client = node.create_client(PlanGrasp, "/plan_grasp")
        if not client.wait_for_service(timeout_sec=90):
            return {"skipped": "the stack in the other process did not offer /plan_grasp within 90 s"}
        ex = SingleThreadedExecutor()
        ex.add_node(node)
        call_service(ex, client, 3)
        return {"plan_grasp_across_processes_ms": _stats(call_service(ex, client, calls)[0]),
                "note": "the other process runs the widowx config (10 Hz simulated camera)"}
    finally:
        node.destroy_node()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(args) -> dict:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    backend, precision = args.ros_backend, args.ros_precision
    started = not rclpy.ok()
    if started:
        rclpy.init()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"ROS 2: /plan_grasp and continuous mode ({backend} {precision}) ...", flush=True)
            result = {"backend": backend, "precision": precision, **in_process(args.ros_calls, backend, precision, Path(tmp))}
            if not args.quick:
                result.update(across_processes(args.ros_calls, backend, precision, Path(tmp)))
    finally:
        if started:
            rclpy.shutdown()
    for key, value in result.items():
        print(f"  {key}: {value}", flush=True)
    return result
