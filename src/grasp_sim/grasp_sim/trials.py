"""Simulated grasp trials of a model file, EGAD style: N trials per object, object re-dropped each time.

    python -m grasp_sim.trials --model PATH --objects {procedural,PATH} --trials-per-object N \
        --gripper {floating,widowx,kinova} --sim-config {realistic,easy,PATH} --friction 0.2,0.4,0.6,0.8,1.0 \
        --json OUT --report DIR

The cell (contact model, friction, grip force, camera noise, hand-eye error, lift/hold/transport and
the success rule) is ``--sim-config`` (default ``config/sim/realistic.yaml``; ``easy`` is the behaviour
before issue 10). The protocol runs once per contact friction mu of ``protocol.friction`` (or
``--friction``; ``none`` = the objects' own mu) and reports every measure per mu and averaged over mu
(PLGP's average), in REPORT/results.json and REPORT/results.md; each mu has its own folder
``REPORT/mu_<mu>/`` (log, heatmap). Meshes are used at their file's size unless the settings (or
``--max-extent``) shrink them; objects that cannot fit the gripper are listed under "does not fit"
(not tried, not counted as failures).

With ``--clutter K`` it instead drops K objects per scene and reports the PLGP bin-picking
measures: success rate (SR), percent cleared (PC) and the precision of the top-50 grasps (AP).

Each trial drops the object at a random pose (seeded by object and trial), renders the top-down
RGB-D camera (with the settings' depth-noise model unless --no-depth-noise), runs the model's best grasp
through the camera intrinsics and the calibrated extrinsics (with the settings' hand-eye error) into the
world, finds its approach depth with the label search (``protocol.approach_depth``), and executes it:
approach, close with the gripper's force model, lift, hold, transport and shake; success by
``protocol.success``. Prints a per-object table and writes the JSON,
an EGAD heatmap (letters A-G x digits 0-6) when the objects are EGAD's, a few grasp overlays, and
``trials.jsonl`` (a settings header, then one line per trial), which ``--resume`` continues after an
interruption; a resume with other settings (model, gripper, objects, seed, ...) is refused.

The protocol, its log and its report are :mod:`grasp_sim.protocol`, shared with the ROS trial
runner; this module supplies the simulated arena (:class:`SimTrialExecutor`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .arm_trial import GRIPPERS, make_cell, run_grasp
from .camera import DepthNoise, perturbed_pose
from .label_depth import label_approach_depth, label_gripper
from .objects import _FROM_SETTINGS, ObjectSpec, load_mesh_objects, procedural_objects
from .protocol import TrialLog, finish, run_protocol
from .scene import SimCell
from .settings import SimSettings, load_sim_settings
from .trial import image_grasp_to_world


def gripper_max_opening(settings: SimSettings, gripper: str) -> float:
    if gripper == "floating":
        return settings.grippers.floating.max_opening
    from .robots import get_arm
    return get_arm(gripper).gripper_max_width


def load_objects(objects: str, settings: SimSettings, gripper: str = "floating", *, n_procedural: int = 10,
                 seed: int = 1000, max_extent_m=_FROM_SETTINGS) -> tuple[list[ObjectSpec], list[dict]]:
    """(objects that fit ``gripper``, those that do not fit it): ``procedural`` (a seeded pool, different from
    the training pool by default) or a mesh folder, sized by ``physics.mesh_max_extent`` (None: the file's
    size) unless ``max_extent_m`` is given."""
    limit = settings.grippers.fit_ratio * gripper_max_opening(settings, gripper)
    if objects == "procedural":
        pool = procedural_objects(n_procedural, seed=seed, settings=settings)
        fits = [o.can_fit(limit, 1.0) for o in pool]
        unfit = [{"name": o.name, "file": None, "extents_m": [round(float(e), 4) for e in o.extents()],
                  "limit_m": round(limit, 4)} for o, ok in zip(pool, fits) if not ok]
        return [o for o, ok in zip(pool, fits) if ok], unfit
    path = Path(objects)
    if not path.is_dir():
        raise FileNotFoundError(f"--objects must be 'procedural' or a folder of meshes; {path} is neither")
    unfit: list[dict] = []
    specs = load_mesh_objects(path, settings=settings, max_extent_m=max_extent_m, does_not_fit=unfit,
                              max_opening=gripper_max_opening(settings, gripper))
    if not specs and not unfit:
        raise ValueError(f"--objects {path}: no loadable .obj/.stl meshes found")
    return specs, unfit


def make_predictor(model: str, random_weights: int | None = None, backend: str = "torch", precision: str = "fp32"):
    """A GraspPredictor for the model file; with ``random_weights`` the same network, untrained (a floor)."""
    from grasp_perception.inference import GraspPredictor
    from grasp_perception.model_io import build_from_card, load_card

    if random_weights is None:
        return GraspPredictor(model, device="cpu", backend=backend, precision=precision)
    torch.manual_seed(random_weights)
    card = load_card(model)
    return GraspPredictor((build_from_card(card).eval(), card), device="cpu", backend=backend, precision=precision)


def make_trial_cell(objects: list[ObjectSpec], gripper: str, settings: SimSettings, seed: int) -> SimCell:
    """The trials' cell: ``gripper``, ``settings``, the settings' depth noise (if enabled)."""
    noise = settings.camera.depth_noise
    return make_cell(objects, gripper, seed=seed, settings=settings,
                     depth_noise=DepthNoise.from_settings(noise, seed) if noise.enabled else None)


def trial_seed(seed: int, obj: int, trial: int) -> int:
    return int(np.random.SeedSequence([seed, obj, trial]).generate_state(1)[0])


def world_grasp(obs, g, camera_pose: np.ndarray | None = None):
    """The world pose of image grasp ``g`` seen in observation ``obs`` (ValueError if it has none), mapped
    with ``camera_pose`` (the calibration the robot believes; default the exact pose)."""
    pose = obs.camera_pose if camera_pose is None else camera_pose
    return image_grasp_to_world(g.u, g.v, g.angle, g.width, obs.depth, obs.intrinsics, pose)


def calibrated_camera_pose(cell: SimCell, obs, seed: int) -> np.ndarray:
    """The camera pose the robot believes: the true one with the settings' hand-eye error (seeded)."""
    he = cell.settings.camera.hand_eye
    return perturbed_pose(obs.camera_pose, he.translation_sigma, he.rotation_sigma_deg, np.random.default_rng(seed))


