"""Model files: weights in safetensors plus a small YAML card, loadable from the path alone.

A model directory looks like::

    models/ggcnn2-sim/
        model.safetensors   # tensors only: nothing is unpickled when loading
        card.yaml           # architecture, inputs, bins, crop, normalisation, width scale, data, metrics

``load_model(path)`` accepts the directory, the ``.safetensors`` file or the card, builds the
network named in the card and loads the weights strictly, so any node or tool can run any model
without code changes. A card that does not match its weights is an error naming both files.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file

from .networks import build_network

CARD_NAME = "card.yaml"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1
_INPUT_CHANNELS = {"depth": 1, "rgb": 3, "rgbd": 4}


class ModelFileError(ValueError):
    """A model directory, card or weights file is missing, malformed or inconsistent."""


@dataclass
class ModelCard:
    """Everything needed to run a model on a new image, and where it came from."""

    name: str
    architecture: str
    inputs: str                       # depth | rgb | rgbd (rgbd channel order: depth, r, g, b)
    n_bins: int
    input_size: int                   # network input side in pixels
    crop: str                         # resize (whole image -> input_size) | center (centre crop)
    max_width_px: float               # width head x max_width_px = opening in input pixels
    arch_kwargs: dict = field(default_factory=dict)
    inpaint: bool = True
    normalisation: dict = field(default_factory=lambda: {
        "depth": "clip(depth_m - mean(depth_m), -1, 1)",
        "rgb": "rgb / 255 - mean(rgb / 255)",
    })
    postprocess: dict = field(default_factory=dict)  # PostprocessConfig fields
    training_data: str = ""
    training_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    notes: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def in_channels(self) -> int:
        return _INPUT_CHANNELS[self.inputs]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(values: dict, source: str) -> "ModelCard":
        if not isinstance(values, dict):
            raise ModelFileError(f"{source}: a model card must be a YAML mapping")
        names = {f.name for f in dataclasses.fields(ModelCard)}
        required = {f.name for f in dataclasses.fields(ModelCard)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        missing = sorted(required - set(values))
        if missing:
            raise ModelFileError(f"{source}: missing field(s) {missing}")
        unknown = sorted(set(values) - names)
        if unknown:
            raise ModelFileError(f"{source}: unknown field(s) {unknown}")
        card = ModelCard(**values)
        if card.inputs not in _INPUT_CHANNELS:
            raise ModelFileError(f"{source}: field 'inputs' must be one of {sorted(_INPUT_CHANNELS)}, "
                                 f"got {card.inputs!r}")
        if card.crop not in ("resize", "center"):
            raise ModelFileError(f"{source}: field 'crop' must be 'resize' or 'center', got {card.crop!r}")
        for key in ("n_bins", "input_size"):
            if not isinstance(getattr(card, key), int) or getattr(card, key) < 1:
                raise ModelFileError(f"{source}: field '{key}' must be a positive integer, "
                                     f"got {getattr(card, key)!r}")
        if not float(card.max_width_px) > 0:
            raise ModelFileError(f"{source}: field 'max_width_px' must be > 0, got {card.max_width_px!r}")
        if card.format_version > FORMAT_VERSION:
            raise ModelFileError(f"{source}: format_version {card.format_version} is newer than this "
                                 f"code understands ({FORMAT_VERSION}); update grasp_perception")
        return card


def build_from_card(card: ModelCard) -> torch.nn.Module:
    return build_network(card.architecture, in_channels=card.in_channels, n_bins=card.n_bins,
                         **card.arch_kwargs)


def save_model(directory: str | Path, network: torch.nn.Module, card: ModelCard) -> Path:
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


def load_card(path: str | Path) -> ModelCard:
    card_path, _ = resolve_model_path(path)
    try:
        values = yaml.safe_load(card_path.read_text())
    except yaml.YAMLError as exc:
        raise ModelFileError(f"{card_path}: not valid YAML: {exc}") from exc
    return ModelCard.from_dict(values, str(card_path))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelCard]:
    """Build the network described by the card and load its safetensors weights (strict)."""
    card_path, weights_path = resolve_model_path(path)
    card = load_card(card_path)
    try:
        network = build_from_card(card)
    except ValueError as exc:
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
        raise ModelFileError(
            f"card {card_path} does not match weights {weights_path} "
            f"(architecture={card.architecture}, inputs={card.inputs}, n_bins={card.n_bins}, "
            f"arch_kwargs={card.arch_kwargs}): " + "; ".join(details))
    network.load_state_dict(state, strict=True)
    network.to(device).eval()
    return network, card
