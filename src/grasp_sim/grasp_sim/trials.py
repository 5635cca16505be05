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

With ``--clutter K`` it instead drops K objects per scene and reports PLGP's bin-picking measures as the
paper defines them (:mod:`grasp_sim.metrics`): success rate SR (successes over attempts, pooled), percent
cleared PC and AP (successes of the top 50 dense candidates, each tried from the initial scene).

Each trial drops the object at a random pose (seeded by object name and trial), renders the RGB-D
camera (from a random viewpoint per trial with ``camera.viewpoints.random``; with the settings'
depth-noise model unless --no-depth-noise), runs the model's best grasp (table levelled, as the perception
node does) through the camera intrinsics and the calibrated extrinsics (with the settings' hand-eye error)
into the world, finds its approach depth with the label search (``protocol.approach_depth``), and executes
it: approach along the camera axis (``protocol.approach``), close with the gripper's force model, lift,
hold, transport and shake; success by ``protocol.success``. Prints a per-object table and writes the JSON,
an EGAD heatmap (letters A-G x digits 0-6) when the objects are EGAD's, a few grasp overlays, and
``trials.jsonl`` (a settings header, then one line per trial), which ``--resume`` continues after an
interruption; a resume with other settings (model, gripper, objects, seed, ...) is refused.

An attempt whose physics broke (MuJoCo warnings, non-finite state) or whose scene never came to rest is
logged as invalid, re-run from a fresh drop (``protocol.invalid_retries``) and never counted; the tables
show how many there were.

The protocol, its log and its report are :mod:`grasp_sim.protocol`, shared with the ROS trial
runner; the simulated arena is :mod:`grasp_sim.sim_trials`, the measures :mod:`grasp_sim.metrics`.
This module is the command line and the report.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from tqdm import tqdm

from .cell import SimCell
from .executors import GRIPPERS, gripper_max_opening
from .metrics import GRASPNET_KEYS, average_clutter_over_friction, average_over_friction, clutter_measures
from .objects import FROM_SETTINGS, load_objects
from .protocol import TrialLog, finish, run_protocol
from .settings import SimSettings, load_sim_settings
from .sim_trials import SimTrialExecutor, make_predictor, make_trial_cell, run_clutter_scene


def run_clutter(args, cell: SimCell, predictor, log: TrialLog) -> dict:
    """Cluttered scenes at the cell's current mu, logged one line per scene (``--resume`` skips those done)."""
    if not 1 <= args.clutter <= len(cell.objects):
        raise ValueError(f"--clutter must be between 1 and the pool size {len(cell.objects)}, got {args.clutter}")
    todo = [s for s in range(args.scenes) if s not in log]
    for scene in tqdm(todo, desc="scenes", unit="scene", disable=args.no_progress):
        log.append(run_clutter_scene(cell, predictor, scene, n_objects=args.clutter, gripper=args.gripper,
                                     seed=args.seed))
    scenes = sorted((r for r in log.records().values() if r["scene"] < args.scenes), key=lambda r: r["scene"])
    cfg = cell.settings.protocol.clutter
    summary = {"mode": "clutter", "objects_per_scene": args.clutter, **clutter_measures(scenes),
               "ap_top_k": cfg.ap_top_k, "ap_candidates": cfg.ap_candidates, "max_failures": cfg.max_failures,
               "scenes": scenes}
    print(f"{_mu_label(cell.contact_mu)}: {summary['n_scenes']} scenes of {args.clutter} objects "
          f"({summary['n_invalid']} invalid): SR {format_percent(summary['SR'])} ({summary['picked']}/{summary['attempts']}), "
          f"PC {format_percent(summary['PC'])}, AP@{cfg.ap_top_k} {format_percent(summary['AP'])}, "
          f"GraspNet AP / AP0.8 / AP0.4 {graspnet_cell(summary)}")
    return summary


def format_percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def graspnet_cell(summary: dict) -> str:
    """GraspNet AP / AP0.8 / AP0.4 in % (the paper's scale), or "-" where the runs did not compute it."""
    values = [summary.get(k) for k in GRASPNET_KEYS]
    return "-" if all(v is None for v in values) else " / ".join("-" if v is None else f"{100 * v:.2f}" for v in values)


GRASPNET_NOTE = ("GraspNet AP: GraspNet-1Billion's analytic AP (sec. 3.4) of the first image of each scene, scored "
                 "on the object shapes without executing (grasp_sim/graspnet_ap.py says where it departs from the "
                 "paper). For scale only: the paper reports GG-CNN 15.48 and its own network 27.56 on real RealSense "
                 "scenes of seen objects.")


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
        out.update(clutter=args.clutter, scenes=args.scenes)
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
    """``--sim-config`` with the command line's overrides (--friction, --trials-per-object, --no-depth-noise,
    --camera-height, --resolution, the clutter protocol's --max-failures, --ap-top-k, --ap-candidates)."""
    s = load_sim_settings(args.sim_config)
    protocol, camera = s.protocol, s.camera
    if args.friction is not None:
        protocol = dataclasses.replace(protocol, friction=args.friction)
    if args.trials_per_object is not None:
        protocol = dataclasses.replace(protocol, trials_per_object=args.trials_per_object)
    clutter = {k: v for k, v in (("max_failures", args.max_failures), ("ap_top_k", args.ap_top_k),
                                 ("ap_candidates", args.ap_candidates)) if v is not None}
    if clutter:
        protocol = dataclasses.replace(protocol, clutter=dataclasses.replace(protocol.clutter, **clutter))
    if args.no_depth_noise:
        camera = dataclasses.replace(camera, depth_noise=dataclasses.replace(camera.depth_noise, enabled=False))
    if args.camera_height is not None:  # a camera set-up other than the profile's (and the training data's)
        if not args.camera_height > 0:
            raise ValueError(f"--camera-height must be > 0 m, got {args.camera_height}")
        camera = dataclasses.replace(camera, height=args.camera_height)
    if args.resolution is not None:
        camera = dataclasses.replace(camera, resolution=list(args.resolution))
    return s.replace(protocol=protocol, camera=camera)


def _resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--resolution must be WIDTHxHEIGHT in pixels, e.g. 1280x720, got {text!r}")
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"--resolution must be at least 16x16, got {text!r}")
    return w, h


