"""Shared fixtures: paths to the read-only data beside the repository (skipped when absent)."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO.parent / "shared" / "data"
JACQUARD_SAMPLES = SHARED_DATA / "jacquard_samples"


@pytest.fixture
def jacquard_root() -> Path:
    if not JACQUARD_SAMPLES.is_dir():
        pytest.skip(f"Jacquard samples not found at {JACQUARD_SAMPLES} (a fresh clone has no ../shared)")
    return JACQUARD_SAMPLES


@pytest.fixture
def tiny_training(jacquard_root, tmp_path, monkeypatch):
    """``run(recipe, batches) -> (result, model_dir, predictors)``: one short epoch of ``config/train/<recipe>``
    on two Jacquard sample scenes at 64 px (train = val = test), then the model folder it wrote loaded by the
    predictor on torch and, where installed, ONNX Runtime (``predictors["onnxruntime"]``)."""
    import importlib.util

    from grasp_perception.config import load_config
    from grasp_perception.inference import GraspPredictor
    from grasp_perception.training import train
    monkeypatch.setenv("GRASP_CACHE_DIR", str(tmp_path / "cache"))

    def run(recipe: str, batches: int = 2):
        cfg = load_config(REPO / "config" / "train" / recipe,
                          [f"data.root={jacquard_root}", f"output_dir={tmp_path / 'run'}", "data.input_size=64",
                           "data.limit=2", "data.depth=perfect", "data.crop=resize", "data.split.mode=overfit",
                           "train.epochs=1", f"train.batches_per_epoch={batches}", "optim.batch_size=2",
                           "train.num_workers=0"])
        result = train(cfg, progress=False)
        model = tmp_path / "run" / "model"
        predictors = {"torch": GraspPredictor(model, device="cpu")}
        if importlib.util.find_spec("onnxruntime") is not None:
            predictors["onnxruntime"] = GraspPredictor(model, device="cpu", backend="onnxruntime")
        return result, model, predictors

    return run


@pytest.fixture
def fit_one_image():
    """``fit(net, loss_fn, x, targets, steps, lr) -> losses``: Adam on one batch (tiny overfit runs); the
    network is left in eval mode with BatchNorm on batch statistics, as it trained (a few steps on one image
    are too few for the running averages to settle, and the runs check the fit, not the statistics)."""
    import torch

    def fit(net, loss_fn, x, targets, steps: int, lr: float = 1e-3) -> list[float]:
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            loss, _ = loss_fn(net(x, logits=True), targets)
            losses.append(loss.item())
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.train()
        return losses

    return fit
