"""Model files: weights in safetensors plus a small YAML card, loadable from the path alone.

A model directory looks like::

    models/ggcnn2-sim/
        model.safetensors   # tensors only: nothing is unpickled when loading
        card.yaml           # architecture, inputs, bins, crop, normalisation, width scale, data, metrics

``load_model(path)`` accepts the directory, the ``.safetensors`` file or the card, builds the
network named in the card and loads the weights strictly, so any node or tool can run any model
without code changes. A card that does not match its weights is an error naming both files.
A card with ``kind: point_cloud`` is a 6-DoF point-cloud model's (:class:`.pointcloud.model_card.PointCloudCard`);
the same loader reads it and returns that card.

Every card field is checked when the card is read (or built in code): a wrong name, type or value
is a :class:`ModelFileError` naming the card, the field (``postprocess.min_distance``) and what was
expected, never a TypeError later in ``predict`` or ``evaluate``.

Format 2 (this code) differs from format 1 in two fields, which reading a format-1 card migrates:

* ``arch_kwargs.quality_activation`` (``linear`` | ``sigmoid``) is always stated, because the
  post-processing threshold means different things on the two. A format-1 card without it is
  ``linear``, unless it was trained with the focal loss (a sigmoid model): then it must be stated.
* ``normalisation`` names code (``datasets.preprocessing.NORMALISATIONS``, e.g. ``mean_centred``)
  where format 1 had free-text formulas; the formulas of a known normalisation map to its name.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import InitVar, dataclass, field
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file

from .card_checks import ModelFileError, check_fields, check_network_options, required_fields
from .card_checks import bad as _bad
from .config import ConfigError, PostprocessConfig, build_dataclass
from .datasets import CHANNELS, CROPS
from .datasets.preprocessing import DEFAULT_NORMALISATION, NORMALISATIONS
from .networks import available_networks, build_network, network_class
from .networks.base import QUALITY_ACTIVATIONS
from .pointcloud.model_card import KIND as POINT_CLOUD, PointCloudCard
from .postprocess import check_parameters

CARD_NAME = "card.yaml"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 2


@dataclass
class ModelCard:
    """Everything needed to run a model on a new image, and where it came from.

    ``source`` (not a field) names where the values came from, for error messages.
    """

    name: str
    architecture: str                 # a name in the networks registry
    inputs: str                       # depth | rgb | rgbd (rgbd channel order: depth, r, g, b)
    n_bins: int
    input_size: int                   # network input side in pixels
    crop: str                         # resize (whole image -> input_size) | center (centre crop)
    max_width_px: float               # width head x max_width_px = opening in input pixels
    # Metres per network-input pixel on the work surface in training (surface depth / focal length); the
    # predictor rescales other cameras' frames to it (metric_scale). None: not recorded, frames used as they come.
    metres_per_pixel: float | None = None
    # Options of the network class; quality_activation is always there (linear when not given in code).
    arch_kwargs: dict = field(default_factory=dict)
    inpaint: bool = True
    normalisation: str = DEFAULT_NORMALISATION  # a name in datasets.preprocessing.NORMALISATIONS
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    training_data: str = ""
    training_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    notes: str = ""
    format_version: int = FORMAT_VERSION
    source: InitVar[str] = "model card"

    def __post_init__(self, source: str):
        _check_card(self, source)

    @property
    def in_channels(self) -> int:
        return CHANNELS[self.inputs]

    @property
    def quality_activation(self) -> str:
        return self.arch_kwargs["quality_activation"]

    def to_dict(self) -> dict:
        """The card as plain YAML-ready values, in the current format."""
        return {**dataclasses.asdict(self), "format_version": FORMAT_VERSION}

    @staticmethod
    def from_dict(values: dict, source: str) -> "ModelCard":
        # format_version has a default for cards built in code; a file must say which format it is.
        check_fields(values, ModelCard, source, required_fields(ModelCard) | {"format_version"})
        version = values["format_version"]
        _check_version(version, source)
        if version == 1:
            values = _migrate_format_1(values, source)
        elif isinstance(values.get("arch_kwargs"), dict) and "quality_activation" not in values["arch_kwargs"]:
            raise ModelFileError(f"{source}: arch_kwargs.quality_activation is missing: a format-{version} card "
                                 f"states the quality activation, one of {list(QUALITY_ACTIVATIONS)}")
        return ModelCard(**values, source=source)


def _check_version(version, source: str) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad(source, "format_version", "an integer >= 1", version)
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{source}: format_version {version} is newer than this code understands "
                             f"({FORMAT_VERSION}); update grasp_perception")


def _trained_with_focal_loss(training_config) -> bool:
    loss = training_config.get("loss") if isinstance(training_config, dict) else None
    return isinstance(loss, dict) and loss.get("kind") == "focal"


def _migrate_format_1(values: dict, source: str) -> dict:
    """A format-1 card's values in format 2 (see the module docstring), or a ModelFileError."""
    values = dict(values)
    # Format 1 wrote the formulas as free text; a card without them had the default ones.
    formulas = values.get("normalisation", NORMALISATIONS[DEFAULT_NORMALISATION].formulas)
    names = [name for name, n in NORMALISATIONS.items() if n.formulas == formulas]
    if not names:
        raise ModelFileError(
            f"{source}: normalisation {formulas!r} is not one this code implements; expected the formulas of "
            + " or ".join(f"{name!r} ({n.formulas})" for name, n in NORMALISATIONS.items())
            + f", or a format-{FORMAT_VERSION} card naming one")
    values["normalisation"] = names[0]
    arch = values.get("arch_kwargs", {})
    if isinstance(arch, dict) and "quality_activation" not in arch:
        if _trained_with_focal_loss(values.get("training_config")):
            raise ModelFileError(f"{source}: the model was trained with the focal loss (training_config.loss.kind), "
                                 f"so its quality head ends in a sigmoid: the card must state "
                                 f"arch_kwargs.quality_activation: sigmoid")
        values["arch_kwargs"] = {"quality_activation": "linear", **arch}  # format 1's only other case
    values["format_version"] = FORMAT_VERSION
    return values


