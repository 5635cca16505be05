"""Turn an experiment config into dataset sources, splits and torch datasets.

Shared by ``train`` (train/val splits) and ``evaluate`` (a saved split or a whole folder), so the
two always prepare images the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .config import DataConfig, ExperimentConfig, config_from_dict
from .datasets import (Augment, CornellSource, GraspDataset, JacquardSource, dedupe_jaw,
                       image_wise_split, k_folds, object_wise_split)
from .heads import build_targets


def make_source(dataset: str, root: str | Path, depth: str = "perfect"):
    """A file-format loader for ``dataset`` rooted at ``root``."""
    if not str(root).strip():
        # Path("") is the current directory: the loaders would index it recursively.
        raise ValueError("no dataset root given (data.root / --root is empty)")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root not found: {root} (data.root / --root)")
    if dataset == "jacquard":
        return JacquardSource(root, depth=depth)
    if dataset == "cornell":
        return CornellSource(root)
    raise ValueError(f"unknown dataset {dataset!r}: expected 'jacquard' or 'cornell'")


def make_splits(source, cfg: DataConfig) -> dict[str, np.ndarray]:
    """Train/val/test index arrays, deterministic by ``cfg.split.seed``."""
    split = cfg.split
    n = min(len(source), cfg.limit) if cfg.limit else len(source)
    if split.mode == "overfit":
        everything = np.arange(n)
        return {"train": everything, "val": everything, "test": everything}
    by_object = split.mode == "object"
    object_ids = [source.object_id(i) for i in range(n)]
    if split.k_folds:
        train, val, test = k_folds(object_ids if by_object else n, k=split.k_folds, fold=split.fold,
                                   seed=split.seed, by_object=by_object)
    elif by_object:
        train, val, test = object_wise_split(object_ids, tuple(split.fractions), seed=split.seed)
    else:
        train, val, test = image_wise_split(n, tuple(split.fractions), seed=split.seed)
    return {"train": np.asarray(train), "val": np.asarray(val), "test": np.asarray(test)}


def target_builder(cfg: ExperimentConfig):
    """Callable (grasps, shape) -> dict of target maps, as the dataset expects."""
    jaw = cfg.data.jaw_dedupe

    def build(grasps, shape):
        # Jacquard repeats a grasp once per jaw size; the maps need it once (evaluation keeps all).
        if jaw != "none":
            grasps = dedupe_jaw(grasps, jaw)
        return build_targets(cfg, grasps, shape)

    return build


def make_dataset(source, indices, cfg: ExperimentConfig, *, train: bool, cache: bool = False) -> GraspDataset:
    data = cfg.data
    augment = None
    if train and data.augment.enabled:
        a = data.augment
        augment = Augment(rotation_deg=a.rotation_deg, zoom=tuple(a.zoom), flip=a.flip,
                          translation_px=a.translation_px)
    return GraspDataset(source, indices, input_size=data.input_size, channels=cfg.model.inputs,
                        crop=data.crop, inpaint=data.inpaint, augment=augment, seed=cfg.train.seed,
                        target_fn=target_builder(cfg), cache=cache,
                        max_train_grasps=data.max_train_grasps if train else 0)


def dataset_for_card(card, dataset: str, root, depth: str, indices=None):
    """The evaluation dataset of ``root``, prepared exactly as the card says the model was trained."""
    source = make_source(dataset, root, depth)
    indices = np.arange(len(source)) if indices is None else np.asarray(indices)
    if len(indices) == 0:
        raise ValueError(f"no images to evaluate in {root}")
    cfg = config_from_dict({"model": {"architecture": card.architecture, "inputs": card.inputs,
                                      "n_bins": card.n_bins},
                            "data": {"dataset": dataset, "root": str(root), "depth": depth,
                                     "input_size": card.input_size, "crop": card.crop,
                                     "inpaint": card.inpaint, "jaw_dedupe": "none"},
                            "targets": {"max_width_px": float(card.max_width_px)}})
    return make_dataset(source, indices, cfg, train=False)


def save_split(path: Path, source, splits: dict[str, np.ndarray], cfg: DataConfig) -> None:
    """Record the split by sample id, so evaluation later uses exactly the held-out scenes."""
    payload = {"dataset": cfg.dataset, "root": str(cfg.root), "depth": cfg.depth,
               **{name: [source.sample_id(int(i)) for i in idx] for name, idx in splits.items()}}
    path.write_text(json.dumps(payload, indent=1))


def indices_from_split_file(source, split_file: str | Path, split: str) -> np.ndarray:
    payload = json.loads(Path(split_file).read_text())
    if split not in payload:
        raise ValueError(f"{split_file}: no split named {split!r} (have {sorted(k for k in payload if isinstance(payload[k], list))})")
    by_id = {source.sample_id(i): i for i in range(len(source))}
    missing = [s for s in payload[split] if s not in by_id]
    if missing:
        raise ValueError(f"{split_file}: {len(missing)} sample(s) of split {split!r} are not in the "
                         f"dataset root, e.g. {missing[:3]}")
    return np.array([by_id[s] for s in payload[split]], dtype=np.int64)
