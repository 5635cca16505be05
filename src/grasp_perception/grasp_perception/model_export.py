"""Model export to TorchScript or ONNX (fp32, or int8 calibrated on recorded frames), checked against
PyTorch; the command is ``python -m grasp_perception.export`` (:mod:`grasp_perception.cli.export`).

The exported graph takes a (B, C, S, S) float32 input prepared as the model card says, and returns
quality, cos, sin, width maps (B, n_bins, S, S). The card is copied beside an export written with ``--out``.

The onnxruntime and OpenVINO backends export on first use into the export cache
(``$GRASP_CACHE_DIR``, else ``$XDG_CACHE_HOME/grasp_stack``, else ``~/.cache/grasp_stack``), one file
per model content, input size and precision, so a changed model never runs a stale export. Without
``--out``, the command writes into the same cache. int8 exports are only made by the command: the
quantisation scales come from real frames (``FRAMES.npz`` with ``depth`` (N, H, W) metres and, for
colour models, ``rgb`` (N, H, W, 3); ``python -m grasp_sim.record_frames`` writes one from the
simulated cell), and the command reports the int8 maps' difference from fp32 on those frames.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .heads import head_of, output_names
from .model_io import CARD_NAME, ModelCard, ModelFileError, load_model, resolve_model_path

OPSET = 17
FP32_TOLERANCE = 1e-4   # max |export - pytorch| on any map before an fp32 export is refused


def cache_dir() -> Path:
    env = os.environ.get("GRASP_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grasp_stack"


def model_digest(network: torch.nn.Module, card: ModelCard) -> str:
    """Hash of the weights, the card's architecture fields and the exporter: the cache key of an export."""
    h = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    h.update(json.dumps([card.architecture, card.inputs, card.n_bins, card.arch_kwargs, torch.__version__, OPSET],
                        sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def cache_path(network, card: ModelCard, input_size: int, precision: str) -> Path:
    return cache_dir() / "exports" / f"{card.name}-{model_digest(network, card)}" / f"{input_size}-{precision}.onnx"


def example_input(card: ModelCard, input_size: int, batch: int = 1) -> torch.Tensor:
    # Normalised depth is ~N(0, 0.05) m around the scene mean; rgb ~N(0, 0.25): a random input at that
    # scale exercises the same ranges as real frames.
    g = torch.Generator().manual_seed(0)
    return 0.1 * torch.randn(batch, card.in_channels, input_size, input_size, generator=g)


def _reference(network, x: torch.Tensor) -> list[np.ndarray]:
    network = network.float().eval().to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        return [o.numpy() for o in network(x)]


def _ort_outputs(path: Path, x: np.ndarray) -> list[np.ndarray]:
    """The maps of ``x`` (N, C, S, S), one image at a time through one session (a batch of 32 at 300 px
    would hold every activation of 32 images at once)."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = [session.run(None, {"input": f[None]}) for f in x]  # every output, in the graph's order
    return [np.concatenate(m) for m in zip(*outs)]


def max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


class _Maps(torch.nn.Module):
    """``network(x)`` with its one input: tracing ``forward(x, logits=False)`` itself would see ``logits``
    as a traced value (and warn), though it is always False in an export."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor):
        return self.network(x)


def export_onnx(network: torch.nn.Module, card: ModelCard, out: str | Path, input_size: int) -> float:
    """Write an fp32 ONNX graph (static input side, dynamic batch); return max |ONNX - PyTorch|."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x = example_input(card, input_size)
    network = network.float().eval().to(memory_format=torch.contiguous_format)
    names = list(output_names(head_of(card.architecture, card.arch_kwargs)))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    # The TorchScript-based exporter writes one self-contained file (the dynamo exporter splits weights
    # into .onnx.data); opset 17 runs in onnxruntime and OpenVINO. A fixed side lets both plan kernels
    # for it; each input size gets its own file.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is chosen on purpose
        torch.onnx.export(_Maps(network), (x,), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=names,
                          dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in names}})
    diff = max_difference(_reference(network, x), _ort_outputs(tmp, x.numpy()))
    if diff > FP32_TOLERANCE:
        tmp.unlink()
        raise ModelFileError(f"ONNX export of {card.name!r} differs from PyTorch by {diff:.2e} "
                             f"(> {FP32_TOLERANCE:g}): not written")
    tmp.replace(out)  # atomic: concurrent processes never read a half-written file
    return diff


def cached_onnx(network, card: ModelCard, model_path=None, *, input_size: int, precision: str = "fp32") -> Path:
    """The ONNX file for this model, input size and precision, exported on first use (fp32 only)."""
    path = cache_path(network, card, input_size, precision)
    if path.is_file():
        return path
    if precision != "fp32":
        raise ModelFileError(
            f"no {precision} export of model {card.name!r} at input size {input_size} in {path.parent}: make one with "
            f"`python -m grasp_perception.export --model {model_path or card.name} --format onnx --precision {precision} "
            f"--input-size {input_size} --calibration FRAMES.npz` (quantisation scales must come from real frames)")
    export_onnx(network, card, path, input_size)
    return path


def load_calibration_frames(path: str | Path, card: ModelCard, input_size: int) -> np.ndarray:
    """``FRAMES.npz`` -> prepared network inputs (N, C, S, S), made exactly as at run time."""
    from .frame_input import FrameInput
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            depth = z["depth"] if "depth" in z else None
            rgb = z["rgb"] if "rgb" in z else None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable .npz of frames: {exc}") from exc
    if depth is None or depth.ndim != 3:
        raise ModelFileError(f"{path}: needs an array 'depth' of shape (N, H, W) in metres, "
                             f"got {None if depth is None else depth.shape}")
    if card.inputs != "depth" and (rgb is None or rgb.shape[:3] != depth.shape):
        raise ModelFileError(f"{path}: model {card.name!r} takes {card.inputs}: needs 'rgb' (N, H, W, 3) "
                             f"matching 'depth' {depth.shape}")
    prep = FrameInput(card.inputs, input_size, card.crop, card.inpaint)
    return np.concatenate([prep(depth[i], None if rgb is None else rgb[i])[0].copy() for i in range(len(depth))])


def export_int8(network, card: ModelCard, out: str | Path, input_size: int, frames: np.ndarray) -> dict:
    """Quantise (QDQ, per-channel int8 weights, uint8 activations) with scales from ``frames``.

    Returns the int8 graph's max and mean map difference from fp32 on the calibration frames.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    class Frames(CalibrationDataReader):
        """Frames in ranges: ORT calibrates one range at a time and merges the min/max, so the reduced
        outputs of only ``stride`` frames are held at once."""

        def __init__(self):
            self.set_range(0, len(frames))

        def __len__(self):
            return len(frames)

        def set_range(self, start_index: int, end_index: int):
            self.items = iter([{"input": f[None]} for f in frames[start_index:end_index]])

        def get_next(self):
            return next(self.items, None)

    # The largest stride <= 4 that divides the frame count (ORT requires it to divide).
    stride = next(k for k in (4, 3, 2, 1) if len(frames) % k == 0)

    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        export_onnx(network, card, fp32, input_size)
        quant_pre_process(str(fp32), str(pre))
        part = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        # reduce_range: 7-bit weights. Without it, CPUs without VNNI (AVX2 only) saturate the u8 x s8 pair sums
        # (VPMADDUBSW): measured max map difference 1.30 on an AVX2 EPYC, 0.5 being the test's bound. An export
        # is cached and may run on another CPU, so it is always on.
        quantize_static(str(pre), str(part), Frames(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        # Not CalibMaxIntermediateOutputs: in onnxruntime 1.2x it drops the frames it flushes.
                        extra_options={"CalibStridedMinMax": stride})
        ref, got = _ort_outputs(fp32, frames), _ort_outputs(part, frames)
    part.replace(out)
    report = {"calibration_frames": int(len(frames)), "max_map_difference": max_difference(ref, got),
              "mean_map_difference": float(np.mean([np.mean(np.abs(a - b)) for a, b in zip(ref, got)]))}
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def export(model_path: str | Path, fmt: str, out: str | Path | None = None, *, input_size: int | None = None,
           precision: str = "fp32", calibration: str | Path | None = None) -> tuple[Path, float]:
    """Write the export and return (path, max abs difference vs PyTorch: on a random input for fp32,
    on the calibration frames for int8)."""
    network, card = load_model(model_path)
    card_path, _ = resolve_model_path(model_path)
    size = int(input_size or card.input_size)
    if fmt not in ("torchscript", "onnx"):
        raise ValueError(f"unknown format {fmt!r}: expected torchscript or onnx")
    if precision not in ("fp32", "int8") or (precision == "int8" and fmt != "onnx"):
        raise ValueError(f"precision must be fp32, or int8 with --format onnx; got {precision!r} for {fmt}")
    if precision == "int8" and calibration is None:
        raise ValueError("--precision int8 needs --calibration FRAMES.npz (quantisation scales come from real frames)")
    if out is None:
        out = (card_path.parent / "model.ts") if fmt == "torchscript" else cache_path(network, card, size, precision)
    out = Path(out)
    if fmt == "torchscript":
        out.parent.mkdir(parents=True, exist_ok=True)
        example = example_input(card, size)
        reference = _reference(network, example)
        with torch.no_grad():
            traced = torch.jit.freeze(torch.jit.trace(_Maps(network).eval(), example))
        traced.save(str(out))
        loaded = torch.jit.load(str(out))
        with torch.inference_mode():
            diff = max_difference(reference, [o.numpy() for o in loaded(example)])
    elif precision == "int8":
        frames = load_calibration_frames(calibration, card, size)
        diff = export_int8(network, card, out, size, frames)["max_map_difference"]
    else:
        diff = export_onnx(network, card, out, size)
    if out.parent != card_path.parent:
        shutil.copy(card_path, out.parent / CARD_NAME)
    return out, diff
