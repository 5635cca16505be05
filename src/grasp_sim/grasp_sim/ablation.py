"""The Gaussian-maps paper's ablation, measured by the rectangle metric and by grasping, one command:

    python -m grasp_sim.ablation [--config config/ablation/gaussian_maps.yaml] [--profile NAME | --quick]
                                 [--out DIR] [--resume]
    make ablation ABLATION_ARGS="--profile cpu"

The YAML names a base training config, overrides for every run, the variant axes (every combination of
one level per axis is a variant: quality map and sigma x angle bins x loss), the training seeds and the grasp
evaluation. For each variant x seed it trains (:func:`grasp_perception.training.train`, into
``DIR/<variant>/seed<k>/``), keeps the held-out test split's rectangle metrics that training returns, runs
the simulated grasp trials of :mod:`grasp_sim.trials` with the trained model (same trial seed for every run,
so every variant meets the same drops) and writes ``result.json``; ``--resume`` skips the runs that have one.
It then writes ``DIR/ablation.md`` (mean +- std over seeds per variant) and ``DIR/ablation.json`` (also
min, max and every run).

Nothing is measured here: IoU comes from training's test evaluation, success rates from ``grasp_sim.trials``.
``--profile NAME`` narrows the sweep to the YAML's ``profiles.NAME`` section (its variants, seeds, budget and
grasp trials); ``--quick`` is ``--profile quick`` (two variants, one seed, a tiny generated dataset).
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import itertools
import json
import re
import sys
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from grasp_perception.config import ConfigError, ExperimentConfig, build_dataclass, load_config

from . import trials
from .benchmark import egad_folder
from .executors import GRIPPERS
from .generate import STATUS_FILE, generate
from .settings import load_sim_settings
from .trials import format_percent

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO / "config" / "ablation" / "gaussian_maps.yaml"
TEST_KEYS = ("iou_0.25", "iou_0.30", "iou_0.50", "iou_0.75", "iou_avg")
METRICS = (*TEST_KEYS, "success_rate")
# Set by the ablation for each run (one source each: the seeds list, the dataset section, the run folder).
RUN_KEYS = ("name", "output_dir", "train.seed", "data.root")
# Every variant must see the same images and the same held-out split.
SAME_DATA = ("data.split", "data.limit")
GENERATE_ARGS = set(inspect.signature(generate).parameters) - {"out", "resume", "progress"}


@dataclass(frozen=True)
class Dataset:
    root: str            # a Jacquard-layout folder, relative to the repository root
    generate: dict       # grasp_sim.generate.generate() arguments that make it (printed when it is missing)


@dataclass(frozen=True)
class Grasp:
    objects: str                 # procedural | a mesh folder (relative to the repository root)
    n_objects: int               # procedural pool size; for a folder the first N spread over it (0 = all)
    objects_seed: int            # procedural pool seed: never the training data's
    trials_per_object: int
    gripper: str
    sim_config: str              # sim settings profile or YAML
    friction: list | None        # contact mu sweep; null = the profile's protocol.friction, [] = objects' own mu
    seed: int                    # drop poses, noise, hand-eye error: the same for every run


@dataclass(frozen=True)
class Profile:
    """A named reduction of the full sweep (a compute budget), chosen with --profile."""
    variants: list               # names of the axes' combinations
    seeds: list
    overrides: dict              # merged over ``overrides``
    grasp: dict                  # merged over ``grasp``
    generate: dict               # non-empty: a tiny dataset generated into DIR/data (replaces dataset.root)


@dataclass(frozen=True)
class Ablation:
    base: str
    dataset: Dataset
    overrides: dict
    axes: dict
    seeds: list
    grasp: Grasp
    profiles: dict               # name -> Profile


@dataclass(frozen=True)
class Plan:
    """A loaded, checked ablation: what to run."""
    source: str
    base: Path
    overrides: dict
    variants: dict               # name -> merged dotted overrides
    seeds: list
    grasp: Grasp
    root: Path                   # training data
    generate: dict               # generate() arguments: run for a profile's own data, printed when the root is missing
    profile: str | None          # the profile applied (None: the full sweep)
    own_data: bool               # the profile generates its dataset into DIR/data


# ------------------------------------------------------------------------------------------------ config
def _repo_path(p: str) -> Path:
    return Path(p) if Path(p).is_absolute() else REPO / p


def _missing(cls, values: dict, where: str) -> list[str]:
    """Required keys absent from ``values``, nested sections too (build_dataclass leaves them to a TypeError)."""
    hints, out = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        path = f"{where}.{f.name}" if where else f.name
        if f.name not in values:
            out.append(path)
        elif dataclasses.is_dataclass(hints[f.name]) and isinstance(values[f.name], dict):
            out += _missing(hints[f.name], values[f.name], path)
    return out


def _typed(cls, values, where: str, source: str):
    """build_dataclass (unknown and mistyped keys) with every key required: the YAML is the only source."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: '{where or 'top level'}' must be a mapping")
    missing = _missing(cls, values, where)
    if missing:
        raise ConfigError(f"{source}: missing key(s) {', '.join(missing)}")
    return build_dataclass(cls, values, where, source)


