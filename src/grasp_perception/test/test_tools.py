"""The command-line tools, run as a user runs them (python -m ...)."""
from pathlib import Path
import json
import subprocess
import sys

import math

import numpy as np
import pytest
import torch

from grasp_perception.config import PostprocessConfig
from grasp_perception.grasp import ImageGrasp
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
                     postprocess=PostprocessConfig(min_distance=5, threshold=0.0))
    save_model(out, build_network("ggcnn2", in_channels=1, n_bins=3), card)
    return out


# The constant model: every pixel says "grasp here at 60 degrees, 15 px wide" (zero head weights, biases
# only), so its one prediction is the centre of the plateau, known without running it.
ANGLE, WIDTH, MAX_W, SIZE = math.radians(60), 15.0, 60.0, 96


@pytest.fixture(scope="module")
def constant_model_dir(tmp_path_factory):
    net = build_network("ggcnn2", in_channels=1, n_bins=1)
    with torch.no_grad():
        for name, bias in (("quality", 1.0), ("cos", math.cos(2 * ANGLE)), ("sin", math.sin(2 * ANGLE)),
                           ("width", WIDTH / MAX_W)):
            conv = getattr(net.heads, name)
            conv.weight.zero_()
            conv.bias.fill_(bias)
    card = ModelCard(name="constant", architecture="ggcnn2", inputs="depth", n_bins=1, input_size=SIZE,
                     crop="resize", max_width_px=MAX_W, training_config={"data": {"depth": "stereo"}})
    return save_model(tmp_path_factory.mktemp("model") / "constant", net, card)


def test_evaluate_scores_the_known_prediction_of_a_constant_model(constant_model_dir, jacquard_root, tmp_path):
    from grasp_perception.data_setup import dataset_for_card
    from grasp_perception.metrics import best_iou
    from grasp_perception.model_io import load_card
    out = tmp_path / "metrics.json"
    proc = _run("grasp_perception.evaluate", "--dataset", "jacquard", "--root", str(jacquard_root),
                "--model", str(constant_model_dir), "--json", str(out), "--overlays", str(tmp_path / "ov"),
                "--max-overlays", "2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    # The plateau's centre pixel (row-major first of the four nearest (47.5, 47.5)), with jaw = width / 2.
    pred = ImageGrasp(u=47.0, v=47.0, angle=ANGLE, width=WIDTH, jaw=WIDTH / 2)
    dataset = dataset_for_card(load_card(constant_model_dir), "jacquard", jacquard_root, "stereo")
    ious = [best_iou(pred, dataset.grasps(k)) for k in range(len(dataset))]
    assert (metrics["n_images"], metrics["n_no_gt"]) == (8, 0)
    for t in (0.25, 0.30, 0.50, 0.75):
        assert metrics[f"iou_{t:.2f}"] == pytest.approx(np.mean([iou > t for iou in ious]))
    assert metrics["iou_avg"] == pytest.approx(np.mean(ious), abs=1e-4)
    assert 0 < metrics["iou_0.25"] < 1  # a score that can tell a wrong width, angle or centre from the right one
    assert "IoU>0.25" in proc.stdout and "| 8 | 0 |" in proc.stdout
    assert len(list((tmp_path / "ov").glob("*.png"))) == 2


def test_evaluate_uses_the_depth_the_model_was_trained_on(constant_model_dir, model_dir, jacquard_root, tmp_path,
                                                         capsys):
    from grasp_perception import evaluate
    common = ["--dataset", "jacquard", "--root", str(jacquard_root), "--limit", "1", "--no-progress"]
    runs = [(constant_model_dir, [], "stereo"),            # its card: training_config.data.depth = stereo
            (constant_model_dir, ["--depth", "perfect"], "perfect"),  # the flag wins
            (model_dir, [], "perfect")]                    # no training config: perfect
    for i, (model, extra, depth) in enumerate(runs):
        out = tmp_path / f"{i}.json"
        assert evaluate.main(common + ["--model", str(model), "--json", str(out)] + extra) == 0
        assert json.loads(out.read_text())["depth"] == depth
        assert f"depth images: {depth}" in capsys.readouterr().out


def test_predict_rejects_an_rgbd_model_given_depth_only(tmp_path, jacquard_root):
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


def test_predict_names_a_depth_file_in_millimetres(model_dir, tmp_path, capsys):
    from grasp_perception import predict
    depth = tmp_path / "mm.npy"
    np.save(depth, np.full((120, 160), 600.0, np.float32))  # float millimetres: no integer type to warn
    assert predict.main(["--model", str(model_dir), "--depth", str(depth), "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert f"{depth}: median depth 600 is not a distance in metres" in err and "--depth-scale" in err
    assert predict.main(["--model", str(model_dir), "--depth", str(depth), "--depth-scale", "0.001",
                         "--out", str(tmp_path / "o.png")]) == 0
