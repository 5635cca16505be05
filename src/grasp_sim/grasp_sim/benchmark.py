"""The standard simulated evaluation of a model, one command:

    python -m grasp_sim.benchmark --model M [--quick] [--sim-config realistic] [--out DIR]
    make eval MODEL=M

runs the matrix of ``config/eval/sim_benchmark.yaml``: EGAD at print size with 20 trials per object for the
floating gripper, the WidowX 250s and the Kinova Gen3, and PLGP's cluttered scenes of 5 and 15 novel objects,
every run over the friction sweep of the sim settings. It writes ``DIR/benchmark.md`` (one table, PLGP's
published figures beside the clutter rows), ``DIR/benchmark.json`` and a friction-averaged EGAD heatmap per
gripper; each run's own report (logs, per-mu heatmaps, overlays) is in ``DIR/<run>/``. Runs resume: an
interrupted benchmark started again with the same settings continues where it stopped, and one with other
settings is refused. ``--quick`` is the same matrix, small (see the YAML).

Every figure is a :mod:`grasp_sim.trials` run; nothing is computed here but the table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from grasp_perception.config import ConfigError, build_dataclass

from . import trials
from .trials import GRASPNET_NOTE, format_percent, graspnet_cell
from .settings import load_sim_settings

REPO = Path(__file__).resolve().parents[3]
DEFAULT_MATRIX = REPO / "config" / "eval" / "sim_benchmark.yaml"

# PLGP's own benchmark, novel objects, averaged over mu 0.2..1.0 (Table II, Table IV): SR / PC / AP in %.
PLGP = {"AFFGA-Net (RGB-D)": {5: (84.48, 96.80, 94.07), 15: (70.86, 84.87, 85.49)},
        "GG-CNN2 (depth)": {5: (68.40, 90.06, 86.15), 15: (62.59, 81.63, 75.18)}}


@dataclass(frozen=True)
class EgadRuns:
    objects: str
    grippers: list


@dataclass(frozen=True)
class ClutterRuns:
    objects: str
    pool: int
    objects_seed: int
    sizes: list
    scenes: int
    gripper: str


@dataclass(frozen=True)
class UnseenCamera:
    height: float
    resolution: list
    runs: list


@dataclass(frozen=True)
class QuickRuns:
    egad_objects: int
    trials_per_object: int
    friction: list
    clutter_sizes: list
    scenes: int


@dataclass(frozen=True)
class Matrix:
    sim_config: str
    seed: int
    egad: EgadRuns
    clutter: ClutterRuns
    unseen_camera: UnseenCamera
    quick: QuickRuns


def load_matrix(path: str | Path = DEFAULT_MATRIX) -> Matrix:
    import yaml
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the benchmark matrix: {exc}") from exc
    m = build_dataclass(Matrix, values, "", str(path))
    for g in [*m.egad.grippers, m.clutter.gripper]:
        if g not in trials.GRIPPERS:
            raise ConfigError(f"{path}: gripper {g!r} must be one of {trials.GRIPPERS}")
    if any(int(k) < 1 for k in m.clutter.sizes + m.quick.clutter_sizes) or m.clutter.pool < max(m.clutter.sizes):
        raise ConfigError(f"{path}: clutter.sizes must be >= 1 and at most clutter.pool ({m.clutter.pool})")
    u = m.unseen_camera
    if not u.height > 0 or len(u.resolution) != 2:
        raise ConfigError(f"{path}: unseen_camera needs height > 0 m and resolution [width, height]")
    return m


UNSEEN = "_unseen_camera"


def camera_label(summary: dict) -> str:
    """'640x480 at 0.6 m' from a run's sim settings."""
    cam = summary["sim_settings"]["camera"]
    return f"{cam['resolution'][0]}x{cam['resolution'][1]} at {cam['height']:g} m"


def egad_folder(m: Matrix, out: Path, override: str | None, first: int | None) -> Path:
    """The EGAD meshes of the run: the matrix's folder (or ``override``), or ``first`` of them."""
    folder = Path(override) if override else (REPO / m.egad.objects)
    if not folder.is_dir():
        raise FileNotFoundError(f"EGAD meshes not found at {folder}: get the 49 evaluation objects (see "
                                f"../shared/data/SOURCES.md) and pass --egad FOLDER")
    if not first:
        return folder.resolve()
    # A subset spread evenly over the name order (EGAD's A0..G6: every difficulty row, not only the easy A's),
    # as links in a folder of their own.
    subset = out / f"egad_subset_{first}"
    subset.mkdir(parents=True, exist_ok=True)
    meshes = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".obj", ".stl"))
    meshes = [meshes[int(k)] for k in np.unique(np.linspace(0, len(meshes) - 1, min(first, len(meshes))).round())]
    for p in meshes:
        link = subset / p.name
        if not link.exists():
            link.symlink_to(p.resolve())
    return subset


