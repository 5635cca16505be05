"""Export a model to TorchScript or ONNX (fp32, or int8 calibrated on recorded frames), checked against PyTorch.

    python -m grasp_perception.export --model PATH --format {torchscript,onnx} [--input-size N] [--out FILE]
    python -m grasp_perception.export --model PATH --format onnx --precision int8 --calibration FRAMES.npz

The export functions are in :mod:`grasp_perception.model_export`.
"""
from __future__ import annotations

import argparse
import sys
import time

from ..model_export import export
from ..model_io import ModelFileError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--format", required=True, choices=["torchscript", "onnx"])
    p.add_argument("--out", help="output file (default: beside the model for torchscript, the export cache for onnx)")
    p.add_argument("--input-size", type=int, help="network input side (default: the card's)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    p.add_argument("--calibration", help="FRAMES.npz for int8 (depth (N,H,W) metres [, rgb (N,H,W,3)])")
    args = p.parse_args(argv)
    try:
        t0 = time.perf_counter()
        path, diff = export(args.model, args.format, args.out, input_size=args.input_size,
                            precision=args.precision, calibration=args.calibration)
    except (ModelFileError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    what = "on the calibration frames" if args.precision == "int8" else "on a random input"
    print(f"{args.format} {args.precision} export written to {path} in {time.perf_counter() - t0:.1f} s; "
          f"max |export - pytorch| = {diff:.2e} ({what})")
    if args.precision == "fp32" and diff > 1e-3:
        print("error: the export does not reproduce the PyTorch outputs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
