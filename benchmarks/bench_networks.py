#!/usr/bin/env python3
"""Inference benchmark of the grasp networks at their usual input size (batch 1).

    python benchmarks/bench_networks.py [--runs 20] [--threads 2] [--device cpu] [--json out.json]

Eval mode, ``torch.inference_mode()``, channels_last, 3 warm-up runs then ``--runs`` timed
runs. GFLOPs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts a
multiply-add as 2 FLOPs. Not a test: CPU figures on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

try:
    import grasp_perception  # noqa: F401
except ImportError:  # source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "grasp_perception"))

from grasp_perception.networks import build_network, count_parameters  # noqa: E402

# (label, registry name, in_channels, input side, options)
CONFIGS = [
    ("ggcnn2 D", "ggcnn2", 1, 300, {}),
    ("grconvnet RGB-D C32", "grconvnet", 4, 224, {"channel_size": 32}),
    ("grconvnet RGB-D C16", "grconvnet", 4, 224, {"channel_size": 16}),
    ("unet RGB-D", "unet", 4, 320, {}),
    ("efficient_fcn D", "efficient_fcn", 1, 400, {}),
]


def bench_one(name: str, in_channels: int, size: int, options: dict, n_bins: int, runs: int,
              warmup: int, device: torch.device) -> dict:
    model = build_network(name, in_channels, n_bins=n_bins, **options).eval()
    params = count_parameters(model)
    x = torch.randn(1, in_channels, size, size)

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    gflops = counter.get_total_flops() / 1e9

    model = model.to(device, memory_format=torch.channels_last)
    x = x.to(device).contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            sync()
            t0 = time.perf_counter()
            model(x)
            sync()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    return {
        "network": name, "in_channels": in_channels, "input_size": size, "n_bins": n_bins,
        "options": options, "params": params, "gflops": round(gflops, 3),
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(float(np.percentile(times, 90)), 2),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per network (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up runs (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--n-bins", type=int, default=1, help="angle bins of every network (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="benchmark only these registry names (e.g. ggcnn2 unet)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    configs = [c for c in CONFIGS if not args.only or c[1] in args.only]
    if not configs:
        parser.error(f"--only {args.only} matches none of {sorted({c[1] for c in CONFIGS})}")

    header = f"{'network':<22}{'input':>12}{'params':>13}{'GFLOPs':>9}{'median ms':>11}{'p90 ms':>9}"
    print(f"torch {torch.__version__}, device {device}, threads {args.threads}, "
          f"{args.runs} runs after {args.warmup} warm-up, batch 1, channels_last, n_bins {args.n_bins}")
    print(header)
    print("-" * len(header))
    results = []
    for label, name, ch, size, options in configs:
        r = bench_one(name, ch, size, options, args.n_bins, args.runs, args.warmup, device)
        r["label"] = label
        results.append(r)
        print(f"{label:<22}{f'{ch}x{size}x{size}':>12}{r['params']:>13,}{r['gflops']:>9.2f}"
              f"{r['median_ms']:>11.1f}{r['p90_ms']:>9.1f}", flush=True)

    if args.json:
        meta = {"torch": torch.__version__, "device": str(device), "threads": args.threads,
                "runs": args.runs, "warmup": args.warmup, "machine": platform.platform(),
                "processor": platform.processor()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