def runs(m: Matrix, args) -> list[tuple[str, list[str]]]:
    """(name, grasp_sim.trials arguments) of every run of the matrix."""
    out = Path(args.out)
    common = ["--model", str(args.model), "--sim-config", args.sim_config or m.sim_config, "--seed", str(m.seed),
              "--backend", args.backend, "--precision", args.precision, "--resume"]
    trials_per_object = args.trials_per_object or (m.quick.trials_per_object if args.quick else None)
    # --quick shortens the profile's sweep; a profile without one (easy) keeps the objects' own mu.
    sweeps = bool(load_sim_settings(args.sim_config or m.sim_config).protocol.friction)
    friction = args.friction or (",".join(f"{x:g}" for x in m.quick.friction) if args.quick and sweeps else None)
    if trials_per_object:
        common += ["--trials-per-object", str(trials_per_object)]
    if friction:
        common += ["--friction", friction]
    if args.no_progress:
        common.append("--no-progress")
    egad = str(egad_folder(m, out, args.egad, args.egad_objects or (m.quick.egad_objects if args.quick else None)))
    plan = [(f"egad_{g}", [*common, "--objects", egad, "--gripper", g, "--report", str(out / f"egad_{g}")])
            for g in m.egad.grippers]
    c = m.clutter
    for k in (m.quick.clutter_sizes if args.quick else c.sizes):
        plan.append((f"clutter_{k}", [*common, "--objects", c.objects, "--n-objects", str(c.pool),
                                      "--objects-seed", str(c.objects_seed), "--clutter", str(k),
                                      "--scenes", str(args.scenes or (m.quick.scenes if args.quick else c.scenes)),
                                      "--gripper", c.gripper, "--report", str(out / f"clutter_{k}")]))
    # The same runs with a camera no training set-up had (other height and resolution): what the metric rescaling
    # of the predictor is for; the bar is a loss of at most 5 points.
    u = m.unseen_camera
    for name, argv in [r for r in plan if r[0] in u.runs]:
        moved = [str(out / f"{name}{UNSEEN}") if a == str(out / name) else a for a in argv]
        plan.append((name + UNSEEN, [*moved, "--camera-height", f"{u.height:g}",
                                     "--resolution", f"{u.resolution[0]}x{u.resolution[1]}"]))
    return [(name, argv) for name, argv in plan if not args.only or name in args.only]


def _per_mu(summary: dict, key: str) -> str:
    return ", ".join(f"{mu}: {format_percent(s.get(key))}" for mu, s in summary["per_friction"].items())


def seconds_per_trial(summary: dict) -> float | None:
    """Mean simulated-trial cost over the sweep (render, inference, grasp and reset), in seconds."""
    per = [sum(s["mean_ms_per_trial"].values()) / 1e3 for s in summary["per_friction"].values()
           if s.get("mean_ms_per_trial")]
    return sum(per) / len(per) if per else None


def seconds_per_scene(summary: dict) -> float | None:
    secs = [r["seconds"] for s in summary["per_friction"].values() for r in s["scenes"] if "seconds" in r]
    return sum(secs) / len(secs) if secs else None


