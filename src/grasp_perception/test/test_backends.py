"""Every inference backend gives the reference maps on the same inputs; missing ones skip with a reason."""
import importlib.util

import numpy as np
import pytest
import torch

from grasp_perception.backends import BackendUnavailable, check_backend
from grasp_perception.model_export import FP32_TOLERANCE, cache_path, export
from grasp_perception.frame_input import FrameInput
from grasp_perception.inference import GraspPredictor
from grasp_perception.model_io import ModelFileError, load_model, models_dir

# The shipped depth GG-CNN2: the frames here are synthetic depth scenes (the default model takes RGB-D).
MODEL = models_dir() / "ggcnn2-sim-v1"
PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


@pytest.fixture(autouse=True)
def export_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRASP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def scene(seed=0):
    """A 640x480 top-down depth frame: table at 0.6 m with noise, two boxes, dropouts."""
    rng = np.random.default_rng(seed)
    d = np.full((480, 640), 0.6, np.float32) + 0.002 * rng.standard_normal((480, 640)).astype(np.float32)
    d[200:260, 280:330] -= 0.05
    d[260:300, 350:420] -= 0.03
    d[rng.random(d.shape) < 0.01] = np.nan
    return d


def reference_maps(x):
    net, _ = load_model(MODEL)
    with torch.no_grad():  # the plain contiguous fp32 network: what the model was trained as
        return [o.numpy() for o in net(torch.from_numpy(x.copy()))]


def make(backend, precision, **kw):
    check_backend(backend, precision)
    if backend in PACKAGES and importlib.util.find_spec(PACKAGES[backend]) is None:
        pytest.skip(f"{PACKAGES[backend]} is not installed")
    try:
        return GraspPredictor(MODEL, device="cpu", backend=backend, precision=precision, **kw)
    except BackendUnavailable as exc:
        pytest.skip(f"{backend} {precision} cannot run here: {exc}")


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "openvino"])
def test_fp32_backends_match_pytorch(backend):
    pred = make(backend, "fp32")
    for seed in range(2):
        x, _ = pred.frame_input(scene(seed))
        ref = reference_maps(x)
        got = pred.infer_maps(x.copy())
        for r, g in zip(ref, got):
            assert g.shape == r.shape and g.dtype == np.float32 and g.flags.c_contiguous
            assert float(np.max(np.abs(g - r))) <= FP32_TOLERANCE


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_bf16_is_close_and_finds_the_same_grasp(backend):
    ref = GraspPredictor(MODEL, device="cpu")
    pred = make(backend, "bf16")
    depth = scene(3)
    a, b = ref.predict(depth, top_k=1), pred.predict(depth, top_k=1)
    assert max(float(np.max(np.abs(m - n))) for m, n in zip(a.maps, b.maps)) < 0.2
    assert b.grasps, "bf16 found no grasp where fp32 did"
    assert abs(a.grasps[0].u - b.grasps[0].u) <= 3 and abs(a.grasps[0].v - b.grasps[0].v) <= 3


def test_export_is_cached_by_model_content(export_cache):
    make("onnxruntime", "fp32")
    files = list(export_cache.rglob("*.onnx"))
    assert len(files) == 1 and files[0].name == "256-fp32.onnx"
    mtime = files[0].stat().st_mtime_ns
    GraspPredictor(MODEL, device="cpu", backend="onnxruntime")
    assert files[0].stat().st_mtime_ns == mtime  # reused, not exported again
    GraspPredictor(MODEL, device="cpu", backend="onnxruntime", input_size=300)
    assert (files[0].parent / "300-fp32.onnx").is_file()  # one file per input size
    net, card = load_model(MODEL)
    with torch.no_grad():
        net.heads.quality.weight.add_(1e-3)  # different weights: a different cache entry, never the stale one
    assert cache_path(net, card, 256, "fp32").parent != files[0].parent


def test_int8_needs_a_calibrated_export_then_runs(tmp_path):
    pytest.importorskip("onnxruntime")
    with pytest.raises(ModelFileError, match=r"no int8 export .*--calibration FRAMES.npz"):
        GraspPredictor(MODEL, device="cpu", backend="onnxruntime", precision="int8")
    frames = tmp_path / "frames.npz"
    np.savez(frames, depth=np.stack([scene(s) for s in range(4)]))
    path, diff = export(MODEL, "onnx", precision="int8", calibration=frames)
    assert path.name == "256-int8.onnx" and path.with_suffix(".json").is_file()
    assert 0 < diff < 0.5  # quantised: not bit-exact, but the same maps to within the report's figure
    ref = GraspPredictor(MODEL, device="cpu")
    depth = scene(7)  # not a calibration frame
    a = ref.predict(depth)
    for backend in ("onnxruntime", "openvino"):
        b = make(backend, "int8").predict(depth)  # both runtimes run the same quantised graph
        assert b.grasps and abs(a.grasps[0].u - b.grasps[0].u) <= 5 and abs(a.grasps[0].v - b.grasps[0].v) <= 5


def test_bad_choices_name_the_parameter():
    with pytest.raises(ValueError, match="backend must be one of"):
        GraspPredictor(MODEL, backend="tensorrt")
    with pytest.raises(ValueError, match=r"backend 'onnxruntime' supports precision \('fp32', 'int8'\)"):
        GraspPredictor(MODEL, backend="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="input_size must be a positive multiple of 4"):
        GraspPredictor(MODEL, input_size=302)
    with pytest.raises(ValueError, match="calibration"):
        export(MODEL, "onnx", precision="int8")


def test_other_input_sizes_run_and_map_back():
    pred = GraspPredictor(MODEL, device="cpu", input_size=320)
    p = pred.predict(scene(1), top_k=3)
    assert pred.frame_input.buffer.shape == (1, 1, 320, 320) and p.maps[0].shape[-1] == 320
    assert all(0 <= g.u < 640 and 0 <= g.v < 480 for g in p.grasps)
    np.testing.assert_allclose(p.info.matrix[:, 2], [-160.0, -80.0])  # the centred 320 window of 640x480
