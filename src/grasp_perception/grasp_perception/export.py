"""Export a model file to TorchScript or ONNX, and check the export against PyTorch.

    python -m grasp_perception.export --model PATH --format {torchscript,onnx} [--out FILE]

The exported graph takes a (1, C, S, S) float32 input prepared as the model card says, and returns
quality, cos, sin, width maps (1, n_bins, S, S). The card is copied beside the export.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .model_io import CARD_NAME, ModelFileError, load_model, resolve_model_path

OUTPUT_NAMES = ["quality", "cos", "sin", "width"]


def export(model_path: str | Path, fmt: str, out: str | Path | None = None) -> tuple[Path, float]:
    """Write the export and return (path, max abs difference vs PyTorch on a random input)."""
    network, card = load_model(model_path)
    card_path, _ = resolve_model_path(model_path)
    example = torch.randn(1, card.in_channels, card.input_size, card.input_size,
                          generator=torch.Generator().manual_seed(0))
    out = Path(out) if out else card_path.parent / ("model.ts" if fmt == "torchscript" else "model.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        reference = [o.numpy() for o in network(example)]
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.freeze(torch.jit.trace(network, example))
        traced.save(str(out))
        loaded = torch.jit.load(str(out))
        with torch.inference_mode():
            result = [o.numpy() for o in loaded(example)]
    elif fmt == "onnx":
        # The TorchScript-based exporter writes one self-contained file (the dynamo exporter splits
        # weights into .onnx.data); opset 17 runs in onnxruntime and OpenVINO.
        torch.onnx.export(network, (example,), str(out), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=OUTPUT_NAMES,
                          dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}})
        import onnxruntime as ort
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        result = session.run(OUTPUT_NAMES, {"input": example.numpy()})
    else:
        raise ValueError(f"unknown format {fmt!r}: expected torchscript or onnx")
    if out.parent != card_path.parent:
        shutil.copy(card_path, out.parent / CARD_NAME)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(reference, result))
    return out, diff


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--format", required=True, choices=["torchscript", "onnx"])
    p.add_argument("--out", help="output file (default: beside the model)")
    args = p.parse_args(argv)
    try:
        t0 = time.perf_counter()
        path, diff = export(args.model, args.format, args.out)
    except (ModelFileError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.format} export written to {path} in {time.perf_counter() - t0:.1f} s; "
          f"max |export - pytorch| = {diff:.2e}")
    if diff > 1e-3:
        print("error: the export does not reproduce the PyTorch outputs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
