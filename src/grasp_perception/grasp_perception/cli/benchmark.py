"""Where the time goes, per network x backend x precision x input size, on this machine.

    python -m grasp_perception.benchmark [--quick] [--out runs/benchmark] [--runs 30]
        [--networks ggcnn2 grconvnet unet efficient_fcn] [--backends torch onnxruntime openvino]
        [--precisions fp32 bf16 int8] [--sizes card 300 320] [--no-ros]

Each row runs ``GraspPlanner.plan`` (what ``/plan_grasp`` runs) on 640x480 RGB-D frames of the simulated
cell (procedural objects of pool seed 1000, 1-3 per frame, PLGP depth noise, top-down camera at 0.6 m) and
reports the median and p95 ms of each stage: preprocess (frame checks, table levelling, crop, inpaint,
normalise), inference, postprocess (peaks -> image grasps) and deproject (image grasps -> base-frame poses),
and of the whole (``end_to_end_ms``). Also: GFLOPs per image (``torch.utils.flop_counter``, a multiply-add
= 2 FLOPs) and the fraction of this CPU's peak reached, the peak being the best of a large matmul and a 3x3 convolution in
the row's arithmetic (fp32, or bf16 for bf16 rows; int8 rows are compared with fp32); the largest map difference
from the PyTorch fp32 reference on the same frames; and, for trained models, IoU@0.25 and IoU-Avg on a
held-out simulated set (pool seed 2000, shapes no model here was trained on). Networks without trained
weights here (GR-ConvNet, U-Net, efficient FCN) run with random weights: their timings are real, their
accuracy columns are empty. With ROS 2 importable it also measures ``/plan_grasp`` round trips (one
process; across processes) and the continuous mode's rate on a 30 Hz simulated camera.

Writes ``benchmark.json`` (one row per network x backend x precision x size, with ``network``,
``backend``, ``input_size`` and ``end_to_end_ms: {median, p95}``; machine core count and CPU model) and
``benchmark.md`` under ``--out``. A benchmark prints figures; it asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ..backends import BACKENDS, PRECISIONS, BackendUnavailable
from ..backends.torch_backend import cpu_has_bf16
from ..config import PostprocessConfig
from ..geometry import CameraIntrinsics
from ..inference import GraspPredictor
from ..model_io import ModelCard, ModelFileError, load_card, load_model
from ..networks import build_network, network_class
from ..planning import CameraFrame, GraspPlanner

# Networks the papers use, as the benchmark builds them when no trained model is given.
NETWORKS = {
    "ggcnn2": dict(inputs="depth", arch_kwargs={}),
    "grconvnet": dict(inputs="rgbd", arch_kwargs={"channel_size": 32}),
    "unet": dict(inputs="rgbd", arch_kwargs={}),
    "efficient_fcn": dict(inputs="depth", arch_kwargs={}),
    # The two seed methods of issue 12, as their papers set them up (not real-time on a CPU: opt in with
    # --networks affga anchor_scorer).
    "affga": dict(inputs="rgbd", arch_kwargs={}, n_bins=18),
    "anchor_scorer": dict(inputs="rgb", arch_kwargs={}, n_bins=6),
}
REAL_TIME = ["ggcnn2", "grconvnet", "unet", "efficient_fcn"]  # the default --networks
STAGES = ("preprocess", "inference", "postprocess", "deproject")
HELDOUT_SEED = 2000       # procedural pool of the held-out set (training used 0, the trial cell 1000)
CALIBRATION_SEED = 3      # frames int8 scales are computed on (timing frames use seed 1)


def machine() -> dict:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__}


def peak_gflops(dtype: torch.dtype, runs: int = 3) -> float:
    """This CPU's best sustained GFLOP/s in ``dtype`` on dense kernels: the larger of a 4096^2 matmul and a
    64-channel 3x3 convolution (channels-last), both counted naively (2 FLOPs a multiply-add). A network can
    still pass 100 % of it where its runtime uses Winograd convolutions, which do fewer multiplies."""
    a, b = torch.randn(4096, 4096, dtype=dtype), torch.randn(4096, 4096, dtype=dtype)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(dtype=dtype, memory_format=torch.channels_last)
    x = torch.randn(1, 64, 128, 128, dtype=dtype).contiguous(memory_format=torch.channels_last)
    best = 0.0
    with torch.no_grad():
        for fn, flops in ((lambda: a @ b, 2 * 4096 ** 3), (lambda: conv(x), 2 * 64 * 64 * 9 * 128 * 128)):
            fn()
            t0 = time.perf_counter()
            for _ in range(runs):
                fn()
            best = max(best, flops * runs / (time.perf_counter() - t0) / 1e9)
    return best


def _gflops_text(value: float | None) -> str:
    return "no native" if value is None else f"{value:.0f} GFLOP/s"


def gflops(network: torch.nn.Module, in_channels: int, size: int) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, in_channels, size, size))
    return counter.get_total_flops() / 1e9


def stats(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "p95": round(float(np.percentile(values, 95)), 3)}


def model_for(name: str, trained: str | None):
    """(network, card, model_path or None, trained?) for a registry name."""
    if trained:
        network, card = load_model(trained)
        return network, card, trained, True
    spec = NETWORKS[name]
    cls = network_class(name)
    n_bins = spec.get("n_bins", 1)
    card = ModelCard(name=f"{name}-random-init", architecture=name, inputs=spec["inputs"], n_bins=n_bins,
                     input_size=cls.default_input_size, crop="center", max_width_px=150.0,
                     arch_kwargs=spec["arch_kwargs"],
                     postprocess=PostprocessConfig(min_distance=10, threshold=0.1))
    torch.manual_seed(0)
    network = build_network(name, card.in_channels, n_bins=n_bins, **card.arch_kwargs).eval()
    return network, card, None, False


def round_size(size: int, multiple: int) -> int:
    return max(multiple, int(np.ceil(size / multiple)) * multiple)


def time_row(planner: GraspPlanner, frames: list[CameraFrame], base_T_camera: np.ndarray, runs: int,
             warmup: int) -> dict:
    stage_ms = {s: [] for s in STAGES}
    total = []
    for i in range(warmup + runs):
        frame = frames[i % len(frames)]
        t0 = time.perf_counter()
        result = planner.plan(frame, base_T_camera, now_ns=frame.stamp_ns)
        dt = 1e3 * (time.perf_counter() - t0)
        if i < warmup:
            continue
        t = result.timings_ms
        if not t:  # refused before the network ran: not a timing of the pipeline
            raise RuntimeError(f"benchmark frame refused by the planner: {result.message}")
        stage_ms["preprocess"].append(t["check"] + t["preprocess"])
        stage_ms["inference"].append(t["network"])
        stage_ms["postprocess"].append(t["postprocess"])
        stage_ms["deproject"].append(t["poses"])
        total.append(dt)
    return {**{f"{s}_ms": stats(v) for s, v in stage_ms.items()}, "end_to_end_ms": stats(total)}


def heldout_iou(predictor: GraspPredictor, root: Path) -> dict:
    """IoU@0.25 and IoU-Avg (top-1) of ``predictor``'s backend on the held-out set, prepared as its card says."""
    from ..data_setup import dataset_for_card
    from ..evaluation import evaluate_network
    card = dataclasses.replace(predictor.card, input_size=predictor.input_size)
    dataset = dataset_for_card(card, "jacquard", root, "stereo")
    s = evaluate_network(predictor.backend, dataset, max_width_px=card.max_width_px, postprocess=card.postprocess,
                         batch_size=1, decode=predictor.decode)
    return {"iou_0.25": round(s["iou_0.25"], 4), "iou_avg": round(s["iou_avg"], 4), "heldout_images": s["n_images"]}


