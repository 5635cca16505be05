"""Typed training configuration read from ``config/train/<name>.yaml``.

The YAML file is the single source of truth for a training run: every setting lives here, the
CLI only overrides it (``--set section.key=value``), and the resolved config is copied into the
run directory and into the model card so a model always says how it was made.

Unknown or mistyped keys, and lists of the wrong length, are errors that name the file and the key
path. A missing key takes the default written beside it below (the dataclass field); the README's
config reference lists them.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .datasets import CHANNELS, CROPS
from .losses import KINDS as LOSS_KINDS
from .maps import DEFAULT_SIGMA, KINDS as MAP_KINDS
from .networks import head_of


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the file and key."""


@dataclass
class ModelConfig:
    architecture: str = "ggcnn2"          # name in grasp_perception.networks registry
    inputs: str = "depth"                 # depth | rgb | rgbd
    n_bins: int = 1                       # angle bins (1, 3, 18 ...)
    kwargs: dict = field(default_factory=dict)  # extra network arguments (channel_size, dropout, ...)
    # A model folder whose weights start the training (fine-tuning; "" = random initialisation). Its card must
    # describe the same network (architecture, inputs, bins, options).
    init_from: str = ""


@dataclass
class SplitConfig:
    # image | object | overfit (overfit: train = val = test = every sample; for sanity checks only)
    mode: str = "image"
    fractions: list = field(default_factory=lambda: [0.8, 0.1, 0.1])  # train, val, test
    seed: int = 0
    k_folds: int = 0                      # 0 = plain split by fractions; k >= 2 = k-fold
    fold: int = 0


@dataclass
class AugmentConfig:
    enabled: bool = True
    rotation_deg: float = 180.0
    zoom: list = field(default_factory=lambda: [0.8, 1.0])
    flip: bool = True
    translation_px: float = 20.0


