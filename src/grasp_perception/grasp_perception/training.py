"""The training loop of a generative grasp network (the library behind ``grasp_perception.cli.train``).

``train(cfg)`` writes into ``cfg.output_dir``: ``config.yaml`` (resolved), ``split.json`` (sample ids per
split), ``tb/`` (TensorBoard), ``checkpoints/last.pt`` (resume), ``model/`` (best model by the validation
metric: safetensors + card, whose metrics are that epoch's), ``history.json`` and ``curves.png``. Early
stopping and learning-rate decay watch the validation split only; the test split is evaluated once at the
end with the best model and recorded.
"""
from __future__ import annotations

import json
import math
import os
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from .config import ConfigError, ExperimentConfig
from .data_setup import make_dataset, make_source, make_splits, save_split
from .datasets import collate_items
from .evaluation import evaluate_network, format_table, merge_summaries
from .inference import resolve_device
from .heads import as_targets, head_of, make_loss
from .model_io import ModelCard, ModelFileError, build_from_card, load_model, save_model
from .networks import count_parameters
from .pixel_level import label_balance, pixel_level_targets


class Distributed:
    """Rank/world-size bookkeeping; a no-op when not launched by torchrun."""

    def __init__(self, device: torch.device):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world_size > 1
        if self.enabled and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather(self, obj):
        if not self.enabled:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self):
        if self.enabled and dist.is_initialized():
            dist.barrier()  # let rank 0 finish the test evaluation before tearing down
            dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def dataset_metres_per_pixel(cfg: ExperimentConfig) -> float | None:
    """The training images' metric scale: ``data.metres_per_pixel``, else the ``metres_per_pixel`` the simulator's
    generator wrote into the dataset's ``generation.json``; None for a resized input (no single scale) or when
    neither says."""
    if cfg.data.crop != "center":
        return None
    if cfg.data.metres_per_pixel is not None:
        return cfg.data.metres_per_pixel
    status = Path(cfg.data.root) / "generation.json"
    if not status.is_file():
        return None
    try:
        value = json.loads(status.read_text()).get("metres_per_pixel")
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{status}: unreadable ({exc}); set data.metres_per_pixel in the config instead") from None
    return None if value is None else float(value)


def card_for(cfg: ExperimentConfig, metrics: dict | None = None) -> ModelCard:
    return ModelCard(metres_per_pixel=dataset_metres_per_pixel(cfg),
        name=cfg.name, architecture=cfg.model.architecture, inputs=cfg.model.inputs,
        n_bins=cfg.model.n_bins, input_size=cfg.data.input_size, crop=cfg.data.crop,
        max_width_px=cfg.targets.max_width_px, arch_kwargs=dict(cfg.model.kwargs),
        inpaint=cfg.data.inpaint, postprocess=cfg.postprocess,
        training_data=f"{cfg.data.dataset}:{cfg.data.root} (depth={cfg.data.depth}, split={cfg.data.split.mode})",
        training_config=cfg.to_dict(), metrics=metrics or {})