def ensure_heldout(root: Path, scenes: int) -> Path:
    """Generate (once) the held-out labelled set: single procedural objects of pool seed HELDOUT_SEED."""
    done = root / "generation.json"
    if done.is_file() and json.loads(done.read_text()).get("status") == "complete":
        return root
    from grasp_sim.generate import generate
    print(f"generating the held-out set ({scenes} scenes, pool seed {HELDOUT_SEED}) into {root} ...", flush=True)
    generate(out=root, scenes=scenes, seed=HELDOUT_SEED, workers=1, resume=root.exists())
    return root


def sim_frames(n: int, seed: int) -> tuple[list[CameraFrame], np.ndarray, dict]:
    from grasp_sim.record_frames import record_frames
    z = record_frames(n, seed=seed)
    K = z["K"]
    h, w = z["depth"].shape[1:]
    intr = CameraIntrinsics(fx=float(K[0, 0]), fy=float(K[1, 1]), cx=float(K[0, 2]), cy=float(K[1, 2]),
                            width=w, height=h)
    frames = [CameraFrame(depth=d, intrinsics=intr, stamp_ns=i, frame_id="camera_color_optical_frame", rgb=c)
              for i, (d, c) in enumerate(zip(z["depth"], z["rgb"]))]
    return frames, z["base_T_camera"], z