def _shown(p: Path) -> str:
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def _as_overrides(values: dict) -> list[str]:
    """A mapping of dotted keys as ``key=value`` overrides for load_config (JSON is YAML, so values round-trip)."""
    return [f"{k}={json.dumps(v)}" for k, v in values.items()]


def _check_keys(values: dict, forbidden: tuple, where: str, source: str, why: str) -> None:
    for key in values:
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{source}: {where}: keys must be dotted training-config keys, got {key!r}")
        hit = next((f for f in forbidden if key == f or key.startswith(f + ".")), None)
        if hit:
            raise ConfigError(f"{source}: {where}.{key}: {hit} {why}")


def _training_config(base: Path, overrides: list[str], where: str, source: str) -> ExperimentConfig:
    try:
        return load_config(base, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {where}: {exc}") from None


def _seeds(seeds, where: str, source: str) -> list[int]:
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ConfigError(f"{source}: {where} must be a non-empty list of distinct integers, got {seeds!r}")
    return seeds


def _variants(axes, source: str) -> dict[str, dict]:
    """Every combination of one level per axis: name 'level-level-...' -> the levels' overrides merged."""
    if not isinstance(axes, dict) or not axes:
        raise ConfigError(f"{source}: axes must be a mapping of axis -> {{level name: {{dotted key: value}}}}")
    for axis, levels in axes.items():
        if not isinstance(levels, dict) or not levels:
            raise ConfigError(f"{source}: axes.{axis} must be a non-empty mapping of level name -> overrides")
        for level, values in levels.items():
            if not re.fullmatch(r"[A-Za-z0-9_.+]+", str(level)):
                raise ConfigError(f"{source}: axes.{axis}.{level}: a level name is a folder name "
                                  f"(letters, digits, _ . +)")
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: axes.{axis}.{level} must be a mapping of dotted key -> value")
            _check_keys(values, RUN_KEYS, f"axes.{axis}.{level}", source, "is set by the ablation")
            _check_keys(values, SAME_DATA, f"axes.{axis}.{level}", source,
                        "must be the same for every variant (put it in overrides)")
    out = {}
    for combo in itertools.product(*(levels.items() for levels in axes.values())):
        merged: dict = {}
        for _, values in combo:
            merged.update(values)
        out["-".join(str(level) for level, _ in combo)] = merged
    return out


def load_ablation(path: str | Path, profile: str | None = None) -> Plan:
    """Read and check an ablation YAML; every run's training config is built here, so a bad key fails now,
    naming this file and the key, not after hours of training."""
    path = Path(path)
    source = str(path)
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the ablation config: {exc}") from exc
    a = _typed(Ablation, values, "", source)
    base = _repo_path(a.base)
    if not base.is_file():
        raise ConfigError(f"{source}: base: training config {base} not found (one of config/train/*.yaml)")
    variants = _variants(a.axes, source)
    seeds = _seeds(a.seeds, "seeds", source)
    overrides = dict(a.overrides)
    grasp_values = dataclasses.asdict(a.grasp)
    gen, gen_where = a.dataset.generate, "dataset.generate"
    if profile is not None:
        if not isinstance(a.profiles, dict) or profile not in a.profiles:
            names = sorted(a.profiles) if isinstance(a.profiles, dict) else []
            raise ConfigError(f"{source}: profiles.{profile}: no such profile; the file has {names}")
        where = f"profiles.{profile}"
        q = _typed(Profile, a.profiles[profile], where, source)
        unknown = sorted(set(q.grasp) - set(grasp_values))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(f'{where}.grasp.' + k for k in unknown)}; "
                              f"expected some of {sorted(grasp_values)}")
        unknown = sorted(set(q.variants) - set(variants))
        if unknown:
            raise ConfigError(f"{source}: {where}.variants: unknown variant(s) {unknown}; the axes make {sorted(variants)}")
        variants = {name: variants[name] for name in q.variants}
        seeds = _seeds(q.seeds, f"{where}.seeds", source)
        overrides.update(q.overrides)
        grasp_values.update(q.grasp)
        if q.generate:
            gen, gen_where = q.generate, f"{where}.generate"
    grasp = _typed(Grasp, grasp_values, "grasp", source)
    _check_grasp(grasp, source)
    unknown = sorted(set(gen) - GENERATE_ARGS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(f'{gen_where}.{k}' for k in unknown)}; "
                          f"expected grasp_sim.generate.generate() arguments {sorted(GENERATE_ARGS)}")
    _check_keys(overrides, RUN_KEYS, "overrides", source, "is set by the ablation")
    # Attribute an error to the section that causes it: overrides, then each level, then each combination.
    _training_config(base, _as_overrides(overrides), "overrides", source)
    for axis, levels in a.axes.items():
        for level, values in levels.items():
            _training_config(base, _as_overrides({**overrides, **values}), f"axes.{axis}.{level}", source)
    for name, values in variants.items():
        _training_config(base, _as_overrides({**overrides, **values}), f"variant {name}", source)
    return Plan(source=source, base=base, overrides=overrides, variants=variants, seeds=seeds, grasp=grasp,
                root=_repo_path(a.dataset.root), generate=dict(gen), profile=profile,
                own_data=gen_where != "dataset.generate")


