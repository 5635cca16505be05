"""Timing of the MuJoCo grasp cell (grasp_sim): render and physics costs per trial.

    python benchmarks/bench_sim.py [--trials 10] [--objects 8] [--egad N]

Prints median milliseconds for RGB, depth, segmentation and all-three renders at the cell's
640x480 camera, for reset+settle and for one grasp execution, plus the success rate of an
"oracle" grasp (centre and short side of each object's mask) on procedural objects and,
with --egad, on EGAD meshes (first run decomposes them with CoACD: minutes; cached afterwards).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import grasp_sim  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "src" / "grasp_sim"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from grasp_sim import (DepthNoise, SimCell, box_object, execute_grasp, image_grasp_to_world,  # noqa: E402
                       load_mesh_object, procedural_objects)
from grasp_sim.objects import default_cache_dir  # noqa: E402


def _ms(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(out)


def oracle_grasp(obs, label):
    """Mask centre, opening across the short side of the mask's min-area rectangle."""
    v, u = np.nonzero(obs.segmentation == label)
    if u.size < 10:
        return None
    corners = cv2.boxPoints(cv2.minAreaRect(np.stack([u, v], 1).astype(np.float32)))
    e1, e2 = corners[1] - corners[0], corners[2] - corners[1]
    short = e1 if np.linalg.norm(e1) < np.linalg.norm(e2) else e2
    # the mask centroid can miss non-convex objects: use the mask pixel nearest to it
    k = int(np.argmin((u - u.mean()) ** 2 + (v - v.mean()) ** 2))
    return image_grasp_to_world(float(u[k]), float(v[k]), math.atan2(-short[1], short[0]),
                                float(np.linalg.norm(short)), obs.depth, obs.intrinsics, obs.camera_pose)


def run_trials(cell, n_trials, label):
    reset_ms, grasp_ms, ok, reasons = [], [], 0, {}
    for t in range(n_trials):
        i = t % len(cell.objects)
        t0 = time.perf_counter()
        cell.reset(i, seed=t)
        reset_ms.append(1e3 * (time.perf_counter() - t0))
        g = oracle_grasp(cell.render(), i)
        if g is None or g.width_m > cell.gripper.max_opening:
            reasons["no usable oracle grasp"] = reasons.get("no usable oracle grasp", 0) + 1
            continue
        t0 = time.perf_counter()
        r = execute_grasp(cell, g)
        grasp_ms.append(1e3 * (time.perf_counter() - t0))
        ok += r.success
        key = r.reason.split(" (")[0]
        reasons[key] = reasons.get(key, 0) + 1
    print(f"[{label}] reset+settle {statistics.median(reset_ms):.1f} ms/trial (median), grasp execution "
          f"{statistics.median(grasp_ms) if grasp_ms else float('nan'):.1f} ms/trial, oracle success "
          f"{ok}/{n_trials}; outcomes {reasons}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--objects", type=int, default=12)
    ap.add_argument("--egad", type=int, default=0, metavar="N",
                    help="also run N EGAD meshes (spread over A0..G6) from ../shared/data/egad_eval_set")
    args = ap.parse_args()
    print(f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}, {os.cpu_count()} CPUs")

    with SimCell([box_object((0.04, 0.07, 0.03))] + procedural_objects(5, seed=0), seed=0) as cell:
        cell.reset([0, 1, 2, 3], seed=0)
        t0 = time.perf_counter()
        cell.render()
        print(f"first render (GL context + upload): {1e3 * (time.perf_counter() - t0):.0f} ms")
        n = 30
        print(f"render 640x480 median of {n}: "
              f"RGB {_ms(lambda: cell.render(True, False, False), n):.2f} ms, "
              f"depth {_ms(lambda: cell.render(False, True, False), n):.2f} ms, "
              f"seg {_ms(lambda: cell.render(False, False, True), n):.2f} ms, "
              f"RGB+depth (one pass) {_ms(lambda: cell.render(True, True, False), n):.2f} ms, "
              f"all three {_ms(lambda: cell.render(), n):.2f} ms")
        noise = DepthNoise(seed=0)
        depth = cell.render(False, True, False).depth
        print(f"PLGP depth noise on 640x480: {_ms(lambda: noise(depth), n):.2f} ms")
        t0 = time.perf_counter()
        steps = 2000
        cell.step(steps)
        print(f"physics: {steps / (time.perf_counter() - t0):.0f} steps/s with 4 resting objects "
              f"(timestep {cell.model.opt.timestep * 1e3:.0f} ms)")

    objs = procedural_objects(args.objects, seed=1)
    with SimCell(objs, seed=0) as cell:
        run_trials(cell, args.trials, f"procedural x{args.objects}")
    with SimCell(objs, seed=0, depth_noise=DepthNoise(seed=0)) as cell:
        run_trials(cell, args.trials, "procedural, noisy depth")

    if args.egad:
        egad = REPO.parent / "shared" / "data" / "egad_eval_set"
        if not egad.is_dir():
            print(f"EGAD skipped: {egad} not found")
            return
        files = sorted(egad.glob("*.obj"))
        files = [files[round(k)] for k in np.linspace(0, len(files) - 1, min(args.egad, len(files)))]
        meshes = []
        for f in files:
            t0 = time.perf_counter()
            meshes.append(load_mesh_object(f, max_extent_m=0.06))
            print(f"EGAD {f.name}: {len(meshes[-1].convex_parts)} convex parts, loaded in "
                  f"{time.perf_counter() - t0:.2f} s (CoACD unless cached in {default_cache_dir()})", flush=True)
        t0 = time.perf_counter()
        with SimCell(meshes, seed=0) as cell:
            print(f"EGAD cell compiled in {time.perf_counter() - t0:.2f} s ({cell.model.ngeom} geoms)")
            run_trials(cell, max(args.trials, len(meshes)), f"EGAD x{len(meshes)} (6 cm)")


if __name__ == "__main__":
    main()
