"""GraspNet-1Billion's analytic AP of models on the benchmark's cluttered scenes, without executing anything.

    python -m grasp_sim.graspnet_eval --model models/default [--model M2 ...] [--scenes 10] [--sizes 5 15]

Each scene is the clutter benchmark's (pool size and objects seed of ``config/eval/sim_benchmark.yaml``, not
filtered for what fits the gripper; its viewpoint and drop seeds; the sim settings' friction), scored on its first image as the benchmark scores it
(:func:`grasp_sim.sim_trials.graspnet_scene`, ``protocol.clutter.graspnet_ap``): image models through their
dense top candidates lifted to 6-DoF, point-cloud models through their own 6-DoF grasps. It prints (and with
``--out`` writes) a Markdown table: AP / AP0.8 / AP0.4 in %, the grasps left after NMS, CPU s per scene.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .benchmark import load_matrix
from .metrics import graspnet_measures
from .objects import procedural_objects
from .seeds import DROP, VIEW, scene_seed
from .settings import load_sim_settings
from .sim_trials import graspnet_scene, make_predictor, make_trial_cell, set_viewpoint


def evaluate(model: str, sizes=(5, 15), scenes: int = 10, seed: int = 0, gripper: str = "floating",
             progress: bool = True) -> list[dict]:
    settings = load_sim_settings()
    clutter = load_matrix().clutter
    objects = procedural_objects(clutter.pool, seed=clutter.objects_seed, settings=settings)
    cell = make_trial_cell(objects, gripper, settings, seed=seed)
    predictor = make_predictor(model)
    rows = []
    try:
        for n in sizes:
            records, kept, t0 = [], [], time.perf_counter()
            for scene in tqdm(range(scenes), desc=f"{predictor.card.name}, {n} objects", unit="scene",
                              disable=not progress):
                rng = np.random.default_rng([seed, scene])  # the objects run_clutter_scene draws
                chosen = sorted(rng.choice(len(objects), size=n, replace=False).tolist())
                set_viewpoint(cell, scene_seed(seed, scene, VIEW, retry=0))
                cell.reset(chosen, seed=scene_seed(seed, scene, DROP, retry=0))
                g = graspnet_scene(cell, cell.render(), predictor, gripper)
                records.append({"graspnet": g})
                kept.append(len(g["required_mu"]))
            m = graspnet_measures(records)
            rows.append({"model": predictor.card.name, "objects": n, "scenes": scenes, "AP": 100 * m["GN_AP"],
                         "AP0.8": 100 * m["GN_AP_0.8"], "AP0.4": 100 * m["GN_AP_0.4"],
                         "after_nms": float(np.mean(kept)), "s_per_scene": (time.perf_counter() - t0) / scenes})
    finally:
        cell.close()
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | objects | scenes | AP | AP0.8 | AP0.4 | grasps after NMS | CPU s / scene |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| `{r['model']}` | {r['objects']} | {r['scenes']} | {r['AP']:.2f} | {r['AP0.8']:.2f} | {r['AP0.4']:.2f} "
              f"| {r['after_nms']:.1f} | {r['s_per_scene']:.1f} |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grasp_sim.graspnet_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, help="a model folder (repeat for several)")
    p.add_argument("--sizes", type=int, nargs="+", default=[5, 15], help="objects per scene")
    p.add_argument("--scenes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    rows = [r for m in a.model for r in evaluate(m, a.sizes, a.scenes, a.seed, progress=not a.no_progress)]
    text = (f"GraspNet AP (%) on the first image of each clutter benchmark scene, realistic profile, seed {a.seed}, "
            f"floating gripper geometry\n\n{table(rows)}\n")
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