def _check_grasp(g: Grasp, source: str) -> None:
    if g.gripper not in GRIPPERS:
        raise ConfigError(f"{source}: grasp.gripper must be one of {GRIPPERS}, got {g.gripper!r}")
    if g.trials_per_object < 1 or g.n_objects < (1 if g.objects == "procedural" else 0):
        raise ConfigError(f"{source}: grasp.trials_per_object must be >= 1 and grasp.n_objects >= 1 "
                          f"(0 = a whole mesh folder)")
    if g.objects != "procedural" and not _repo_path(g.objects).is_dir():
        raise ConfigError(f"{source}: grasp.objects must be 'procedural' or a mesh folder; "
                          f"{_repo_path(g.objects)} is not a folder")
    if g.friction is not None and not all(isinstance(m, (int, float)) and m > 0 for m in g.friction):
        raise ConfigError(f"{source}: grasp.friction must be null, [] or a list of mu > 0, got {g.friction!r}")
    try:
        load_sim_settings(g.sim_config)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"{source}: grasp.sim_config: {exc}") from None


def run_config(plan: Plan, variant: str, seed: int, out: Path) -> ExperimentConfig:
    """The training config of one run: base + overrides + variant, then what the ablation sets."""
    own = {"output_dir": str(out / variant / f"seed{seed}"), "train.seed": seed, "data.root": str(plan.root)}
    cfg = load_config(plan.base, _as_overrides({**plan.overrides, **plan.variants[variant], **own}))
    cfg.name = f"{cfg.name}-{variant}-seed{seed}"  # the model card's name: which run a model is
    cfg.targets.sigma = cfg.targets.resolved_sigma()  # what train() records; a resume compares against it
    return cfg


# ------------------------------------------------------------------------------------------------ data
def prepare_data(plan: Plan, progress: bool) -> None:
    """A profile with its own data: generate the tiny dataset (skipped once complete). Otherwise the root must be a
    finished dataset."""
    status_path = plan.root / STATUS_FILE
    status = json.loads(status_path.read_text()) if status_path.is_file() else None
    if plan.own_data and (not status or status.get("status") != "complete"):
        print(f"generating the {plan.profile} profile's dataset into {plan.root}", flush=True)
        status = generate(out=plan.root, resume=True, progress=progress, **plan.generate)
    if not plan.root.is_dir():
        cmd = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in plan.generate.items())
        raise FileNotFoundError(f"{plan.source}: dataset.root {plan.root} not found; generate it with\n"
                                f"  python -m grasp_sim.generate --out {plan.root} {cmd}")
    made = (status or {}).get("args", {})
    g = plan.grasp
    if g.objects == "procedural" and made.get("objects") == "procedural" and made.get("seed") == g.objects_seed:
        raise ConfigError(f"{plan.source}: grasp.objects_seed {g.objects_seed} is the training data's pool seed "
                          f"({status_path}); the trials must use objects the models never saw")
    if status and status.get("status") != "complete":
        # A dataset still growing would give the variants different training images.
        raise ValueError(f"{plan.root} is still being generated ({status_path}: status "
                         f"{status.get('status')!r}); wait for it, or finish it with python -m grasp_sim.generate "
                         f"--resume, before the ablation trains on it")