def _check_card(card: ModelCard, source: str) -> None:
    """Check (and normalise: float widths, typed postprocess) every field of ``card``."""
    for name in ("name", "training_data", "notes"):
        if not isinstance(getattr(card, name), str):
            raise _bad(source, name, "a string", getattr(card, name))
    for name in ("training_config", "metrics"):
        if not isinstance(getattr(card, name), dict):
            raise _bad(source, name, "a mapping", getattr(card, name))
    if card.architecture not in available_networks():
        raise _bad(source, "architecture", f"one of {available_networks()}", card.architecture)
    if card.inputs not in CHANNELS:
        raise _bad(source, "inputs", f"one of {sorted(CHANNELS)}", card.inputs)
    if card.crop not in CROPS:
        raise _bad(source, "crop", f"one of {list(CROPS)}", card.crop)
    for name in ("n_bins", "input_size"):
        value = getattr(card, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _bad(source, name, "an integer >= 1", value)
    w = card.max_width_px
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
        raise _bad(source, "max_width_px", "a number > 0 (pixels)", w)
    card.max_width_px = float(w)
    m = card.metres_per_pixel
    if m is not None:
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or not 0 < m < 0.1:
            raise _bad(source, "metres_per_pixel", "null or a number of metres per pixel in (0, 0.1)", m)
        card.metres_per_pixel = float(m)
    if not isinstance(card.inpaint, bool):
        raise _bad(source, "inpaint", "true or false", card.inpaint)
    if not isinstance(card.normalisation, str) or card.normalisation not in NORMALISATIONS:
        raise _bad(source, "normalisation", f"one of {sorted(NORMALISATIONS)}", card.normalisation)
    _check_version(card.format_version, source)
    card.postprocess = _postprocess(card.postprocess, source)
    card.arch_kwargs = _arch_kwargs(card.architecture, card.arch_kwargs, source)
    if _trained_with_focal_loss(card.training_config) and card.quality_activation != "sigmoid":
        raise ModelFileError(f"{source}: arch_kwargs.quality_activation is {card.quality_activation!r} but the "
                             f"model was trained with the focal loss (training_config.loss.kind), which needs "
                             f"quality_activation: sigmoid")


def _postprocess(value, source: str) -> PostprocessConfig:
    """``PostprocessConfig`` from a mapping (missing fields take its defaults) or a checked instance."""
    if isinstance(value, PostprocessConfig):
        value = dataclasses.asdict(value)
    elif not isinstance(value, dict):
        raise _bad(source, "postprocess", "a mapping of PostprocessConfig fields", value)
    try:
        config = build_dataclass(PostprocessConfig, value, "postprocess", source)
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None
    try:
        check_parameters(**dataclasses.asdict(config))
    except ValueError as exc:  # messages start with the parameter's name
        raise ModelFileError(f"{source}: postprocess.{exc}") from None
    return config


def _arch_kwargs(architecture: str, kwargs, source: str) -> dict:
    """Checked network options: names the class accepts, values of its annotated types."""
    # As build_network: every constructor argument except the two the card has its own fields for.
    check_network_options(network_class(architecture), architecture, kwargs, source, ("in_channels", "n_bins"))
    kwargs = {"quality_activation": "linear", **kwargs}  # the network's default, stated
    if kwargs["quality_activation"] not in QUALITY_ACTIVATIONS:
        raise _bad(source, "arch_kwargs.quality_activation", f"one of {list(QUALITY_ACTIVATIONS)}",
                   kwargs["quality_activation"])
    return kwargs


def build_from_card(card: ModelCard) -> torch.nn.Module:
    return build_network(card.architecture, in_channels=card.in_channels, n_bins=card.n_bins,
                         **card.arch_kwargs)


def save_model(directory: str | Path, network: torch.nn.Module, card: ModelCard | PointCloudCard) -> Path:
    """Write ``model.safetensors`` and ``card.yaml`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in network.state_dict().items()}
    # Write to temporary names first so an interrupted save never leaves a half-written model.
    tmp_weights = directory / (WEIGHTS_NAME + ".tmp")
    tmp_card = directory / (CARD_NAME + ".tmp")
    save_file(state, str(tmp_weights), metadata={"architecture": card.architecture,
                                                 "format_version": str(FORMAT_VERSION)})
    tmp_card.write_text(yaml.safe_dump(_plain(card.to_dict()), sort_keys=False))
    tmp_weights.chmod(0o644)  # safetensors creates the file private; models are shared read-only
    tmp_weights.replace(directory / WEIGHTS_NAME)
    tmp_card.replace(directory / CARD_NAME)
    return directory


def _plain(value):
    """Convert numpy scalars / tuples to plain YAML-safe Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def models_dir() -> Path:
    """Where shipped models live: ``$GRASP_MODELS_DIR``, else the repository's ``models/``."""
    env = os.environ.get("GRASP_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "models"


def _read_pointer(pointer: Path) -> Path:
    """A pointer file (like ``models/default``) holds one model folder name, resolved beside it."""
    name = pointer.read_text().strip()
    if not name or "/" in name or name.startswith("."):
        raise ModelFileError(f"{pointer} must hold one model folder name, got {name!r}")
    return pointer.parent / name


def default_model_path() -> Path:
    """The model the stack uses out of the box, named by the one-line file ``models/default``."""
    pointer = models_dir() / "default"
    if not pointer.is_file():
        raise ModelFileError(f"no default model: {pointer} is missing (it names a folder of {models_dir()})")
    return _read_pointer(pointer)


def resolve_model_path(path: str | Path) -> tuple[Path, Path]:
    """Return ``(card_path, weights_path)`` for a model directory, weights file, card file or pointer file.

    The word ``default`` means the model named by ``models/default``; a small file that is neither a card
    nor weights (``models/default`` itself) is read as a pointer to the folder it names.
    """
    path = default_model_path() if str(path) == "default" else Path(path)
    if path.is_file() and path.suffix not in (".safetensors", ".yaml", ".yml") and path.stat().st_size < 256:
        path = _read_pointer(path)
    if path.is_dir():
        directory = path
    elif path.is_file():
        directory = path.parent
    else:
        raise ModelFileError(f"model path not found: {path} (expected a model directory holding "
                             f"{CARD_NAME} and {WEIGHTS_NAME}, or 'default')")
    card_path, weights_path = directory / CARD_NAME, directory / WEIGHTS_NAME
    if path.suffix == ".safetensors":
        weights_path = path
    for p in (card_path, weights_path):
        if not p.is_file():
            raise ModelFileError(f"model file missing: {p}")
    return card_path, weights_path


def load_card(path: str | Path) -> ModelCard | PointCloudCard:
    card_path, _ = resolve_model_path(path)
    try:
        values = yaml.safe_load(card_path.read_text())
    except yaml.YAMLError as exc:
        raise ModelFileError(f"{card_path}: not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ModelFileError(f"{card_path}: a model card must be a YAML mapping")
    kind = values.pop("kind", "image")
    if kind == POINT_CLOUD:
        return PointCloudCard.from_dict(values, str(card_path))
    if kind != "image":
        raise _bad(str(card_path), "kind", f"'image' (or absent) or {POINT_CLOUD!r}", kind)
    return ModelCard.from_dict(values, str(card_path))


def load_model(path: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[torch.nn.Module, ModelCard | PointCloudCard]:
    """Build the network described by the card and load its safetensors weights (strict)."""
    card_path, weights_path = resolve_model_path(path)
    card = load_card(card_path)
    try:
        network = card.build() if isinstance(card, PointCloudCard) else build_from_card(card)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{card_path}: cannot build the network it describes: {exc}") from exc
    try:
        state = load_file(str(weights_path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ModelFileError(f"{weights_path}: not a readable safetensors file: {exc}") from exc
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        details = []
        if missing:
            details.append(f"missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            details.append(f"unexpected tensors {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        for k in wrong_shape[:5]:
            details.append(f"{k}: weights {tuple(state[k].shape)} vs card {tuple(expected[k].shape)}")
        shape = "" if isinstance(card, PointCloudCard) else f"inputs={card.inputs}, n_bins={card.n_bins}, "
        raise ModelFileError(
            f"card {card_path} does not match weights {weights_path} "
            f"(architecture={card.architecture}, {shape}arch_kwargs={card.arch_kwargs}): " + "; ".join(details))
    network.load_state_dict(state, strict=True)
    network.to(device).eval()
    return network, card
