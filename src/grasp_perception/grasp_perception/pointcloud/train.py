"""Train the 6-DoF point-cloud network on the simulated cell's data (``python -m grasp_sim.generate_6dof``).

    python -m grasp_perception.pointcloud.train --config config/train/pointcloud/graspnet6dof_sim.yaml

Writes into ``output_dir``: ``checkpoints/last.pt`` (resume with ``--resume``), ``model/`` (the model folder
with the lowest validation loss: card ``kind: point_cloud`` + safetensors, loadable by ``model_io.load_model``
and the perception node), ``history.json`` and ``curves.png``. The split is by scene (the views of a scene
share its objects and their poses). ``train.max_minutes`` ends training at a wall-clock budget (mid-epoch: the
epoch is validated and saved as far as it got, its ``steps`` recorded), so a CPU run states what it spent.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from ..config import ConfigError, build_dataclass
from ..memory import keep_freed_memory
from ..model_io import save_model
from ..training import save_curves
from .dataset import GraspDataset6D, loss_terms, train_step
from .model_card import PointCloudCard


@dataclass
class Data6D:
    root: str = "data/sim-6dof"
    n_points: int = 20000           # points per training cloud (the paper's 20k)
    val_scenes: int = 3             # the last scenes of the dataset, held out for validation


@dataclass
class Optim6D:
    lr: float = 0.001               # Adam, as the paper's baseline
    batch_size: int = 1


@dataclass
class Train6D:
    epochs: int = 10
    max_minutes: float = 0.0        # 0: no wall-clock budget
    seed: int = 0
    threads: int = 0                # torch CPU threads (0: torch's default)


@dataclass
class Config6D:
    name: str
    output_dir: str
    arch_kwargs: dict = field(default_factory=dict)   # GraspNet6DoF options (sample_sizes, ...)
    operation_seeds: int | None = 256                 # written to the card: OperationNet seeds at inference
    data: Data6D = field(default_factory=Data6D)
    optim: Optim6D = field(default_factory=Optim6D)
    train: Train6D = field(default_factory=Train6D)


def load_config(path: str | Path) -> Config6D:
    values = yaml.safe_load(Path(path).read_text())
    return build_dataclass(Config6D, values, "", str(path))


def split_views(ds: GraspDataset6D, val_scenes: int) -> tuple[list[int], list[int]]:
    scenes = sorted({p.parent.name for p in ds.views})
    if len(scenes) <= val_scenes:
        raise ConfigError(f"{ds.root}: {len(scenes)} finished scene(s), need more than data.val_scenes = {val_scenes}")
    held = set(scenes[-val_scenes:])
    train = [i for i, p in enumerate(ds.views) if p.parent.name not in held]
    return train, [i for i, p in enumerate(ds.views) if p.parent.name in held]


def train(cfg: Config6D, resume: bool = False, progress: bool = True) -> dict:
    out = Path(cfg.output_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.train.seed)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    ds = GraspDataset6D(cfg.data.root, cfg.data.n_points, seed=cfg.train.seed)
    train_idx, val_idx = split_views(ds, cfg.data.val_scenes)
    card = PointCloudCard(cfg.name, "graspnet6dof", cfg.data.n_points, dict(cfg.arch_kwargs), cfg.operation_seeds,
                          training_data=f"{cfg.data.root} ({len(train_idx)} train / {len(val_idx)} val views)",
                          training_config=asdict(cfg))
    net = card.build()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr)
    state = {"epoch": 0, "history": [], "best": float("inf"), "seconds": 0.0}
    ckpt = out / "checkpoints" / "last.pt"
    if resume and ckpt.exists():
        saved = torch.load(ckpt, weights_only=True)
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["opt"])
        state = json.loads(saved["state"])
    rng = np.random.default_rng([cfg.train.seed, state["epoch"]])
    print(f"graspnet6dof: {sum(p.numel() for p in net.parameters()):,} parameters, {len(train_idx)} train / "
          f"{len(val_idx)} val views, {torch.get_num_threads()} threads", flush=True)
    while state["epoch"] < cfg.train.epochs:
        if cfg.train.max_minutes and state["seconds"] >= 60 * cfg.train.max_minutes:
            print(f"stopped at the budget of {cfg.train.max_minutes:g} min", flush=True)
            break
        t0 = time.perf_counter()
        epoch = state["epoch"] + 1
        net.train()
        order = rng.permutation(train_idx)
        bs = cfg.optim.batch_size
        losses = []
        bar = tqdm(range(0, len(order), bs), desc=f"epoch {epoch}/{cfg.train.epochs}", unit="batch",
                   disable=not progress)
        budget_s = 60 * cfg.train.max_minutes
        for s in bar:
            if budget_s and state["seconds"] + time.perf_counter() - t0 >= budget_s:
                print(f"budget of {cfg.train.max_minutes:g} min reached after {len(losses)} steps of epoch {epoch}",
                      flush=True)
                break
            terms = train_step(net, [ds[int(i)] for i in order[s:s + bs]], opt)
            losses.append(terms["total"])
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if not losses:
            break
        net.eval()
        with torch.no_grad():
            val = [loss_terms(net, [ds[i]]) for i in val_idx]
        val_mean = {k: float(np.mean([v[k] for v in val])) for k in val[0]}
        state["seconds"] += time.perf_counter() - t0
        state["epoch"] = epoch
        state["history"].append({"epoch": epoch, "steps": len(losses), "train_loss": float(np.mean(losses)),
                                 "val": {"loss": val_mean["total"], **{k: v for k, v in val_mean.items()
                                                                       if k != "total"}},
                                 "minutes": round(state["seconds"] / 60, 1)})
        print(f"epoch {epoch}: train loss {np.mean(losses):.4f}, val loss {val_mean['total']:.4f} "
              f"({state['seconds'] / 60:.1f} min)", flush=True)
        if val_mean["total"] < state["best"]:
            state["best"] = val_mean["total"]
            card.metrics = {"epoch": epoch, "val_loss": round(val_mean["total"], 4),
                            "train_minutes": round(state["seconds"] / 60, 1)}
            save_model(out / "model", net, card)
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "state": json.dumps(state)}, ckpt)
        (out / "history.json").write_text(json.dumps(state["history"], indent=1) + "\n")
        save_curves(state["history"], out / "curves.png", "loss")
    return state


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grasp_perception.pointcloud.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        cfg = load_config(a.config)
    except (ConfigError, OSError) as exc:
        p.error(str(exc))
    keep_freed_memory()  # each step's large temporaries stay mapped (grasp_perception.memory)
    state = train(cfg, resume=a.resume, progress=not a.no_progress)
    print(f"best val loss {state['best']:.4f}; model in {Path(cfg.output_dir) / 'model'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
