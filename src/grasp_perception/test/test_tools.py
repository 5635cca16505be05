"""The command-line tools, run as a user runs them (python -m ...)."""
from pathlib import Path
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from grasp_perception.model_io import ModelCard, save_model
from grasp_perception.networks import build_network

REPO = Path(__file__).resolve().parents[3]


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("model") / "ggcnn2"
    card = ModelCard(name="random-ggcnn2", architecture="ggcnn2", inputs="depth", n_bins=3,
                     input_size=96, crop="resize", max_width_px=60.0,
                     postprocess={"min_distance": 5, "threshold": 0.0})
    save_model(out, build_network("ggcnn2", in_channels=1, n_bins=3), card)
    return out


def test_evaluate_writes_the_metrics_json(model_dir, jacquard_root, tmp_path):
    out = tmp_path / "metrics.json"
    proc = _run("grasp_perception.evaluate", "--dataset", "jacquard", "--root", str(jacquard_root),
                "--model", str(model_dir), "--json", str(out), "--overlays", str(tmp_path / "ov"),
                "--max-overlays", "2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    for key in ("n_images", "iou_0.25", "iou_0.30", "iou_0.50", "iou_0.75", "iou_avg", "ms_per_image"):
        assert key in metrics
    assert metrics["n_images"] == 8
    assert 0.0 <= metrics["iou_0.75"] <= metrics["iou_0.25"] <= 1.0
    assert "IoU>0.25" in proc.stdout
    assert len(list((tmp_path / "ov").glob("*.png"))) == 2


def test_evaluate_rejects_an_rgbd_model_on_depth_only_data(tmp_path, jacquard_root):
    card = ModelCard(name="rgbd", architecture="ggcnn2", inputs="rgbd", n_bins=1, input_size=64,
                     crop="resize", max_width_px=60.0)
    save_model(tmp_path / "m", build_network("ggcnn2", in_channels=4, n_bins=1), card)
    proc = _run("grasp_perception.predict", "--model", str(tmp_path / "m"),
                "--depth", str(next(jacquard_root.glob("*/0_*_perfect_depth.tiff"))),
                "--out", str(tmp_path / "o.png"))
    assert proc.returncode == 2
    assert "expects rgbd input" in proc.stderr


def test_predict_writes_an_overlay_and_grasps(model_dir, jacquard_root, tmp_path):
    depth = next(jacquard_root.glob("*/0_*_perfect_depth.tiff"))
    rgb = str(depth).replace("perfect_depth.tiff", "RGB.png")
    proc = _run("grasp_perception.predict", "--model", str(model_dir), "--depth", str(depth), "--rgb", rgb,
                "--out", str(tmp_path / "overlay.png"), "--top-k", "3", "--json", str(tmp_path / "g.json"))
    assert proc.returncode == 0, proc.stderr
    import cv2
    overlay = cv2.imread(str(tmp_path / "overlay.png"))
    assert overlay is not None and overlay.shape[0] == 1024
    grasps = json.loads((tmp_path / "g.json").read_text())
    assert 1 <= len(grasps) <= 3
    # Grasps are reported in original 1024-px image coordinates.
    assert all(0 <= g["u"] < 1024 and 0 <= g["v"] < 1024 for g in grasps)


def test_predict_reports_a_missing_file(model_dir, tmp_path):
    proc = _run("grasp_perception.predict", "--model", str(model_dir), "--depth", str(tmp_path / "no.tiff"))
    assert proc.returncode == 2 and "no.tiff" in proc.stderr


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_matches_pytorch(model_dir, tmp_path, fmt):
    out = tmp_path / ("m.ts" if fmt == "torchscript" else "m.onnx")
    proc = _run("grasp_perception.export", "--model", str(model_dir), "--format", fmt, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and (tmp_path / "card.yaml").is_file()
    diff = float(proc.stdout.split("max |export - pytorch| = ")[1].split()[0])
    assert diff < 1e-4