def write_report(out: Path, results: dict, info: dict) -> Path:
    lines = [f"# Simulated benchmark of {info['model_name']}", "",
             f"{info['sim_config']} cell, seed {info['seed']}{', --quick' if info['quick'] else ''}; "
             f"{info['machine']}. Every rate is the mean over the contact-friction sweep (mu "
             f"{info['friction']}); the per-mu figures follow it.", ""]
    egad = {k: v for k, v in results.items() if k.startswith("egad_")}
    if egad:
        size = info["mesh_max_extent"]
        lines += [f"## EGAD {'at print size' if size is None else f'scaled to a {100 * size:g} cm extent'}", "",
                  "| gripper | camera | objects tried | does not fit | trials per object | trials (invalid) | success | "
                  "per mu | s / trial |", "|---|---|---|---|---|---|---|---|---|"]
        for s in egad.values():
            spt = seconds_per_trial(s)
            lines.append(f"| {s['gripper']} | {camera_label(s)} | {len(s['per_object'])} | {len(s['does_not_fit'])} | "
                         f"{s['trials_per_object']} | {s['n_trials']} ({s.get('n_invalid', 0)}) | "
                         f"**{format_percent(s['success_rate'])}** | {_per_mu(s, 'success_rate')} | "
                         f"{'-' if spt is None else f'{spt:.1f}'} |")
        lines.append("")
        for s in egad.values():
            unfit = ", ".join(u["name"] for u in s["does_not_fit"]) or "none"
            lines.append(f"- {s['gripper']}: tried {', '.join(s['per_object'])}; does not fit: {unfit}")
        lines.append("")
        lines += [f"![{k}]({Path(v['benchmark_heatmap']).name})" for k, v in egad.items() if v.get("benchmark_heatmap")]
        lines.append("")
    clutter = {k: v for k, v in results.items() if k.startswith("clutter_")}
    if clutter:
        lines += ["## Cluttered scenes of novel objects (PLGP's bin-picking measures)", "",
                  "| objects per scene | gripper | camera | scenes (invalid) | SR (picked / attempts) | PC | AP | "
                  "GraspNet AP / AP0.8 / AP0.4 | " + " | ".join(f"PLGP {name} SR / PC / AP" for name in PLGP)
                  + " | s / scene |",
                  "|---|---|---|---|---|---|---|---|" + "---|" * len(PLGP) + "---|"]
        for s in clutter.values():
            k = s["objects_per_scene"]
            plgp = " | ".join(" / ".join(f"{x:.2f}" for x in fig[k]) if k in fig else "-" for fig in PLGP.values())
            sps = seconds_per_scene(s)
            lines.append(f"| {k} | {s['gripper']} | {camera_label(s)} | {s['n_scenes']} ({s['n_invalid']}) | **{format_percent(s['SR'])}** "
                         f"({s['picked']} / {s['attempts']}) | **{format_percent(s['PC'])}** | **{format_percent(s['AP'])}** | "
                         f"{graspnet_cell(s)} | {plgp} | "
                         f"{'-' if sps is None else f'{sps:.0f}'} |")
        lines += ["", "Per mu (SR / PC / AP):", ""]
        for s in clutter.values():
            lines.append(f"- {s['objects_per_scene']} objects: " + "; ".join(
                f"mu {mu}: {format_percent(p['SR'])} / {format_percent(p['PC'])} / {format_percent(p['AP'])}" for mu, p in s["per_friction"].items()))
        lines += ["", "PLGP's figures (%, Tables II and IV, novel objects) are from its own simulated benchmark (its "
                  "objects, camera and cell), not this one: a reference point, not a like-for-like comparison.",
                  "", GRASPNET_NOTE]
    path = out / "benchmark.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args) -> dict:
    m = load_matrix(args.matrix)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = runs(m, args)
    results, started = {}, time.perf_counter()
    for i, (name, argv) in enumerate(plan, start=1):
        print(f"[{i}/{len(plan)}] {name}: python -m grasp_sim.trials {' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        summary = trials.run(trials.build_parser().parse_args(argv))
        summary["wall_s"] = round(time.perf_counter() - t0, 1)
        if name.startswith("egad_") and summary["n_trials"]:
            from .report import write_egad_heatmap
            summary["benchmark_heatmap"] = str(write_egad_heatmap(
                summary["per_object"], out / f"{name}_heatmap.png",
                title=f"{summary['model_name']}, {summary['gripper']}: {format_percent(summary['success_rate'])} "
                      f"(mean over mu)"))
        results[name] = summary
    first = next(iter(results.values()))
    info = {"model": str(args.model), "model_name": first["model_name"], "sim_config": first["sim_config"],
            "seed": m.seed, "quick": bool(args.quick), "friction": first["friction"],
            "mesh_max_extent": first["sim_settings"]["physics"]["mesh_max_extent"],
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "wall_s": round(time.perf_counter() - started, 1)}
    report = write_report(out, results, info)
    (out / "benchmark.json").write_text(json.dumps({"info": info, "runs": results}, indent=1, default=str))
    print(f"benchmark: {report} ({info['wall_s']:.0f} s)")
    return {"info": info, "runs": results}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grasp_sim.benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default", help="model folder or name (card.yaml + model.safetensors)")
    p.add_argument("--quick", action="store_true", help="the small version of the matrix (a few minutes)")
    p.add_argument("--out", default=None,
                   help="report folder (default runs/sim-benchmark/<model>-<sim profile>[-quick])")
    p.add_argument("--matrix", default=str(DEFAULT_MATRIX), help="the runs (default config/eval/sim_benchmark.yaml)")
    p.add_argument("--sim-config", default=None, help="sim settings profile or YAML (default: the matrix's)")
    p.add_argument("--egad", default=None, help="folder of the EGAD evaluation meshes (default: the matrix's)")
    p.add_argument("--only", nargs="+", default=None, metavar="RUN",
                   help="only these runs (egad_floating, egad_widowx, egad_kinova, clutter_5, clutter_15, and "
                        "<run>_unseen_camera for the matrix's unseen_camera runs)")
    p.add_argument("--trials-per-object", type=int, default=None,
                   help="override protocol.trials_per_object (the table says what was run)")
    p.add_argument("--friction", default=None, metavar="MU,MU,...", help="override the friction sweep")
    p.add_argument("--egad-objects", type=int, default=None, metavar="N",
                   help="only N EGAD meshes, spread evenly over A0..G6")
    p.add_argument("--scenes", type=int, default=None, help="override the cluttered scenes per size")
    p.add_argument("--backend", default="torch")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from grasp_perception.backends import BackendUnavailable
    args = build_parser().parse_args(argv)
    if args.out is None:
        profile = Path(args.sim_config).stem if args.sim_config else Path(load_matrix(args.matrix).sim_config).stem
        args.out = str(Path("runs") / "sim-benchmark" / f"{Path(str(args.model)).name}-{profile}"
                       f"{'-quick' if args.quick else ''}")
    try:
        run(args)
    except (ConfigError, FileExistsError, FileNotFoundError, ValueError, BackendUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # every finished trial is logged; the same command resumes
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