def run(args) -> dict:
    torch.set_num_threads(args.threads or os.cpu_count())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"{info['cpu_model']}, {info['cores']} cores, torch {info['torch']} ({info['torch_threads']} threads)",
          flush=True)
    # Without native bf16 (AVX512-BF16 or AMX) torch emulates it: the 4096^2 matmul alone takes many minutes, and
    # every bf16 row is skipped anyway, so there is no bf16 peak to measure.
    peaks = {"fp32": peak_gflops(torch.float32), "bf16": peak_gflops(torch.bfloat16) if cpu_has_bf16() else None}
    print(f"peak: {peaks['fp32']:.0f} GFLOP/s fp32, {_gflops_text(peaks['bf16'])} bf16 (best of matmul / 3x3 conv)",
          flush=True)
    frames, base_T_camera, raw = sim_frames(args.frames, seed=1)
    calib_file = out / "calibration_frames.npz"
    if "int8" in args.precisions and not calib_file.is_file():
        from grasp_sim.record_frames import record_frames
        np.savez_compressed(calib_file, **record_frames(args.calibration_frames, seed=CALIBRATION_SEED))
    heldout = (ensure_heldout(Path(args.heldout) / f"seed{HELDOUT_SEED}-{args.heldout_scenes}", args.heldout_scenes)
               if args.heldout_scenes else None)

    rows = []
    report = {"machine": info, "peak_gflops_per_s": {k: None if v is None else round(v, 1) for k, v in peaks.items()},
              "settings": {"frames": f"{args.frames} simulated 640x480 RGB-D frames: {json.loads(str(raw['settings']))}",
                           "runs": args.runs, "warmup": args.warmup, "quick": args.quick,
                           "heldout": None if heldout is None else
                           f"{args.heldout_scenes} scenes of {heldout} (grasp_sim.generate --seed {HELDOUT_SEED}), "
                           f"stereo depth, top-1, angle within 30 deg"},
              "rows": rows}
    trained_architecture = load_card(args.model).architecture
    for name in args.networks:
        trained = args.model if name == trained_architecture else None
        network, card, model_path, is_trained = model_for(name, trained)
        multiple = getattr(network, "input_multiple", 1)
        sizes = sorted({round_size(card.input_size if s == "card" else int(s), multiple) for s in args.sizes})
        if card.input_size not in sizes and "card" in args.sizes:
            sizes.append(card.input_size)
        for size in sizes:
            flops = gflops(network, card.in_channels, size)
            reference = None
            for backend in args.backends:
                for precision in args.precisions:
                    if precision not in PRECISIONS[backend]:
                        continue
                    row = {"network": name, "model": card.name, "trained": is_trained, "inputs": card.inputs,
                           "input_size": size, "backend": backend, "precision": precision, "gflops": round(flops, 3)}
                    try:
                        if precision == "int8":
                            from ..model_export import cache_path, export_int8, load_calibration_frames
                            target = cache_path(network, card, size, "int8")
                            if not target.is_file():
                                export_int8(network, card, target, size, load_calibration_frames(calib_file, card, size))
                        predictor = GraspPredictor((network, card), device="cpu", backend=backend,
                                                   precision=precision, input_size=size,
                                                   threads=args.threads or None)
                    except (BackendUnavailable, ModelFileError, ImportError) as exc:
                        row["skipped"] = str(exc)
                        rows.append(row)
                        print(f"  {name} {size} {backend} {precision}: skipped ({exc})", flush=True)
                        continue
                    planner = GraspPlanner(predictor)
                    row.update(time_row(planner, frames, base_T_camera, args.runs, args.warmup))
                    peak = peaks["bf16"] if precision == "bf16" and peaks["bf16"] else peaks["fp32"]
                    achieved = flops / (row["inference_ms"]["median"] / 1e3)
                    row["achieved_gflops_per_s"] = round(achieved, 1)
                    row["peak_fraction"] = round(achieved / peak, 3)
                    # Accuracy against the PyTorch fp32 reference on the same prepared inputs.
                    xs = [predictor.frame_input(f.depth, f.rgb)[0].copy() for f in frames[:4]]
                    maps = [predictor.infer_maps(x) for x in xs]
                    if reference is None:  # torch fp32 comes first in BACKENDS order
                        ref_pred = GraspPredictor((network, card), device="cpu", input_size=size)
                        reference = [ref_pred.infer_maps(x) for x in xs]
                    row["max_map_difference"] = float(max(np.max(np.abs(a - b)) for ma, mb in zip(maps, reference)
                                                          for a, b in zip(ma, mb)))
                    if is_trained and heldout is not None:
                        row.update(heldout_iou(predictor, heldout))
                    rows.append(row)
                    print(format_row(row), flush=True)
                    write_report(report, out)  # after every row: a crash or Ctrl-C keeps what was measured
                    network = network.float().to(memory_format=torch.contiguous_format)  # undo the torch backend's layout

    if args.ros:
        report["ros"] = ros_figures(args)
    write_report(report, out)
    print(f"wrote {out / 'benchmark.json'} and {out / 'benchmark.md'}")
    return report


