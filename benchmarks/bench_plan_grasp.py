"""/plan_grasp over real DDS on the simulated cell: where its grasps land.

    source scripts/ros_env.sh && python benchmarks/bench_plan_grasp.py [--scenes 10]

For a top-down and a 25 deg tilted camera over N scenes (one procedural object each, PLGP depth noise):
the horizontal distance of the best grasp from the object's centre, the reprojection error of the
grasp position onto its planned pixel, and the angle between the grasp's approach and the camera's
optical axis. Results also go to runs/bench_plan_grasp.md. Latency, round trips and the continuous
rate are measured by ``python -m grasp_perception.benchmark``.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy

from grasp_interfaces.srv import PlanGrasp
from grasp_perception.geometry import invert_transform
from grasp_perception.nodes.conversions import pose_to_transform
from grasp_perception.benchmark_ros import sim_stack
from grasp_sim.cell_setup import CellSettings, base_T_camera, world_T_base


def call(executor, client):
    fut = client.call_async(PlanGrasp.Request(max_grasps=1))
    executor.spin_until_future_complete(fut, timeout_sec=10)
    return fut.result()


def in_process(args, tmp: Path, lines: list[str]) -> None:
    rows = []
    for tilt in (0.0, 25.0):
        settings = CellSettings(arm="widowx", n_objects=args.scenes, camera_tilt_deg=tilt)
        with sim_stack(settings, tmp) as (cam, per, client_node, client, cex):
            scene_errors(args, cam, settings, client, cex, rows, tilt)
    lines.append("")
    lines.append("| camera | scenes planned | grasp to object centre, mm (median / max) | reprojection px (max) | "
                 "approach vs optical axis, deg (max) |")
    lines.append("|---|---|---|---|---|")
    for tilt, n, d, r, a in rows:
        lines.append(f"| {'top-down' if tilt == 0 else f'tilted {tilt:.0f} deg'} | {n}/{args.scenes} | "
                     f"{statistics.median(d):.1f} / {max(d):.1f} | {max(r):.3f} | {max(a):.3f} |")


def scene_errors(args, cam, settings, client, cex, rows, tilt) -> None:
    """Best-grasp errors against the simulator's ground truth over ``args.scenes`` fresh scenes."""
    cell, K = cam.cell, cam.cell.intrinsics
    cam_T = base_T_camera(settings)
    dist, reproj, tilt_err = [], [], []
    for i in range(args.scenes):
        with cam.lock:
            cell.reset(i, seed=1000 + i)
        time.sleep(0.35)  # a fresh frame of the new scene
        res = call(cex, client)
        if res is None or not res.success:
            continue
        g = res.grasps[0]
        T = pose_to_transform(g.pose.pose)
        obj_base = invert_transform(world_T_base("widowx")) @ np.r_[cell.object_pose(i)[0], 1.0]
        dist.append(1e3 * float(np.hypot(*(T[:2, 3] - obj_base[:2]))))
        p_cam = invert_transform(cam_T) @ T[:, 3]
        uv = K.project(p_cam[:3])
        reproj.append(float(np.hypot(uv[0] - g.center_u, uv[1] - g.center_v)))
        optical = cam_T[:3, 2]
        tilt_err.append(math.degrees(math.acos(np.clip(T[:3, 2] @ optical, -1, 1))))
    rows.append((tilt, len(dist), dist, reproj, tilt_err))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=10)
    args = p.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init()
    lines = [f"# /plan_grasp on the simulated cell ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores)", "",
             "Default model, WidowX cell, procedural objects (pool seed 1000), PLGP depth noise, 640x480.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        in_process(args, Path(tmp), lines)
    rclpy.shutdown()
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path("runs/bench_plan_grasp.md")
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
