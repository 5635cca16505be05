"""Inference backends: one network, several runtimes, the same maps.

Every backend takes the prepared input ``(B, C, S, S)`` float32 (as ``FrameInput`` or the dataset
makes it) and returns the four maps ``quality, cos, sin, width``, each ``(B, n_bins, S, S)`` float32
numpy arrays, C-contiguous. ``make_backend`` picks one by name:

=============  ============================  =====================================================
backend        precisions                    notes
=============  ============================  =====================================================
torch          fp32, bf16 (CPU with bf16      eager PyTorch, channels-last (the reference); CUDA when
               instructions, CUDA), fp16      ``device`` is cuda
               (CUDA)
onnxruntime    fp32, int8                    ONNX export cached per model and input size; CUDA
                                             provider when installed and ``device`` is cuda
openvino       fp32, bf16, int8              the same ONNX file compiled by OpenVINO for the CPU
=============  ============================  =====================================================

int8 needs a calibrated export (``python -m grasp_perception.export --precision int8``): an
uncalibrated quantisation would be a silent accuracy loss. A backend whose package is missing raises
:class:`BackendUnavailable` naming the package; nothing falls back silently to another backend.
"""
from __future__ import annotations

from pathlib import Path

BACKENDS = ("torch", "onnxruntime", "openvino")
PRECISIONS = {"torch": ("fp32", "bf16", "fp16"), "onnxruntime": ("fp32", "int8"),
              "openvino": ("fp32", "bf16", "int8")}


class BackendUnavailable(RuntimeError):
    """The backend (or precision) cannot run here: its package, device or instruction set is missing."""


def check_backend(backend: str, precision: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if precision not in PRECISIONS[backend]:
        raise ValueError(f"backend {backend!r} supports precision {PRECISIONS[backend]}, got {precision!r}")


def make_backend(backend: str, precision: str, *, network, card, model_path: str | Path | None,
                 input_size: int, device: str = "cpu", threads: int | None = None):
    """Build the named backend for a loaded model.

    ``network`` is the loaded PyTorch module (the torch backend runs it; the others export it);
    ``model_path`` locates the export cache and int8 exports (None: export into a temporary cache key
    derived from the weights themselves).
    """
    check_backend(backend, precision)
    if backend == "torch":
        from .torch_backend import TorchBackend
        return TorchBackend(network, device=device, precision=precision)
    from ..model_export import cached_onnx
    # bf16 is a compile-time choice of OpenVINO on the fp32 graph; only int8 has a graph of its own.
    graph = "int8" if precision == "int8" else "fp32"
    onnx_path = cached_onnx(network, card, model_path, input_size=input_size, precision=graph)
    if backend == "onnxruntime":
        from .onnxruntime_backend import OnnxRuntimeBackend
        return OnnxRuntimeBackend(onnx_path, device=device, threads=threads)
    from .openvino_backend import OpenVinoBackend
    return OpenVinoBackend(onnx_path, precision=precision, device=device, threads=threads)