def save_curves(history: list[dict], path: Path, metric: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    val = [(h["epoch"], h["val"]["loss"]) for h in history if "val" in h and "loss" in h["val"]]
    if val:
        ax1.plot(*zip(*val), label="val")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("loss"), ax1.set_yscale("log"), ax1.legend()
    for key in ("iou_0.25", "iou_0.50", "iou_avg"):
        pts = [(h["epoch"], h["val"][key]) for h in history if "val" in h and key in h["val"]]
        if pts:
            ax2.plot(*zip(*pts), label=f"val {key}")
    ax2.set_xlabel("epoch"), ax2.set_ylim(0, 1.02), ax2.set_title(f"early stopping on val {metric}")
    if ax2.lines:
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def prepare_head(cfg: ExperimentConfig, dataset, n_images: int = 200) -> dict:
    """What a head needs to know of the training labels before training, from up to ``n_images`` evenly
    spaced training images (unaugmented, network-input pixels):

    * anchor head: the mean ground-truth box (opening, jaw) becomes the anchors' size unless the config sets
      ``model.kwargs.anchor_width`` / ``anchor_height``; it is written into ``cfg.model.kwargs``, so the card
      records it (the paper computes it over the training set before training);
    * pixel-level head: PLGP's positive:negative ratio before and after the eight-neighbourhood enhancement.
    """
    head = head_of(cfg.model.architecture, cfg.model.kwargs)
    if head == "generative" or len(dataset) == 0:
        return {}
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(n_images, len(dataset))).round().astype(int))
    per_image = [dataset.grasps(int(k)) for k in picks]  # each a disk read and a cut: once per image
    grasps = [g for labels in per_image for g in labels]
    if head == "anchor":
        kwargs = cfg.model.kwargs
        if grasps and not {"anchor_width", "anchor_height"} <= set(kwargs):
            kwargs["anchor_width"] = round(float(np.mean([g.width for g in grasps])), 2)
            kwargs["anchor_height"] = round(float(np.mean([max(g.jaw, 1.0) for g in grasps])), 2)
        return {"anchor_width": kwargs.get("anchor_width"), "anchor_height": kwargs.get("anchor_height"),
                "summary": f"anchor box: {kwargs.get('anchor_width')} x {kwargs.get('anchor_height')} px "
                           f"(opening x jaw; mean of {len(grasps)} labels in {len(picks)} training images)"}
    size = (dataset.input_size, dataset.input_size)
    counts = {}
    for enhance in (False, True):
        pos = neg = 0
        for labels in per_image:
            p, n = label_balance(pixel_level_targets(labels, size, n_classes=cfg.model.n_bins,
                                                     max_width=cfg.targets.max_width_px, enhance=enhance))
            pos, neg = pos + p, neg + n
        counts[enhance] = neg / max(pos, 1)
    return {"negatives_per_positive": counts[False], "negatives_per_positive_enhanced": counts[True],
            "summary": f"labels: positive:negative 1:{counts[False]:.0f}, 1:{counts[True]:.0f} after the "
                       f"eight-neighbourhood enhancement ({len(picks)} training images; PLGP: 1:1439 -> 1:317)"}


def init_weights(network: torch.nn.Module, card: ModelCard, folder: str) -> None:
    """Load the weights of the model folder ``folder`` (``model.init_from``) into ``network``, built from
    ``card``: the two must describe the same network."""
    try:
        source, source_card = load_model(folder)
    except (FileNotFoundError, ModelFileError) as exc:
        raise ConfigError(f"model.init_from {folder!r}: {exc}") from None
    fields = ("architecture", "inputs", "n_bins", "arch_kwargs")
    differ = [f"{f}: {getattr(source_card, f, None)!r} there, {getattr(card, f)!r} here" for f in fields
              if getattr(source_card, f, None) != getattr(card, f)]
    if differ:
        raise ConfigError(f"model.init_from {folder!r} is another network than this config's model "
                          f"({'; '.join(differ)})")
    network.load_state_dict(source.state_dict(), strict=True)


