"""OpenVINO on the exported ONNX graph, fp32 / bf16 / int8 on the CPU."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import BackendUnavailable

_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8 comes from the quantised graph itself


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, onnx_path: str | Path, precision: str = "fp32", device: str = "cpu",
                 threads: int | None = None):
        try:
            import openvino as ov
        except ImportError as exc:
            raise BackendUnavailable("backend openvino needs the openvino package (pip install openvino)") from exc
        if str(device) != "cpu":
            raise BackendUnavailable(f"backend openvino runs on the CPU here, not {device!r}")
        core = ov.Core()
        if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise BackendUnavailable("OpenVINO reports no bf16 support on this CPU")
        config = {"INFERENCE_PRECISION_HINT": _HINTS[precision], "NUM_STREAMS": 1}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(str(onnx_path), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.outputs = list(self.compiled.outputs)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        result = self.request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        # The request reuses its output tensors on the next call: copy what the caller keeps.
        return tuple(np.array(result[o], copy=True) for o in self.outputs)
