"""Simulated grasp trials of a model file, EGAD style: N trials per object, object re-dropped each time.

    python -m grasp_sim.trials --model PATH --objects {procedural,PATH} --trials-per-object N \
        --gripper {floating,widowx,kinova} --json OUT --report DIR

With ``--clutter K`` it instead drops K objects per scene and reports the PLGP bin-picking
measures: success rate (SR), percent cleared (PC) and the precision of the top-50 grasps (AP).

Each trial drops the object at a random pose (seeded by object and trial), renders the top-down
RGB-D camera (with the PLGP depth-noise model unless --no-depth-noise), runs the model's best grasp
through the camera intrinsics and extrinsics into the world, and executes it: approach, close,
lift 10 cm, hold; success if the object stays lifted. Prints a per-object table and writes the JSON,
an EGAD heatmap (letters A-G x digits 0-6) when the objects are EGAD's, a few grasp overlays, and
``trials.jsonl`` (a settings header, then one line per trial), which ``--resume`` continues after an
interruption; a resume with other settings (model, gripper, objects, seed, ...) is refused.

The protocol, its log and its report are :mod:`grasp_sim.protocol`, shared with the ROS trial
runner; this module supplies the simulated arena (:class:`SimTrialExecutor`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .camera import DepthNoise
from .objects import ObjectSpec, load_mesh_objects, procedural_objects
from .protocol import TrialLog, finish, run_protocol
from .scene import SimCell
from .arm_trial import GRIPPERS, make_cell, run_grasp
from .trial import image_grasp_to_world


def load_objects(objects: str, *, n_procedural: int = 10, seed: int = 1000,
                 max_extent_m: float = 0.06) -> list[ObjectSpec]:
    """``procedural`` (a seeded pool, different from the training pool by default) or a mesh folder."""
    if objects == "procedural":
        return procedural_objects(n_procedural, seed=seed)
    path = Path(objects)
    if not path.is_dir():
        raise FileNotFoundError(f"--objects must be 'procedural' or a folder of meshes; {path} is neither")
    specs = load_mesh_objects(path, max_extent_m=max_extent_m)
    if not specs:
        raise ValueError(f"--objects {path}: no loadable .obj/.stl meshes found")
    return specs


def make_predictor(model: str, random_weights: int | None = None, backend: str = "torch", precision: str = "fp32"):
    """A GraspPredictor for the model file; with ``random_weights`` the same network, untrained (a floor)."""
    from grasp_perception.inference import GraspPredictor
    from grasp_perception.model_io import build_from_card, load_card

    if random_weights is None:
        return GraspPredictor(model, device="cpu", backend=backend, precision=precision)
    torch.manual_seed(random_weights)
    card = load_card(model)
    return GraspPredictor((build_from_card(card).eval(), card), device="cpu", backend=backend, precision=precision)


def make_trial_cell(objects: list[ObjectSpec], gripper: str, depth_noise: bool, seed: int) -> SimCell:
    return make_cell(objects, gripper, seed=seed,
                     depth_noise=DepthNoise(enabled=True, seed=seed) if depth_noise else None)


def trial_seed(seed: int, obj: int, trial: int) -> int:
    return int(np.random.SeedSequence([seed, obj, trial]).generate_state(1)[0])


def world_grasp(obs, g):
    """The world pose of image grasp ``g`` seen in observation ``obs`` (ValueError if it has none)."""
    return image_grasp_to_world(g.u, g.v, g.angle, g.width, obs.depth, obs.intrinsics, obs.camera_pose)


class SimTrialExecutor:
    """The protocol's TrialExecutor in simulation: reset re-drops the object, attempt grasps it.

    After each attempt, ``last`` holds the observation and prediction (for overlays).
    """

    def __init__(self, cell: SimCell, predictor, gripper: str, seed: int):
        self.cell, self.predictor, self.gripper, self.seed = cell, predictor, gripper, seed
        self.last: dict = {}
        self._reset_ms = float("nan")

    def reset(self, object_index: int, trial: int) -> None:
        """Drop object ``object_index`` at a random pose seeded by (seed, object, trial)."""
        t0 = time.perf_counter()
        self.cell.reset(object_index, seed=trial_seed(self.seed, object_index, trial))
        self._reset_ms = 1e3 * (time.perf_counter() - t0)

    def attempt(self, object_index: int, trial: int) -> dict:
        """Render, predict the best grasp, map it into the world and execute it."""
        cell = self.cell
        t1 = time.perf_counter()
        obs = cell.render()
        t2 = time.perf_counter()
        pred = self.predictor.predict(obs.depth, rgb=obs.rgb, top_k=1)
        t3 = time.perf_counter()
        record = {"success": False}
        if not pred.grasps:
            record["reason"] = "no grasp predicted"
        else:
            g = pred.grasps[0]
            record.update(u=g.u, v=g.v, angle=g.angle, width_px=g.width, quality=g.quality)
            try:
                world = world_grasp(obs, g)
            except ValueError as exc:
                record["reason"] = f"invalid grasp: {exc}"
            else:
                result = run_grasp(cell, world, self.gripper)
                record.update(success=bool(result.success), reason=result.reason, lift_m=result.lift_height,
                              position=list(world.position), yaw=world.yaw, width_m=world.width_m)
        t4 = time.perf_counter()
        record["ms"] = {"reset": self._reset_ms, "render": 1e3 * (t2 - t1), "inference": 1e3 * (t3 - t2),
                        "grasp": 1e3 * (t4 - t3)}
        self.last = {"obs": obs, "pred": pred}
        return record


def _grasp_from_prediction(cell: SimCell, obs, g, gripper: str):
    """Execute image grasp ``g``; returns the TrialResult, or None when it has no world pose."""
    try:
        world = world_grasp(obs, g)
    except ValueError:
        return None
    return run_grasp(cell, world, gripper)


def run_clutter_scene(cell: SimCell, predictor, scene: int, *, n_objects: int, gripper: str, seed: int,
                      max_failures: int = 5, ap_top_k: int = 50) -> dict:
    """PLGP's bin-picking measures on one cluttered scene.

    AP: the top-``ap_top_k`` grasps of the first image are each tried from the same initial state;
    AP is the fraction that lift an object (missing predictions count as failures).
    SR / PC: pick with the first-ranked grasp, removing each lifted object, until the scene is
    empty or ``max_failures`` grasps in a row fail; SR = successes / attempts, PC = lifted / objects.
    """
    rng = np.random.default_rng([seed, scene])
    chosen = sorted(rng.choice(len(cell.objects), size=n_objects, replace=False).tolist())
    cell.reset(chosen, seed=trial_seed(seed, 10_000, scene))
    start = cell.snapshot()
    obs = cell.render()
    ranked = predictor.predict(obs.depth, rgb=obs.rgb, top_k=ap_top_k).grasps
    ap_hits = 0
    for g in ranked:
        cell.restore(start)
        result = _grasp_from_prediction(cell, obs, g, gripper)
        ap_hits += int(bool(result and result.success))
    cell.restore(start)
    attempts = picked = failures_in_row = 0
    while cell.active and failures_in_row < max_failures:
        cell.park_gripper()
        obs = cell.render()
        pred = predictor.predict(obs.depth, rgb=obs.rgb, top_k=1).grasps
        attempts += 1
        result = _grasp_from_prediction(cell, obs, pred[0], gripper) if pred else None
        if result and result.success and result.object_index in cell.active:
            picked += 1
            failures_in_row = 0
            cell.remove_object(result.object_index)
        else:
            failures_in_row += 1
    return {"scene": scene, "objects": [cell.objects[i].name for i in chosen], "attempts": attempts,
            "picked": picked, "sr": picked / attempts if attempts else 0.0, "pc": picked / n_objects,
            "ap": ap_hits / ap_top_k, "ap_top_k": ap_top_k}


def run_clutter(args, objects: list[ObjectSpec], predictor, log: TrialLog) -> dict:
    if not 1 <= args.clutter <= len(objects):
        raise ValueError(f"--clutter must be between 1 and the pool size {len(objects)}, got {args.clutter}")
    cell = make_trial_cell(objects, args.gripper, not args.no_depth_noise, args.seed)
    try:
        todo = [s for s in range(args.scenes) if s not in log]  # --resume: skip the scenes finished before
        for scene in tqdm(todo, desc="scenes", unit="scene", disable=args.no_progress):
            log.append(run_clutter_scene(cell, predictor, scene, n_objects=args.clutter, gripper=args.gripper,
                                         seed=args.seed, max_failures=args.max_failures, ap_top_k=args.ap_top_k))
    finally:
        cell.close()
    scenes = sorted((r for r in log.records().values() if r["scene"] < args.scenes), key=lambda r: r["scene"])
    summary = {"mode": "clutter", "objects_per_scene": args.clutter, "n_scenes": len(scenes),
               **{k.upper(): float(np.mean([r[k] for r in scenes])) for k in ("sr", "pc", "ap")},
               "ap_top_k": args.ap_top_k, "max_failures": args.max_failures, "scenes": scenes}
    print(f"{len(scenes)} scenes of {args.clutter} objects: SR {100 * summary['SR']:.1f} %, "
          f"PC {100 * summary['PC']:.1f} %, AP@{args.ap_top_k} {100 * summary['AP']:.1f} %")
    return summary


def run_settings(args, names: list[str], model_name: str) -> dict:
    """What a resumed run must share with the logged one (the log's header)."""
    def where(p: str) -> str:
        return str(Path(p).resolve()) if Path(p).exists() else str(p)

    procedural = args.objects == "procedural"
    settings = {"model": where(str(args.model)), "model_name": model_name, "random_weights": args.random_weights,
                "gripper": args.gripper, "objects": args.objects if procedural else where(args.objects),
                "object_names": names, "depth_noise": not args.no_depth_noise, "seed": args.seed,
                "backend": args.backend, "precision": args.precision}
    if procedural:
        settings.update(n_objects=args.n_objects, objects_seed=args.objects_seed)
    else:
        settings["max_extent"] = args.max_extent
    if args.clutter:
        settings.update(clutter=args.clutter, scenes=args.scenes, max_failures=args.max_failures,
                        ap_top_k=args.ap_top_k)
    else:
        settings["trials_per_object"] = args.trials_per_object
    return settings


def run(args) -> dict:
    report = Path(args.report)
    objects = load_objects(args.objects, n_procedural=args.n_objects, seed=args.objects_seed,
                           max_extent_m=args.max_extent)
    names = [o.name for o in objects]
    predictor = make_predictor(args.model, args.random_weights, args.backend, args.precision)
    settings = run_settings(args, names, predictor.card.name)
    if args.clutter:
        log = TrialLog.open(report / "clutter.jsonl", settings, args.resume, key=lambda r: r["scene"],
                            may_change=("scenes",))
        summary = run_clutter(args, objects, predictor, log)
        summary.update({"model": str(args.model), "model_name": predictor.card.name, "gripper": args.gripper,
                        "objects": args.objects, "random_weights": args.random_weights,
                        "depth_noise": not args.no_depth_noise, "seed": args.seed})
        out = Path(args.json) if args.json else report / "results.json"
        out.write_text(json.dumps(summary, indent=1))
        print(f"report: {report} (results {out})")
        return summary
    log = TrialLog.open(report / "trials.jsonl", settings, args.resume)
    floor = " (random weights)" if args.random_weights is not None else ""
    print(f"{len(objects)} objects x {args.trials_per_object} trials, gripper {args.gripper}, "
          f"model {predictor.card.name}{floor}, "
          f"depth noise {'off' if args.no_depth_noise else 'on'}; {len(log)} trials already done", flush=True)
    from grasp_perception.visualise import overlay_figure, write_image

    cell = make_trial_cell(objects, args.gripper, not args.no_depth_noise, args.seed)
    executor = SimTrialExecutor(cell, predictor, args.gripper, args.seed)
    overlays = []

    def overlay(done: int, total: int, record: dict) -> None:  # the first trial of each object, a few
        if record["trial"] == 0 and len(overlays) < args.max_overlays:
            obs, pred = executor.last["obs"], executor.last["pred"]
            fig = overlay_figure(obs.rgb, obs.depth, pred.grasps)
            overlays.append(write_image(report / "overlays" / f"{record['object']}.png", fig))

    try:
        records = run_protocol(executor, names, args.trials_per_object, log, on_trial=overlay,
                               progress=not args.no_progress)
    finally:
        cell.close()
    summary = finish(records, names, report, title=lambda s: (
        f"{predictor.card.name}{floor}: {100 * s['success_rate']:.1f} % over {s['n_trials']} trials "
        f"({args.gripper})"))
    heatmap = summary.pop("heatmap", None)
    summary.update({"model": str(args.model), "model_name": predictor.card.name,
                    "random_weights": args.random_weights, "objects": args.objects, "gripper": args.gripper,
                    "trials_per_object": args.trials_per_object, "depth_noise": not args.no_depth_noise,
                    "seed": args.seed, "backend": args.backend, "precision": args.precision})
    if heatmap:
        summary["heatmap"] = heatmap
    out = Path(args.json) if args.json else report / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    print(f"report: {report} (results {out}{', heatmap ' + summary['heatmap'] if 'heatmap' in summary else ''})")
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model directory (card.yaml + model.safetensors)")
    p.add_argument("--objects", default="procedural", help="'procedural' or a folder of .obj/.stl meshes")
    p.add_argument("--trials-per-object", type=int, default=10)
    p.add_argument("--gripper", default="floating", choices=GRIPPERS)
    p.add_argument("--json", help="results file (default: REPORT/results.json)")
    p.add_argument("--report", default="runs/trials", help="folder for the log, heatmap and overlays")
    p.add_argument("--n-objects", type=int, default=10, help="procedural objects in the pool")
    p.add_argument("--objects-seed", type=int, default=1000,
                   help="seed of the procedural pool (training data uses another)")
    p.add_argument("--max-extent", type=float, default=0.06, help="meshes are scaled to this size (m)")
    p.add_argument("--seed", type=int, default=0, help="seeds drop poses and depth noise")
    p.add_argument("--no-depth-noise", action="store_true", help="perfect depth instead of the PLGP noise model")
    p.add_argument("--backend", default="torch", help="inference runtime: torch, onnxruntime, openvino")
    p.add_argument("--precision", default="fp32", help="fp32, bf16 or int8 (see grasp_perception.backends)")
    p.add_argument("--random-weights", type=int, default=None, metavar="SEED",
                   help="ignore the trained weights: same network, random init (a floor to compare with)")
    p.add_argument("--clutter", type=int, default=0, metavar="K",
                   help="cluttered scenes of K objects: PLGP's SR, PC and AP instead of per-object trials")
    p.add_argument("--scenes", type=int, default=10, help="cluttered scenes to run (with --clutter)")
    p.add_argument("--max-failures", type=int, default=5, help="clutter: stop a scene after this many failures in a row")
    p.add_argument("--ap-top-k", type=int, default=50, help="clutter: AP over the top-k grasps of the first image")
    p.add_argument("--resume", action="store_true", help="continue the trials logged in REPORT/trials.jsonl")
    p.add_argument("--max-overlays", type=int, default=12)
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from grasp_perception.backends import BackendUnavailable
    args = build_parser().parse_args(argv)
    if args.trials_per_object < 1:
        print("error: --trials-per-object must be >= 1", file=sys.stderr)
        return 2
    try:
        run(args)
    except (FileExistsError, FileNotFoundError, ValueError, BackendUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the finished trials are logged; --resume runs the rest
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