def planned_grasp(cell: SimCell, obs, g, gripper: str, seed: int):
    """(world GraspPose with its approach depth, how the depth was chosen) for image grasp ``g``.

    ``protocol.approach_depth: label`` runs the label search at the grasp's pixel on the observed depth
    with ``gripper``'s geometry (:func:`grasp_sim.label_depth.label_approach_depth`); a grasp the search
    rejects, and ``fixed``, get ``protocol.default_grasp_depth``. Raises ValueError for a grasp without
    a world pose."""
    world = world_grasp(obs, g, calibrated_camera_pose(cell, obs, seed))
    if cell.settings.protocol.approach_depth != "label":
        return world, "fixed"
    depth, flags = label_approach_depth(obs.depth, obs.intrinsics, g.u, g.v, g.angle,
                                        label_gripper(cell.settings, gripper))
    if depth is None:
        return world, f"default (label search rejects it: flags {flags})"
    return dataclasses.replace(world, depth_m=depth), "label"


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
        """Render, predict the best grasp, map it into the world (calibration error, label depth), execute it."""
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
                world, depth_source = planned_grasp(cell, obs, g, self.gripper,
                                                    trial_seed(self.seed, object_index, trial) + 3)
            except ValueError as exc:
                record["reason"] = f"invalid grasp: {exc}"
            else:
                result = run_grasp(cell, world, self.gripper)
                record.update(success=bool(result.success), reason=result.reason, lift_m=result.lift_height,
                              position=list(world.position), yaw=world.yaw, width_m=world.width_m,
                              depth_m=world.depth_m, depth_source=depth_source, fingertip_z=result.fingertip_z)
        record["contact_mu"] = cell.contact_mu
        t4 = time.perf_counter()
        record["ms"] = {"reset": self._reset_ms, "render": 1e3 * (t2 - t1), "inference": 1e3 * (t3 - t2),
                        "grasp": 1e3 * (t4 - t3)}
        self.last = {"obs": obs, "pred": pred}
        return record


