"""The benchmark suite runs end to end in quick mode and writes every field its JSON promises.

It prints figures; nothing here asserts a speed.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("grasp_sim", reason="the benchmark's frames come from the simulated cell")
pytest.importorskip("mujoco")


def test_quick_benchmark_writes_every_field(tmp_path):
    env = {**os.environ, "GRASP_CACHE_DIR": str(tmp_path / "cache"), "ROS_DOMAIN_ID": "87",
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, "-m", "grasp_perception.benchmark", "--quick", "--out", str(out),
                           "--heldout", str(tmp_path / "heldout")],
                          capture_output=True, text=True, timeout=600, env=env)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "benchmark.json").read_text())
    assert report["machine"]["cores"] == os.cpu_count() and report["machine"]["cpu_model"]
    assert report["peak_gflops_per_s"]["fp32"] > 0
    rows = [r for r in report["rows"] if "skipped" not in r]
    ran = {(r["backend"], r["precision"]) for r in rows}
    assert ("torch", "fp32") in ran
    for backend in ("onnxruntime", "openvino"):
        if importlib.util.find_spec(backend) is not None:
            assert (backend, "fp32") in ran and (backend, "int8") in ran
    for r in rows:
        assert r["network"] == "ggcnn2" and r["input_size"] == 256 and r["trained"]
        for key in ("preprocess_ms", "inference_ms", "postprocess_ms", "deproject_ms", "end_to_end_ms"):
            assert 0 < r[key]["median"] <= r[key]["p95"]
        assert r["end_to_end_ms"]["median"] >= r["inference_ms"]["median"]
        assert r["gflops"] > 1 and r["peak_fraction"] > 0
        assert 0 <= r["iou_0.25"] <= 1 and 0 <= r["iou_avg"] <= 1 and r["heldout_images"] > 0
        tolerance = 1e-4 if r["precision"] == "fp32" else 0.5
        assert r["max_map_difference"] <= tolerance
    assert "| ggcnn2 |" in (out / "benchmark.md").read_text()
    ros = report["ros"]
    if importlib.util.find_spec("rclpy") is None:
        assert "skipped" in ros
    else:
        assert ros["plan_grasp_one_process_ms"]["n"] > 0 and "median" in ros["ros_overhead_ms"]
        assert ros["continuous"]["frames_planned_per_s"] > 0
        assert 0 <= ros["continuous"]["frames_dropped_fraction"] < 1