def write_report(report: dict, out: Path) -> None:
    for name, text in (("benchmark.json", json.dumps(report, indent=1) + "\n"), ("benchmark.md", markdown(report))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)


def ros_figures(args) -> dict:
    try:
        from ..benchmark_ros import measure
    except ImportError as exc:
        print(f"ROS figures skipped: {exc}")
        return {"skipped": f"rclpy or grasp_interfaces not importable: {exc}"}
    return measure(args)


def _ms(d: dict) -> str:
    return f"{d['median']:.1f} ({d['p95']:.1f})"


def format_row(r: dict) -> str:
    acc = f"{r['iou_0.25'] * 100:5.1f} % {r['iou_avg']:.3f}" if "iou_0.25" in r else "      -      "
    return (f"{r['network']:<14}{r['input_size']:>5} {r['backend']:<12}{r['precision']:<6}{r['gflops']:>7.2f}"
            f"{_ms(r['preprocess_ms']):>14}{_ms(r['inference_ms']):>15}{_ms(r['postprocess_ms']):>12}"
            f"{_ms(r['deproject_ms']):>12}{_ms(r['end_to_end_ms']):>15}{100 * r['peak_fraction']:>7.0f} %"
            f"{r['max_map_difference']:>10.1e}  {acc}")


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# Grasp pipeline benchmark: {m['cpu_model']}, {m['cores']} cores", "",
             f"torch {m['torch']} ({m['torch_threads']} threads), peak {report['peak_gflops_per_s']['fp32']:.0f} "
             f"GFLOP/s fp32 / {_gflops_text(report['peak_gflops_per_s']['bf16'])} bf16 (best of a 4096² matmul and a "
             f"64-channel 3x3 convolution; Winograd kernels can pass 100 %). "
             f"Frames: {report['settings']['frames']}. {report['settings']['runs']} timed runs after "
             f"{report['settings']['warmup']} warm-up. Held-out set: {report['settings']['heldout']}.", "",
             "ms: median (p95). preprocess = frame checks + table levelling + crop/inpaint/normalise; "
             "end to end = 640x480 frame in, base-frame poses out (`GraspPlanner.plan`).", "",
             "| network | model | input | backend | precision | GFLOP | preprocess | inference | postprocess | "
             "deproject | end to end | % of peak | max map diff | IoU@0.25 | IoU-Avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['network']} | {r['model']} | {r['input_size']} | {r['backend']} | {r['precision']} | "
                         f"{r['gflops']:.2f} | skipped: {r['skipped']} ||||||||| ")
            continue
        acc = (f"{100 * r['iou_0.25']:.1f} % | {r['iou_avg']:.3f}" if "iou_0.25" in r else "- | -")
        lines.append(f"| {r['network']} | {r['model']} | {r['input_size']} | {r['backend']} | {r['precision']} | "
                     f"{r['gflops']:.2f} | {_ms(r['preprocess_ms'])} | {_ms(r['inference_ms'])} | "
                     f"{_ms(r['postprocess_ms'])} | {_ms(r['deproject_ms'])} | **{_ms(r['end_to_end_ms'])}** | "
                     f"{100 * r['peak_fraction']:.0f} % | {r['max_map_difference']:.1e} | {acc} |")
    ros = report.get("ros")
    if ros:
        lines += ["", "## Through ROS 2 (simulated camera, real DDS)", ""]
        if "skipped" in ros:
            lines.append(f"skipped: {ros['skipped']}")
        else:
            for key, value in ros.items():
                lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grasp_perception.benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="a few iterations of the default model on every backend at its card size (< 1 min)")
    p.add_argument("--out", default="runs/benchmark")
    p.add_argument("--model", default="default", help="trained model benchmarked for its architecture")
    p.add_argument("--networks", nargs="+", default=REAL_TIME, choices=list(NETWORKS))
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"], choices=["fp32", "bf16", "fp16", "int8"])
    p.add_argument("--sizes", nargs="+", default=["card", "300", "320"], help="'card' and/or input sides in px")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--frames", type=int, default=8, help="simulated frames cycled through")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0 = all cores)")
    p.add_argument("--heldout", default="runs/benchmark/heldout", help="where held-out sets are generated (once)")
    p.add_argument("--heldout-scenes", type=int, default=100, help="0 = no IoU columns")
    p.add_argument("--calibration-frames", type=int, default=32)
    p.add_argument("--ros-calls", type=int, default=50)
    p.add_argument("--ros-backend", default="torch", choices=list(BACKENDS))
    p.add_argument("--ros-precision", default="fp32")
    p.add_argument("--no-ros", dest="ros", action="store_false", help="skip the /plan_grasp and continuous figures")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        # Every field of the full run, from a few iterations of the default model at its card size.
        args.networks = [load_model(args.model)[1].architecture]
        args.sizes, args.runs, args.warmup, args.frames = ["card"], 5, 2, 4
        args.heldout_scenes = min(args.heldout_scenes, 6)
        args.calibration_frames, args.ros_calls = 4, 5
    if args.runs < 1 or args.frames < 1:
        parser.error("--runs and --frames must be >= 1")
    try:
        run(args)
    except (ModelFileError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