def _grasp_from_prediction(cell: SimCell, obs, g, gripper: str, seed: int):
    """Execute image grasp ``g``; returns the TrialResult, or None when it has no world pose."""
    try:
        world, _ = planned_grasp(cell, obs, g, gripper, seed)
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
        result = _grasp_from_prediction(cell, obs, g, gripper, trial_seed(seed, 20_000 + scene, len(ranked)))
        ap_hits += int(bool(result and result.success))
    cell.restore(start)
    attempts = picked = failures_in_row = 0
    while cell.active and failures_in_row < max_failures:
        cell.park_gripper()
        obs = cell.render()
        pred = predictor.predict(obs.depth, rgb=obs.rgb, top_k=1).grasps
        attempts += 1
        result = (_grasp_from_prediction(cell, obs, pred[0], gripper, trial_seed(seed, 30_000 + scene, attempts))
                  if pred else None)
        if result and result.success and result.object_index in cell.active:
            picked += 1
            failures_in_row = 0
            cell.remove_object(result.object_index)
        else:
            failures_in_row += 1
    return {"scene": scene, "objects": [cell.objects[i].name for i in chosen], "attempts": attempts,
            "picked": picked, "sr": picked / attempts if attempts else 0.0, "pc": picked / n_objects,
            "ap": ap_hits / ap_top_k, "ap_top_k": ap_top_k}


def run_clutter(args, cell: SimCell, predictor, log: TrialLog) -> dict:
    if not 1 <= args.clutter <= len(cell.objects):
        raise ValueError(f"--clutter must be between 1 and the pool size {len(cell.objects)}, got {args.clutter}")
    todo = [s for s in range(args.scenes) if s not in log]  # --resume: skip the scenes finished before
    for scene in tqdm(todo, desc="scenes", unit="scene", disable=args.no_progress):
        log.append(run_clutter_scene(cell, predictor, scene, n_objects=args.clutter, gripper=args.gripper,
                                     seed=args.seed, max_failures=args.max_failures, ap_top_k=args.ap_top_k))
    scenes = sorted((r for r in log.records().values() if r["scene"] < args.scenes), key=lambda r: r["scene"])
    summary = {"mode": "clutter", "objects_per_scene": args.clutter, "n_scenes": len(scenes),
               **{k.upper(): float(np.mean([r[k] for r in scenes])) for k in ("sr", "pc", "ap")},
               "ap_top_k": args.ap_top_k, "max_failures": args.max_failures, "scenes": scenes}
    print(f"{_mu_label(cell.contact_mu)}: {len(scenes)} scenes of {args.clutter} objects: "
          f"SR {100 * summary['SR']:.1f} %, "
          f"PC {100 * summary['PC']:.1f} %, AP@{args.ap_top_k} {100 * summary['AP']:.1f} %")
    return summary


def run_settings(args, names: list[str], model_name: str, settings: SimSettings, mu: float | None) -> dict:
    """What a resumed run must share with the logged one (the log's header)."""
    def where(p: str) -> str:
        return str(Path(p).resolve()) if Path(p).exists() else str(p)

    procedural = args.objects == "procedural"
    out = {"model": where(str(args.model)), "model_name": model_name, "random_weights": args.random_weights,
           "gripper": args.gripper, "objects": args.objects if procedural else where(args.objects),
           "object_names": names, "seed": args.seed, "backend": args.backend, "precision": args.precision,
           "sim_config": settings.source, "sim_settings": _run_sim_settings(settings), "contact_mu": mu}
    if procedural:
        out.update(n_objects=args.n_objects, objects_seed=args.objects_seed)
    if args.clutter:
        out.update(clutter=args.clutter, scenes=args.scenes, max_failures=args.max_failures,
                   ap_top_k=args.ap_top_k)
    else:
        out["trials_per_object"] = settings.protocol.trials_per_object
    return out


def _run_sim_settings(settings: SimSettings) -> dict:
    """The settings that define a run's trials (the sweep and trial count are the run's own keys)."""
    d = settings.to_dict()
    d["protocol"] = {k: v for k, v in d["protocol"].items() if k not in ("friction", "trials_per_object")}
    return d


def _mu_label(mu: float | None) -> str:
    return "objects' own mu" if mu is None else f"mu {mu:g}"


def _mu_key(mu: float | None) -> str:
    return "own" if mu is None else f"{mu:g}"


def settings_for_run(args) -> SimSettings:
    """``--sim-config`` with the command line's overrides (--friction, --trials-per-object, --no-depth-noise)."""
    s = load_sim_settings(args.sim_config)
    protocol, camera = s.protocol, s.camera
    if args.friction is not None:
        protocol = dataclasses.replace(protocol, friction=args.friction)
    if args.trials_per_object is not None:
        protocol = dataclasses.replace(protocol, trials_per_object=args.trials_per_object)
    if args.no_depth_noise:
        camera = dataclasses.replace(camera, depth_noise=dataclasses.replace(camera.depth_noise, enabled=False))
    return s.replace(protocol=protocol, camera=camera)