# ------------------------------------------------------------------------------------------------ runs
def grasp_settings(plan: Plan) -> dict:
    """What the grasp trials of every run share (a resumed result must have the same)."""
    return dataclasses.asdict(plan.grasp)


def trial_args(plan: Plan, model: Path, report: Path, objects: str, progress: bool) -> list[str]:
    """The grasp_sim.trials command line of one run; --resume continues an interrupted one."""
    g = plan.grasp
    argv = ["--model", str(model), "--objects", objects, "--trials-per-object", str(g.trials_per_object),
            "--gripper", g.gripper, "--sim-config", g.sim_config, "--seed", str(g.seed), "--report", str(report),
            "--resume"]
    if g.objects == "procedural":
        argv += ["--n-objects", str(g.n_objects), "--objects-seed", str(g.objects_seed)]
    if g.friction is not None:
        argv += ["--friction", ",".join(f"{m:g}" for m in g.friction) or "none"]
    return argv + ([] if progress else ["--no-progress"])


def _plain(d: dict) -> dict:
    return json.loads(json.dumps(d))


def _settings_of(cfg_dict: dict) -> dict:
    """A run's training settings, for comparison: all but where it lives (a moved --out is the same run)."""
    return {k: v for k, v in cfg_dict.items() if k != "output_dir"}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
    return out


def _same(path: Path, logged: dict, now: dict) -> None:
    """Refuse to reuse ``path`` (a finished or interrupted run) made with other settings than these."""
    old, new = _flat(logged), _flat(now)
    diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if diff:
        raise ValueError(f"{path} was made with other settings ({'; '.join(diff)}); resume with the same ones, "
                         f"or use another --out")


def train_or_reuse(cfg: ExperimentConfig, resume: bool, progress: bool) -> dict:
    """train(cfg); with ``resume`` a finished training (history.json) is reused, never trained further (its model
    may already have logged trials), and an interrupted one continues from its checkpoint."""
    from grasp_perception.training import train

    run_dir = Path(cfg.output_dir)
    if resume and (run_dir / "config.yaml").is_file():
        logged = yaml.safe_load((run_dir / "config.yaml").read_text())
        _same(run_dir / "config.yaml", _settings_of(logged), _settings_of(_plain(cfg.to_dict())))
        if (run_dir / "history.json").is_file():
            return json.loads((run_dir / "history.json").read_text())
    return train(cfg, resume=resume and (run_dir / "checkpoints" / "last.pt").is_file(), progress=progress)


def run_one(plan: Plan, variant: str, seed: int, out: Path, objects: str, *, resume: bool, progress: bool) -> dict:
    """Train one variant x seed, run its grasp trials, write and return its result.json."""
    cfg = run_config(plan, variant, seed, out)
    run_dir = Path(cfg.output_dir)
    t0 = time.perf_counter()
    history = train_or_reuse(cfg, resume, progress)
    if "test" not in history:
        raise ValueError(f"{run_dir}: the test split is empty, so there are no held-out IoU figures; "
                         f"change data.split.fractions in the overrides")
    t1 = time.perf_counter()
    summary = trials.run(trials.build_parser().parse_args(
        trial_args(plan, run_dir / "model", run_dir / "trials", objects, progress)))
    t2 = time.perf_counter()
    grasp = {k: summary[k] for k in ("success_rate", "successes", "n_trials", "n_invalid", "friction", "sim_config",
                                     "gripper", "trials_per_object")}
    grasp.update(objects_tried=len(summary["per_object"]), does_not_fit=len(summary["does_not_fit"]),
                 report=str(run_dir / "trials"))
    result = {"variant": variant, "seed": seed, "config": _plain(cfg.to_dict()), "grasp_settings": grasp_settings(plan),
              "test": {k: history["test"][k] for k in (*TEST_KEYS, "n_images", "n_no_gt")},
              "epochs_run": history["epochs_run"], "best_epoch": history["best_epoch"], "grasp": grasp,
              "seconds": {"train": round(t1 - t0, 1), "grasp": round(t2 - t1, 1)}}
    (run_dir / "result.json").write_text(json.dumps(result, indent=1))
    return result