def write_markdown(path: Path, summary: dict) -> Path:
    """results.md: one row per contact mu and the average, then the objects that do not fit."""
    lines = [f"# {summary['model_name']} on {summary['objects']} ({summary['gripper']}, {summary['sim_config']})", ""]
    if summary.get("mode") == "clutter":
        lines += ["| contact mu | scenes (invalid) | SR (picked / attempts) | PC | AP | GraspNet AP / AP0.8 / AP0.4 |",
                  "|---|---|---|---|---|---|"]
        for k, s in summary["per_friction"].items():
            lines.append(f"| {k} | {s['n_scenes']} ({s['n_invalid']}) | {format_percent(s['SR'])} ({s['picked']} / "
                         f"{s['attempts']}) | {format_percent(s['PC'])} | {format_percent(s['AP'])} | {graspnet_cell(s)} |")
        lines.append(f"| **average** | {summary['n_scenes']} ({summary['n_invalid']}) | **{format_percent(summary['SR'])}** | "
                     f"**{format_percent(summary['PC'])}** | **{format_percent(summary['AP'])}** | {graspnet_cell(summary)} |")
        lines += ["", GRASPNET_NOTE]
    else:
        lines += ["| contact mu | trials (invalid) | successes | success rate |", "|---|---|---|---|"]
        for k, s in summary["per_friction"].items():
            lines.append(f"| {k} | {s['n_trials']} ({s.get('n_invalid', 0)}) | {s['successes']} | "
                         f"{format_percent(s['success_rate'])} |")
        lines.append(f"| **average** | {summary['n_trials']} ({summary.get('n_invalid', 0)}) | {summary['successes']} | "
                     f"**{format_percent(summary['success_rate'])}** |")
    unfit = summary.get("does_not_fit", [])
    lines += ["", f"Does not fit the {summary['gripper']} gripper (not tried, not counted): {len(unfit)}"]
    lines += [f"- {u['name']}: extents {u['extents_m']} m, middle > {u['limit_m']} m" for u in unfit]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args) -> dict:
    report = Path(args.report)
    settings = settings_for_run(args)
    objects, unfit = load_objects(args.objects, settings, gripper_max_opening(settings, args.gripper),
                                  n_procedural=args.n_objects, seed=args.objects_seed,
                                  max_extent_m=FROM_SETTINGS if args.max_extent is None else args.max_extent)
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
        summary = {"mode": "clutter", "objects_per_scene": args.clutter, **average_clutter_over_friction(per_mu),
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
    p.add_argument("--camera-height", type=float, default=None, metavar="M",
                   help="camera height above the tray (m) instead of the settings' camera.height")
    p.add_argument("--resolution", type=_resolution, default=None, metavar="WxH",
                   help="rendered frame size instead of the settings' camera.resolution (the intrinsics scale)")
    p.add_argument("--backend", default="torch", help="inference runtime: torch, onnxruntime, openvino")
    p.add_argument("--precision", default="fp32", help="fp32, bf16 or int8 (see grasp_perception.backends)")
    p.add_argument("--random-weights", type=int, default=None, metavar="SEED",
                   help="ignore the trained weights: same network, random init (a floor to compare with)")
    p.add_argument("--clutter", type=int, default=0, metavar="K",
                   help="cluttered scenes of K objects: PLGP's SR, PC and AP instead of per-object trials")
    p.add_argument("--scenes", type=int, default=10, help="cluttered scenes to run (with --clutter)")
    p.add_argument("--max-failures", type=int, default=None,
                   help="clutter: stop a scene after this many failures in a row (default protocol.clutter)")
    p.add_argument("--ap-top-k", type=int, default=None,
                   help="clutter: AP over the top-k grasps of the first image (default protocol.clutter)")
    p.add_argument("--ap-candidates", choices=["dense", "peaks"], default=None,
                   help="clutter: rank AP's grasps over every pixel and angle (dense, PLGP) or the peaks")
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