def average_over_friction(per_mu: dict[str, dict], names: list[str]) -> dict:
    """PLGP's average over the friction sweep: each rate is the mean of the per-mu rates; counts are summed."""
    rates = [s["success_rate"] for s in per_mu.values() if s["success_rate"] is not None]
    per_object = {}
    for n in names:
        rs = [s["per_object"][n]["rate"] for s in per_mu.values() if s["per_object"][n]["rate"] is not None]
        per_object[n] = {"successes": sum(s["per_object"][n]["successes"] for s in per_mu.values()),
                         "attempts": sum(s["per_object"][n]["attempts"] for s in per_mu.values()),
                         "rate": float(np.mean(rs)) if rs else None}
    return {"per_object": per_object, "n_trials": sum(s["n_trials"] for s in per_mu.values()),
            "successes": sum(s["successes"] for s in per_mu.values()),
            "success_rate": float(np.mean(rates)) if rates else None}


def write_markdown(path: Path, summary: dict) -> Path:
    """results.md: one row per contact mu and the average, then the objects that do not fit."""
    lines = [f"# {summary['model_name']} on {summary['objects']} ({summary['gripper']}, {summary['sim_config']})", ""]
    if summary.get("mode") == "clutter":
        lines += ["| contact mu | scenes | SR | PC | AP |", "|---|---|---|---|---|"]
        for k, s in summary["per_friction"].items():
            lines.append(f"| {k} | {s['n_scenes']} | {100 * s['SR']:.1f} % | {100 * s['PC']:.1f} % | "
                         f"{100 * s['AP']:.1f} % |")
        lines.append(f"| **average** | | **{100 * summary['SR']:.1f} %** | **{100 * summary['PC']:.1f} %** | "
                     f"**{100 * summary['AP']:.1f} %** |")
    else:
        lines += ["| contact mu | trials | successes | success rate |", "|---|---|---|---|"]
        for k, s in summary["per_friction"].items():
            lines.append(f"| {k} | {s['n_trials']} | {s['successes']} | {100 * (s['success_rate'] or 0):.1f} % |")
        lines.append(f"| **average** | {summary['n_trials']} | {summary['successes']} | "
                     f"**{100 * (summary['success_rate'] or 0):.1f} %** |")
    unfit = summary.get("does_not_fit", [])
    lines += ["", f"Does not fit the {summary['gripper']} gripper (not tried, not counted): {len(unfit)}"]
    lines += [f"- {u['name']}: extents {u['extents_m']} m, middle > {u['limit_m']} m" for u in unfit]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args) -> dict:
    report = Path(args.report)
    settings = settings_for_run(args)
    objects, unfit = load_objects(args.objects, settings, args.gripper, n_procedural=args.n_objects,
                                  seed=args.objects_seed,
                                  max_extent_m=_FROM_SETTINGS if args.max_extent is None else args.max_extent)
    if unfit:
        print(f"does not fit the {args.gripper} gripper ({len(unfit)}, not tried): "
              + ", ".join(u["name"] for u in unfit))
    if not objects:
        raise ValueError(f"--objects {args.objects}: no object fits the {args.gripper} gripper")
    names = [o.name for o in objects]
    predictor = make_predictor(args.model, args.random_weights, args.backend, args.precision)
    sweep = list(settings.protocol.friction) or [None]
    floor = " (random weights)" if args.random_weights is not None else ""
    tpo = settings.protocol.trials_per_object
    print(f"{len(objects)} objects x {tpo if not args.clutter else 'clutter'} x {len(sweep)} friction "
          f"value(s) {[_mu_key(m) for m in sweep]}, gripper {args.gripper}, model {predictor.card.name}{floor}, "
          f"sim config {settings.source}", flush=True)
    cell = make_trial_cell(objects, args.gripper, settings, args.seed)
    per_mu: dict[str, dict] = {}
    try:
        for mu in sweep:
            sub = report if mu is None else report / f"mu_{mu:g}"
            cell.set_contact_friction(mu)
            header = run_settings(args, names, predictor.card.name, settings, mu)
            if args.clutter:
                log = TrialLog.open(sub / "clutter.jsonl", header, args.resume, key=lambda r: r["scene"],
                                    may_change=("scenes",))
                per_mu[_mu_key(mu)] = run_clutter(args, cell, predictor, log)
            else:
                per_mu[_mu_key(mu)] = _run_trials(args, cell, predictor, names, sub, header, floor)
    finally:
        cell.close()
    if args.clutter:
        means = {k: float(np.mean([s[k] for s in per_mu.values()])) for k in ("SR", "PC", "AP")}
        summary = {"mode": "clutter", **means,
                   "per_friction": per_mu}
    else:
        summary = {**average_over_friction(per_mu, names), "per_friction": per_mu, "trials_per_object": tpo}
        if len(per_mu) == 1:  # one run: its timings, failure reasons and heatmap at the top level too
            only = next(iter(per_mu.values()))
            summary.update({k: only[k] for k in ("mean_ms_per_trial", "failure_reasons", "heatmap") if k in only})
    summary.update({"model": str(args.model), "model_name": predictor.card.name, "gripper": args.gripper,
                    "objects": args.objects, "random_weights": args.random_weights,
                    "depth_noise": settings.camera.depth_noise.enabled, "seed": args.seed, "backend": args.backend,
                    "precision": args.precision, "sim_config": settings.source,
                    "friction": [m for m in sweep if m is not None], "does_not_fit": unfit,
                    "sim_settings": settings.to_dict()})
    if not args.clutter and len(sweep) > 1:
        print(f"average over mu {[_mu_key(m) for m in sweep]}: {100 * (summary['success_rate'] or 0):.1f} % "
              f"over {summary['n_trials']} trials")
    out = Path(args.json) if args.json else report / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    md = write_markdown(report / "results.md", summary)
    print(f"report: {report} (results {out}, {md.name})")
    return summary