def finished(path: Path, plan: Plan, cfg: ExperimentConfig) -> dict:
    """A finished run's result.json, refused if it was made with other settings than these."""
    result = json.loads(path.read_text())
    _same(path, {"config": _settings_of(result["config"]), "grasp_settings": result["grasp_settings"]},
          {"config": _settings_of(_plain(cfg.to_dict())), "grasp_settings": grasp_settings(plan)})
    return result


# ------------------------------------------------------------------------------------------------ report
def spread(values: list[float]) -> dict:
    """Mean, sample std (None for one seed), min, max and n of the values that exist."""
    v = np.array([x for x in values if x is not None], dtype=float)
    if not len(v):
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None,
            "min": float(v.min()), "max": float(v.max()), "n": int(len(v))}


def aggregate(results: list[dict]) -> dict:
    """Per variant (in run order): its settings, each metric's spread over seeds, and the pooled trial counts."""
    out: dict = {}
    for r in results:
        v = out.setdefault(r["variant"], {"settings": _settings(r["config"]), "seeds": [], "runs": []})
        v["seeds"].append(r["seed"])
        v["runs"].append(r)
    for v in out.values():
        runs = v.pop("runs")
        v["metrics"] = {k: spread([r["test"][k] if k in TEST_KEYS else r["grasp"][k] for r in runs]) for k in METRICS}
        v["successes"] = sum(r["grasp"]["successes"] for r in runs)
        v["n_trials"] = sum(r["grasp"]["n_trials"] for r in runs)
    return out


def _settings(cfg: dict) -> dict:
    return {"map": cfg["targets"]["map"], "sigma": cfg["targets"]["sigma"], "bins": cfg["model"]["n_bins"],
            "positional": cfg["loss"]["positional"]}


def _cell(s: dict) -> str:
    if s["mean"] is None:
        return "-"
    std = "" if s["std"] is None else f" ± {100 * s['std']:.1f}"
    return f"{100 * s['mean']:.1f}{std}"


