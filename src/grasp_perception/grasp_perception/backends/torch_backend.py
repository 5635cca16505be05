"""Eager PyTorch: the reference backend, in its fastest memory format."""
from __future__ import annotations

import copy

import numpy as np
import torch

from . import BackendUnavailable

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX); without it bf16 is emulated and slow."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class TorchBackend:
    name = "torch"

    def __init__(self, network: torch.nn.Module, device: str | torch.device = "cpu", precision: str = "fp32"):
        self.device = torch.device(device)
        self.precision = precision
        if precision == "fp16" and self.device.type != "cuda":
            raise BackendUnavailable("torch fp16 runs on CUDA only (on a CPU use bf16 or fp32)")
        if precision == "bf16" and self.device.type == "cpu" and not cpu_has_bf16():
            raise BackendUnavailable("torch bf16 on this CPU would be emulated (no AVX512-BF16 or AMX)")
        self.dtype = _DTYPES[precision]
        if self.dtype != torch.float32:
            network = copy.deepcopy(network)  # rounding the caller's fp32 weights in place would be a silent loss
        # Channels-last lets oneDNN (CPU) and cuDNN pick their fast convolution kernels: the same
        # weights run ~2-3x faster on this project's CPUs than in the default contiguous layout.
        self.network = network.to(self.device, dtype=self.dtype, memory_format=torch.channels_last).eval()

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        tensor = tensor.to(self.device, dtype=self.dtype).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            outputs = self.network(tensor)
            # One device -> host copy of all the maps (one sync on a GPU), each C-contiguous for OpenCV. Heads
            # differ in map shapes (the pixel-level point map has one channel, anchor deltas are 5-D), so the
            # maps travel flattened per image and are cut apart again.
            shapes = [tuple(o.shape) for o in outputs]
            joined = torch.cat([o.reshape(o.shape[0], -1) for o in outputs], dim=1).float().cpu().numpy()
        sizes = np.cumsum([int(np.prod(sh[1:])) for sh in shapes])[:-1]
        return tuple(np.ascontiguousarray(m.reshape(sh)) for m, sh in zip(np.split(joined, sizes, axis=1), shapes))
