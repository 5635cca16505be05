"""End-to-end training: a tiny overfit run on real Jacquard files, resume, and DDP with 2 CPU processes."""
from pathlib import Path
import json
import os
import subprocess
import sys

import pytest
import torch

from grasp_perception.config import load_config
from grasp_perception.model_io import load_model
from grasp_perception.train import train

REPO = Path(__file__).resolve().parents[3]

OVERFIT = REPO / "config" / "train" / "overfit_jacquard_samples.yaml"


def _cfg(jacquard_root, out, *overrides):
    return load_config(OVERFIT, [f"data.root={jacquard_root}", f"output_dir={out}", *overrides])


@pytest.mark.slow
def test_overfit_reaches_full_iou_on_training_images(jacquard_root, tmp_path):
    torch.set_num_threads(2)
    cfg = _cfg(jacquard_root, tmp_path / "run", "data.limit=4")
    result = train(cfg, progress=False)
    history = result["history"]
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert last < 0.5 * first, f"loss did not fall enough: {first:.4f} -> {last:.4f}"
    # Overfit split: the test images are the training images.
    assert result["test"]["n_images"] == 4
    assert result["test"]["iou_0.25"] == 1.0, result["test"]
    network, card = load_model(tmp_path / "run" / "model")
    assert card.metrics["test"]["iou_0.25"] == 1.0
    for name in ("config.yaml", "split.json", "history.json", "curves.png", "checkpoints/last.pt"):
        assert (tmp_path / "run" / name).is_file(), name
    assert any((tmp_path / "run" / "tb").iterdir())


def test_resume_continues_from_the_checkpoint(jacquard_root, tmp_path):
    out = tmp_path / "run"
    fast = ["data.input_size=64", "train.val_every=1", "train.epochs=2"]
    train(_cfg(jacquard_root, out, *fast), progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(_cfg(jacquard_root, out, *fast), progress=False)
    result = train(_cfg(jacquard_root, out, *fast[:-1], "train.epochs=3"), resume=True, progress=False)
    assert [h["epoch"] for h in result["history"]] == [1, 2, 3]
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 3


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(jacquard_root, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           "--nproc_per_node", "2", "-m", "grasp_perception.train", "--config", str(OVERFIT),
           "--no-progress", "--set", f"data.root={jacquard_root}", "--set", f"output_dir={out}",
           "--set", "data.input_size=64", "--set", "train.epochs=2", "--set", "train.val_every=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "world size 2" in proc.stdout
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history["history"]] == [1, 2]
    # Validation merged both ranks' shards: all 8 images counted once.
    assert history["history"][-1]["val"]["n_images"] == 8
    load_model(out / "model")