def write_markdown(path: Path, plan: Plan, variants: dict, first: dict, pending: list[str] = ()) -> None:
    g, mu = first["grasp"], first["grasp"]["friction"]  # the settings the trials report they ran with
    pool = f"procedural, pool seed {plan.grasp.objects_seed}" if plan.grasp.objects == "procedural" else plan.grasp.objects
    friction = f"contact mu {mu}{' (success averaged over mu)' if len(mu) > 1 else ''}" if mu else "the objects' own mu"
    lines = [f"# Gaussian-maps ablation: {Path(plan.source).name}{f' (--profile {plan.profile})' if plan.profile else ''}", "",
             f"Base training config {_shown(plan.base)}, data {_shown(plan.root)}, training seeds {plan.seeds}.", "",
             f"- IoU: the held-out test split ({first['test']['n_images']} images, the same for every run), top-1 "
             f"grasp, rectangle metric.",
             f"- Grasp success: {g['objects_tried']} objects ({pool}; {g['does_not_fit']} more do not fit the gripper), "
             f"{g['trials_per_object']} trials per object, gripper {g['gripper']}, sim profile {plan.grasp.sim_config}, "
             f"{friction}, trial seed {plan.grasp.seed} (the same drops for every run).", "",
             "Figures in %, mean ± sample std over seeds (min and max in ablation.json).", "",
             *([f"**Partial** (--report): {len(pending)} run(s) not finished: {', '.join(pending)}.", ""] if pending else []),
             "| variant | map | sigma | bins | positional | seeds | IoU@.25 | IoU@.50 | IoU@.75 | IoU-Avg | "
             "grasp success | trials (successes) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in variants.items():
        s, m = v["settings"], v["metrics"]
        sigma = "-" if s["sigma"] is None or s["map"] == "binary" else f"{s['sigma']:g}"
        lines.append(f"| {name} | {s['map']} | {sigma} | {s['bins']} | {'yes' if s['positional'] else 'no'} | "
                     f"{len(v['seeds'])} | {_cell(m['iou_0.25'])} | {_cell(m['iou_0.50'])} | {_cell(m['iou_0.75'])} | "
                     f"{_cell(m['iou_avg'])} | **{_cell(m['success_rate'])}** | {v['n_trials']} ({v['successes']}) |")
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------ main
def run(args) -> dict:
    plan = load_ablation(args.config, profile=args.profile)
    out = Path(args.out)
    if plan.own_data:  # a profile's own dataset lives with its results
        plan = dataclasses.replace(plan, root=(out / "data").resolve())
    if not args.report:  # a report reads result.json files only
        prepare_data(plan, progress=not args.no_progress)
    out.mkdir(parents=True, exist_ok=True)
    g = plan.grasp
    objects = ("procedural" if g.objects == "procedural" else
               str(egad_folder(None, out, str(_repo_path(g.objects)), g.n_objects or None)))
    # Seed-major: a sweep cut short still holds whole comparisons (every variant at the first seeds).
    todo = [(v, s) for s in plan.seeds for v in plan.variants]
    results, started = [], time.perf_counter()
    pending: list[str] = []
    if args.report:  # the table of what has finished, nothing run
        done = [(v, s) for v, s in todo if (out / v / f"seed{s}" / "result.json").is_file()]
        pending = [f"{v} seed {s}" for v, s in todo if (v, s) not in done]
        results = [finished(out / v / f"seed{s}" / "result.json", plan, run_config(plan, v, s, out)) for v, s in done]
        if not results:
            raise FileNotFoundError(f"{out}: no finished run (result.json) to report yet")
        todo = []
    for i, (variant, seed) in enumerate(todo, start=1):
        tag = f"[{i}/{len(todo)}] {variant} seed {seed}"
        done = out / variant / f"seed{seed}" / "result.json"
        if args.resume and done.is_file():
            print(f"{tag}: done before ({done}), skipped", flush=True)
            results.append(finished(done, plan, run_config(plan, variant, seed, out)))
            continue
        print(f"{tag}: training, then grasp trials -> {done.parent}", flush=True)
        r = run_one(plan, variant, seed, out, objects, resume=args.resume, progress=not args.no_progress)
        print(f"{tag}: IoU@0.25 {format_percent(r['test']['iou_0.25'])}, grasp success "
              f"{format_percent(r['grasp']['success_rate'])} ({r['grasp']['successes']}/{r['grasp']['n_trials']})",
              flush=True)
        results.append(r)
    variants = aggregate(results)
    write_markdown(out / "ablation.md", plan, variants, results[0], pending)
    report = {"config": plan.source, "profile": plan.profile, "base": str(plan.base), "data": str(plan.root),
              "seeds": plan.seeds, "grasp": grasp_settings(plan), "variants": variants, "pending": pending,
              "runs": [{k: r[k] for k in ("variant", "seed", "test", "grasp", "epochs_run", "seconds")} for r in results],
              "wall_s": round(time.perf_counter() - started, 1)}
    (out / "ablation.json").write_text(json.dumps(report, indent=1))
    print(f"ablation: {out / 'ablation.md'} ({report['wall_s']:.0f} s)", flush=True)
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grasp_sim.ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(DEFAULT_CONFIG),
                   help="ablation YAML (default config/ablation/gaussian_maps.yaml)")
    p.add_argument("--profile", default=None, metavar="NAME",
                   help="narrow the sweep to the YAML's profiles.NAME (e.g. cpu: about an hour on 2 cores)")
    p.add_argument("--quick", dest="profile", action="store_const", const="quick",
                   help="= --profile quick: a minute or two, figures meaningless")
    p.add_argument("--out", default=None, help="results folder (default runs/ablation/<config stem>[-<profile>])")
    p.add_argument("--resume", action="store_true", help="skip runs with a result.json, continue interrupted ones")
    p.add_argument("--report", action="store_true",
                   help="run nothing: write ablation.md/.json from the runs finished so far (a sweep in progress)")
    p.add_argument("--no-progress", action="store_true", help="log lines only, no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is None:
        args.out = str(Path("runs") / "ablation" / f"{Path(args.config).stem}{'-' + args.profile if args.profile else ''}")
    try:
        run(args)
    except (ConfigError, FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # finished runs have their result.json; --resume continues
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