@dataclass
class DataConfig:
    dataset: str = "jacquard"             # jacquard | cornell (synthetic data is Jacquard format)
    root: str = ""
    depth: str = "perfect"                # jacquard: perfect | stereo
    input_size: int = 300
    crop: str = "resize"                  # resize (whole image, Jacquard) | center (Cornell)
    inpaint: bool = True
    jaw_dedupe: str = "min"               # training targets: min | max | none
    cache: bool = False                   # keep cut samples in memory (small datasets only)
    limit: int = 0                        # use only the first N scenes (0 = all): quick experiments
    max_train_grasps: int = 0             # build training targets from at most N grasps per image (0 = all)
    # Metres per pixel of the images on the work surface (centre crop only), recorded in the card so that the
    # predictor can rescale other cameras to it. None: the dataset's generation.json value if it has one.
    metres_per_pixel: float | None = None
    split: SplitConfig = field(default_factory=SplitConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class TargetConfig:
    map: str = "strong"                   # binary | soft | strong (Gaussian-maps paper)
    # The paper's sigma: Q = exp(-d^2 / sigma) (authors' code), not exp(-d^2 / (2 sigma^2)).
    # None = the map's own default (maps.DEFAULT_SIGMA: soft 2, ORANGE's; strong 0.5, the paper's best).
    sigma: float | None = None
    max_width_px: float = 150.0           # width normalisation, used both ways
    enhance: bool = True                  # pixel-level head: PLGP's eight-neighbourhood label copies (0.9)

    def resolved_sigma(self) -> float | None:
        return self.sigma if self.sigma is not None else DEFAULT_SIGMA.get(self.map)


@dataclass
class LossWeights:
    # L = quality * N * L(Q) + angle * (L(cos) + L(sin)) + width * L(W); all 1 = Gaussian-maps eq. 8.
    quality: float = 1.0
    angle: float = 1.0
    width: float = 1.0


@dataclass
class LossConfig:
    kind: str = "mse"                     # mse | smooth_l1 | focal
    positional: bool = True               # eq. 9 of the Gaussian-maps paper
    focal_alpha: float = 0.95
    focal_gamma: float = 2.0
    weights: LossWeights = field(default_factory=LossWeights)


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 8
    # ReduceLROnPlateau on the early-stopping metric (ORANGE used factor 0.3)
    plateau_factor: float = 0.3
    plateau_patience: int = 3


@dataclass
class EarlyStoppingConfig:
    metric: str = "iou_0.25"              # validation metric to maximise
    patience: int = 10


@dataclass
class PostprocessConfig:
    quality_sigma: float = 2.0
    angle_sigma: float = 2.0
    width_sigma: float = 1.0
    min_distance: int = 20
    threshold: float = 0.1
    jaw_ratio: float = 0.5                # predicted jaw = width * jaw_ratio ("half jaw")


@dataclass
class TrainConfig:
    epochs: int = 50
    batches_per_epoch: int = 0            # 0 = the whole training split each epoch
    val_every: int = 1
    num_workers: int = 0
    seed: int = 0
    device: str = "auto"                  # auto | cpu | cuda
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    output_dir: str = "runs/experiment"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_CHOICES = {
    "model.inputs": tuple(CHANNELS),
    "data.dataset": ("jacquard", "cornell"),
    "data.depth": ("perfect", "stereo"),
    "data.crop": CROPS,
    "data.jaw_dedupe": ("min", "max", "none"),
    "data.split.mode": ("image", "object", "overfit"),
    "targets.map": MAP_KINDS,
    "loss.kind": LOSS_KINDS,
    "train.device": ("auto", "cpu", "cuda"),
}
# Lists of a fixed length of numbers: (length, what the entries are).
_NUMBER_LISTS = {
    "data.split.fractions": (3, "train, val, test fractions"),
    "data.augment.zoom": (2, "min, max zoom factors"),
}


def build_dataclass(cls, values: Any, where: str, source: str):
    """Recursively build dataclass ``cls`` from a mapping, rejecting unknown/mistyped keys; errors name
    ``source`` and the key path below ``where``. Also used for the model card's typed sections."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: '{where or 'top level'}' must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(_join(where, k) for k in unknown)}; "
                          f"expected one of {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        path = _join(where, name)
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = build_dataclass(hint, value, path, source)
            continue
        kwargs[name] = _coerce(value, hint, path, source)
        if path in _CHOICES and kwargs[name] not in _CHOICES[path]:
            raise ConfigError(f"{source}: {path} must be one of {_CHOICES[path]}, got {value!r}")
        if path in _NUMBER_LISTS:
            kwargs[name] = _number_list(kwargs[name], path, source)
    return cls(**kwargs)


def _number_list(value: list, path: str, source: str) -> list:
    length, what = _NUMBER_LISTS[path]
    if len(value) != length or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"{source}: {path} must be a list of {length} numbers ({what}), got {value!r}")
    return [float(v) for v in value]


def _check(cfg: "ExperimentConfig", source: str) -> "ExperimentConfig":
    """Checks that involve more than one key."""
    fractions = cfg.data.split.fractions
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"{source}: data.split.fractions must be >= 0 and sum to 1, got {fractions}")
    lo, hi = cfg.data.augment.zoom
    if not 0 < lo <= hi:
        raise ConfigError(f"{source}: data.augment.zoom must be [min, max] with 0 < min <= max, got {[lo, hi]}")
    if cfg.loss.kind == "focal" and cfg.model.kwargs.get("quality_activation") != "sigmoid":
        # The loss is computed from logits; inference must then see probabilities, not raw logits.
        raise ConfigError(f"{source}: loss.kind focal needs model.kwargs.quality_activation: sigmoid")
    try:  # an unknown architecture or head is named here, before any data is read
        head = head_of(cfg.model.architecture, cfg.model.kwargs)
    except ValueError as exc:
        raise ConfigError(f"{source}: model: {exc}") from None
    if head == "pixel_level" and cfg.loss.kind != "focal":
        # PLGP eq. 16 is a focal loss on all three maps; loss.weights are its betas.
        raise ConfigError(f"{source}: model.kwargs.head pixel_level trains with loss.kind focal, got {cfg.loss.kind!r}")
    for name in ("quality", "angle", "width"):
        if getattr(cfg.loss.weights, name) < 0:
            raise ConfigError(f"{source}: loss.weights.{name} must be >= 0, got {getattr(cfg.loss.weights, name)}")
    if cfg.targets.sigma is not None and not cfg.targets.sigma > 0:
        raise ConfigError(f"{source}: targets.sigma must be > 0 (or omitted for the map's default), "
                          f"got {cfg.targets.sigma}")
    return cfg


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _coerce(value, hint, path: str, source: str):
    args = typing.get_args(hint)
    if type(None) in args:  # Optional[X]: None, or an X
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint) or hint
    if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if origin is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if origin in (str, bool, list, dict) and isinstance(value, origin):
        return value
    expected = getattr(origin, "__name__", str(origin))
    raise ConfigError(f"{source}: {path} must be {expected}, got {value!r} ({type(value).__name__})")


def config_from_dict(values: dict, source: str = "<dict>") -> ExperimentConfig:
    return _check(build_dataclass(ExperimentConfig, values, "", source), source)


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML experiment config and apply ``key.path=value`` overrides (values parsed as YAML)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return config_from_dict(values, source=str(path))