def _run_trials(args, cell: SimCell, predictor, names: list[str], report: Path, header: dict, floor: str) -> dict:
    """The per-object protocol at the cell's current contact mu, logged in REPORT/trials.jsonl."""
    from grasp_perception.visualise import overlay_figure, write_image
    tpo = cell.settings.protocol.trials_per_object
    log = TrialLog.open(report / "trials.jsonl", header, args.resume)
    print(f"{_mu_label(cell.contact_mu)}: {len(log)} trials already done", flush=True)
    executor = SimTrialExecutor(cell, predictor, args.gripper, args.seed)
    overlays = []

    def overlay(done: int, total: int, record: dict) -> None:  # the first trial of each object, a few
        if record["trial"] == 0 and len(overlays) < args.max_overlays:
            obs, pred = executor.last["obs"], executor.last["pred"]
            fig = overlay_figure(obs.rgb, obs.depth, pred.grasps)
            overlays.append(write_image(report / "overlays" / f"{record['object']}.png", fig))

    records = run_protocol(executor, names, tpo, log, on_trial=overlay, progress=not args.no_progress)
    summary = finish(records, names, report, title=lambda s: (
        f"{predictor.card.name}{floor}: {100 * s['success_rate']:.1f} % over {s['n_trials']} trials "
        f"({args.gripper}, {_mu_label(cell.contact_mu)})"))
    summary["contact_mu"] = cell.contact_mu
    return summary


def _friction_list(text: str) -> list[float]:
    if text.strip().lower() in ("none", "own", ""):
        return []
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--friction must be comma-separated numbers or 'none', got {text!r}")
    if any(not v > 0 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--friction values must be distinct and > 0, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model directory (card.yaml + model.safetensors)")
    p.add_argument("--objects", default="procedural", help="'procedural' or a folder of .obj/.stl meshes")
    p.add_argument("--sim-config", default=None, metavar="PATH",
                   help="sim settings: a YAML file or a profile of config/sim (realistic, easy); default realistic")
    p.add_argument("--friction", type=_friction_list, default=None, metavar="MU,MU,...",
                   help="contact friction sweep (default protocol.friction of the sim config); 'none' = "
                        "the objects' own mu")
    p.add_argument("--trials-per-object", type=int, default=None,
                   help="default protocol.trials_per_object of the sim config")
    p.add_argument("--gripper", default="floating", choices=GRIPPERS)
    p.add_argument("--json", help="results file (default: REPORT/results.json)")
    p.add_argument("--report", default="runs/trials", help="folder for the logs, heatmaps, overlays and results.md")
    p.add_argument("--n-objects", type=int, default=10, help="procedural objects in the pool")
    p.add_argument("--objects-seed", type=int, default=1000,
                   help="seed of the procedural pool (training data uses another)")
    p.add_argument("--max-extent", type=float, default=None,
                   help="shrink meshes to this largest extent (m); default physics.mesh_max_extent (realistic: "
                        "the file's size)")
    p.add_argument("--seed", type=int, default=0, help="seeds drop poses, depth noise and hand-eye error")
    p.add_argument("--no-depth-noise", action="store_true", help="perfect depth instead of the settings' noise model")
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
    if args.trials_per_object is not None and args.trials_per_object < 1:
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