def train(cfg: ExperimentConfig, resume: bool = False, progress: bool = True) -> dict:
    """Run a whole training job; returns the final summary (also written to ``history.json``)."""
    device = resolve_device(cfg.train.device)
    ddp = Distributed(device)
    if device.type == "cuda" and ddp.enabled:
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    seed_everything(cfg.train.seed + ddp.rank)
    # Record the sigma the maps really use (None = the map's default), so config.yaml and the card say it.
    cfg.targets.sigma = cfg.targets.resolved_sigma()
    out = Path(cfg.output_dir)
    ckpt_path = out / "checkpoints" / "last.pt"
    if ddp.is_main:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        if not resume and ckpt_path.exists():
            raise FileExistsError(f"{out} already holds a training run: pass --resume to continue it, "
                                  f"or choose another output_dir")
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    source = make_source(cfg.data.dataset, cfg.data.root, cfg.data.depth)
    splits = make_splits(source, cfg.data)
    for name in ("train", "val"):
        if len(splits[name]) == 0:
            raise ValueError(f"the {name} split is empty ({len(source)} samples, "
                             f"data.split={asdict(cfg.data.split)}); add data or change the fractions")
    if ddp.is_main:
        save_split(out / "split.json", source, splits, cfg.data)
    cache = cfg.data.cache
    train_set = make_dataset(source, splits["train"], cfg, train=True, cache=cache)
    n_val = len(splits["val"])
    # Each rank validates a strided shard; the summaries are merged by image count.
    val_shard = make_dataset(source, splits["val"][ddp.rank::ddp.world_size], cfg, train=False, cache=cache)

    head_facts = prepare_head(cfg, train_set)
    if ddp.is_main and head_facts:
        print(head_facts["summary"], flush=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # with the anchor box
    card = card_for(cfg)
    network = build_from_card(card)
    if cfg.model.init_from and not resume:  # a resumed run has its own weights in the checkpoint
        init_weights(network, card, cfg.model.init_from)
    network = network.to(device)
    if ddp.is_main:
        print(f"{cfg.model.architecture}: {count_parameters(network):,} parameters, "
              f"{len(train_set)} train / {n_val} val images, device {device}, "
              f"world size {ddp.world_size}", flush=True)
    model = torch.nn.parallel.DistributedDataParallel(network) if ddp.enabled else network
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, mode="max", factor=cfg.optim.plateau_factor, patience=cfg.optim.plateau_patience)
    head = head_of(cfg.model.architecture, cfg.model.kwargs)
    loss_fn = make_loss(cfg)

    # best_val: the validation summary of the epoch whose weights are in model/ (the card reports it).
    state = {"epoch": 0, "best": -math.inf, "bad_epochs": 0, "history": [], "best_epoch": 0, "best_val": {}}
    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"--resume given but no checkpoint at {ckpt_path}")
        # weights_only=True: a checkpoint is tensors + plain values; never unpickle arbitrary objects.
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        network.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        state = {k: ckpt[k] for k in ("epoch", "best", "bad_epochs", "best_epoch")}
        state["history"] = json.loads(ckpt["history"])
        state["best_val"] = json.loads(ckpt["best_val"])
        if ddp.is_main:
            print(f"resumed from {ckpt_path} at epoch {state['epoch']}", flush=True)

    if ddp.enabled:
        sampler = DistributedSampler(train_set, num_replicas=ddp.world_size, rank=ddp.rank,
                                     shuffle=True, seed=cfg.train.seed)
    else:
        n_samples = cfg.train.batches_per_epoch * cfg.optim.batch_size or None
        generator = torch.Generator().manual_seed(cfg.train.seed)
        sampler = RandomSampler(train_set, replacement=bool(n_samples and n_samples > len(train_set)),
                                num_samples=n_samples, generator=generator)
    loader = DataLoader(train_set, batch_size=cfg.optim.batch_size, sampler=sampler,
                        num_workers=cfg.train.num_workers, drop_last=False, collate_fn=collate_items)

    writer = None
    if ddp.is_main:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(log_dir=str(out / "tb"))
    metric_name = cfg.train.early_stopping.metric
    # A run that stopped early stays stopped: resuming it (say with more epochs) would train past the stop.
    stop = resume and state["epoch"] > 0 and state["bad_epochs"] >= cfg.train.early_stopping.patience
    if stop and ddp.is_main:
        print(f"{out} stopped early at epoch {state['epoch']} (val {metric_name} did not improve for "
              f"{state['bad_epochs']} validations): nothing to resume; start a new output_dir to train on", flush=True)
    for epoch in range(state["epoch"] + 1, cfg.train.epochs + 1 if not stop else 0):
        model.train()
        train_set.set_epoch(epoch)
        if ddp.enabled:
            sampler.set_epoch(epoch)
        else:
            # The epoch's order depends on (seed, epoch) only, so a resumed run draws what the
            # uninterrupted run would have.
            generator.manual_seed(cfg.train.seed + 1_000_003 * epoch)
        losses, parts_sum = [], {}
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.train.epochs}", disable=not (progress and ddp.is_main),
                   unit="batch", leave=False)
        for step, batch in enumerate(bar):
            if cfg.train.batches_per_epoch and step >= cfg.train.batches_per_epoch:
                break
            x = batch["x"].to(device, non_blocking=True)
            target = as_targets(head, {k: v.to(device, non_blocking=True) for k, v in batch["targets"].items()})
            loss, parts = loss_fn(model(x, logits=loss_fn.needs_logits), target)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch} step {step}; "
                                         f"lower optim.lr or check the data")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + float(v)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        train_loss = float(np.mean(ddp.gather(float(np.mean(losses)) if losses else float("nan"))))
        record = {"epoch": epoch, "train_loss": train_loss, "lr": optimiser.param_groups[0]["lr"],
                  **{f"train_{k}": v / max(len(losses), 1) for k, v in parts_sum.items()}}

        if epoch % cfg.train.val_every == 0 or epoch == cfg.train.epochs:
            summary = evaluate_network(network, val_shard, max_width_px=cfg.targets.max_width_px,
                                       postprocess=cfg.postprocess, device=device,
                                       batch_size=cfg.optim.batch_size, loss_fn=loss_fn)
            summary = merge_summaries(ddp.gather(summary))
            record["val"] = summary
            if metric_name not in summary:
                raise ConfigError(f"train.early_stopping.metric {metric_name!r} is not a validation "
                                  f"metric; choose one of {sorted(summary)}")
            value = summary[metric_name] if metric_name != "loss" else -summary["loss"]
            scheduler.step(value)
            improved = value > state["best"] + 1e-6
            if improved:
                state.update(best=value, bad_epochs=0, best_epoch=epoch, best_val=summary)
                if ddp.is_main:
                    save_model(out / "model", network, card_for(cfg, {"val": summary, "epoch": epoch}))
            else:
                state["bad_epochs"] += 1
            stop = state["bad_epochs"] >= cfg.train.early_stopping.patience
        state["history"].append(record)
        state["epoch"] = epoch

        if ddp.is_main:
            writer.add_scalar("loss/train", train_loss, epoch)
            writer.add_scalar("lr", record["lr"], epoch)
            for k, v in record.get("val", {}).items():
                writer.add_scalar(f"val/{k}", v, epoch)
            torch.save({"model": network.state_dict(), "optimizer": optimiser.state_dict(),
                        "scheduler": scheduler.state_dict(), "epoch": epoch, "best": state["best"],
                        "bad_epochs": state["bad_epochs"], "best_epoch": state["best_epoch"],
                        "best_val": json.dumps(state["best_val"]), "history": json.dumps(state["history"])},
                       ckpt_path.with_suffix(".tmp"))
            ckpt_path.with_suffix(".tmp").replace(ckpt_path)  # atomic: an interrupt keeps the last good one
            val_txt = (f", val loss {record['val'].get('loss', float('nan')):.4f}, "
                       f"val {metric_name} {record['val'][metric_name]:.3f}") if "val" in record else ""
            print(f"epoch {epoch}: train loss {train_loss:.4f}{val_txt}", flush=True)
            save_curves(state["history"], out / "curves.png", metric_name)
        if stop:
            if ddp.is_main:
                print(f"early stopping: val {metric_name} did not improve for "
                      f"{cfg.train.early_stopping.patience} validations", flush=True)
            break

    result = {"epochs_run": state["epoch"], "best_val": state["best"], "best_epoch": state["best_epoch"],
              "history": state["history"], **({"labels": head_facts} if head_facts else {})}
    if ddp.is_main and len(splits["test"]):
        # Test split: evaluated once with the best model, recorded, never used for decisions.
        from .model_io import load_model
        best, _ = load_model(out / "model", device=device)
        test_set = make_dataset(source, splits["test"], cfg, train=False)
        test = evaluate_network(best, test_set, max_width_px=cfg.targets.max_width_px,
                                postprocess=cfg.postprocess, device=device,
                                batch_size=cfg.optim.batch_size)
        result["test"] = test
        # The card describes the weights it ships with: the best epoch's validation, not the last epoch's.
        best_card = card_for(cfg, {"val": state["best_val"], "epoch": state["best_epoch"], "test": test})
        save_model(out / "model", best, best_card)
        print(format_table(test, title=f"test split ({len(test_set)} images), best model"), flush=True)
    if ddp.is_main:
        (out / "history.json").write_text(json.dumps(result, indent=1))
        writer.close()
        print(f"model written to {out / 'model'}", flush=True)
    ddp.close()
    return result
