"""The trials CLI end to end: model file -> camera -> network -> world grasp -> physics -> report."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from grasp_perception.config import PostprocessConfig
from grasp_perception.model_io import ModelCard, save_model
from grasp_perception.networks import build_network
from grasp_sim.report import egad_cell, egad_grid

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import torch
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("model") / "m"
    card = ModelCard(name="untrained-ggcnn2", architecture="ggcnn2", inputs="depth", n_bins=3,
                     input_size=128, crop="resize", max_width_px=60.0,
                     postprocess=PostprocessConfig(min_distance=10, threshold=0.0))
    save_model(out, build_network("ggcnn2", in_channels=1, n_bins=3), card)
    return out


@pytest.fixture(scope="module")
def egad_named_meshes(tmp_path_factory):
    """Two small meshes named like EGAD objects (A0 = easy/simple, C4), in millimetres as EGAD's are."""
    folder = tmp_path_factory.mktemp("meshes")
    trimesh.creation.box(extents=(40, 30, 30)).export(folder / "A0.obj")
    trimesh.creation.cylinder(radius=15, height=40).export(folder / "C4.obj")
    return folder


def _trials(*args):
    return subprocess.run([sys.executable, "-m", "grasp_sim.trials", *map(str, args), "--no-progress"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)


def test_trials_cli_writes_json_heatmap_and_resumes(model_dir, egad_named_meshes, tmp_path):
    report, out = tmp_path / "report", tmp_path / "results.json"
    proc = _trials("--model", model_dir, "--friction", "none", "--objects", egad_named_meshes, "--trials-per-object", 2,
                   "--json", out, "--report", report)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results["per_object"]) == {"A0", "C4"}
    assert all(r["attempts"] == 2 for r in results["per_object"].values())
    assert results["n_trials"] == 4 and 0.0 <= results["success_rate"] <= 1.0
    assert results["successes"] == sum(r["successes"] for r in results["per_object"].values())
    assert (report / "egad_heatmap.png").stat().st_size > 1000
    header, *lines = (report / "trials.jsonl").read_text().splitlines()
    assert json.loads(header)["settings"]["trials_per_object"] == 2 and len(lines) == 4
    assert "A0" in proc.stdout and "overall" in proc.stdout
    # A second run into the same report folder must not silently mix runs...
    again = _trials("--model", model_dir, "--friction", "none", "--objects", egad_named_meshes, "--trials-per-object", 2,
                    "--report", report)
    assert again.returncode == 2 and "--resume" in again.stderr
    # ...nor resume them with other settings...
    other = _trials("--model", model_dir, "--friction", "none", "--objects", egad_named_meshes, "--trials-per-object", 2,
                    "--report", report, "--resume", "--seed", 1)
    assert other.returncode == 2 and "seed: 0 -> 1" in other.stderr
    # ...and --resume with more trials per object only runs the missing ones.
    more = _trials("--model", model_dir, "--friction", "none", "--objects", egad_named_meshes, "--trials-per-object", 3,
                   "--json", out, "--report", report, "--resume")
    assert more.returncode == 0, more.stderr[-3000:]
    assert "4 trials already done" in more.stdout
    assert len((report / "trials.jsonl").read_text().splitlines()) == 1 + 6
    assert json.loads(out.read_text())["n_trials"] == 6


def test_trials_cli_reports_a_bad_objects_folder(model_dir, tmp_path):
    proc = _trials("--model", model_dir, "--objects", tmp_path / "nope", "--report", tmp_path / "r")
    assert proc.returncode == 2 and "nope" in proc.stderr


def test_trials_cli_friction_sweep_reports_per_mu_and_objects_that_do_not_fit(model_dir, tmp_path):
    folder = tmp_path / "meshes"
    folder.mkdir()
    trimesh.creation.box(extents=(40, 30, 30)).export(folder / "A0.obj")
    trimesh.creation.box(extents=(150, 150, 150)).export(folder / "G6.obj")  # 15 cm: no gripper opens that far
    report, out = tmp_path / "report", tmp_path / "results.json"
    proc = _trials("--model", model_dir, "--objects", folder, "--trials-per-object", 1, "--friction", "0.2,1.0",
                   "--json", out, "--report", report)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["friction"] == [0.2, 1.0] and set(results["per_friction"]) == {"0.2", "1"}
    for key, mu in (("0.2", 0.2), ("1", 1.0)):
        per = results["per_friction"][key]
        assert per["contact_mu"] == mu and per["n_trials"] == 1 and set(per["per_object"]) == {"A0"}
        header, *lines = (report / f"mu_{key}" / "trials.jsonl").read_text().splitlines()
        assert json.loads(header)["settings"]["contact_mu"] == mu
        assert json.loads(lines[0])["contact_mu"] == mu
    rates = [results["per_friction"][k]["success_rate"] for k in ("0.2", "1")]
    assert results["success_rate"] == pytest.approx(sum(rates) / 2)  # PLGP's average over mu
    assert results["n_trials"] == 2 and set(results["per_object"]) == {"A0"}  # G6 neither tried nor failed
    assert [u["name"] for u in results["does_not_fit"]] == ["G6"]
    assert results["sim_config"].endswith("realistic.yaml")
    md = (report / "results.md").read_text()
    assert "| 0.2 |" in md and "average" in md and "G6" in md and "does not fit" in md.lower()


def test_egad_grid_places_objects_by_letter_and_digit():
    assert egad_cell("A0") == (0, 0) and egad_cell("G6.obj") == (6, 6) and egad_cell("proc_001") is None
    grid = egad_grid({"B3": {"successes": 3, "attempts": 4}, "G0": {"successes": 0, "attempts": 2}})
    assert grid[1, 3] == 0.75 and grid[6, 0] == 0.0
    assert np.isnan(grid).sum() == 47


def test_sim_benchmark_runs_its_matrix_writes_one_table_and_resumes(model_dir, egad_named_meshes, tmp_path):
    import yaml
    from grasp_sim import benchmark

    # A tiny cell and matrix: 1 trial per object at two mu, one 2-object scene with AP over 3 grasps.
    sim = yaml.safe_load((REPO / "config" / "sim" / "realistic.yaml").read_text())
    sim["protocol"].update(trials_per_object=1, friction=[0.3, 0.9])
    sim["protocol"]["clutter"]["ap_top_k"] = 3
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(sim))
    matrix = yaml.safe_load(benchmark.DEFAULT_MATRIX.read_text())
    matrix.update(sim_config=str(tmp_path / "sim.yaml"),
                  egad={"objects": str(egad_named_meshes), "grippers": ["floating"]},
                  clutter={"objects": "procedural", "pool": 3, "objects_seed": 1000, "sizes": [2], "scenes": 1,
                           "gripper": "floating"},
                  unseen_camera={"height": 0.45, "resolution": [1280, 720], "runs": ["egad_floating"]})
    (tmp_path / "matrix.yaml").write_text(yaml.safe_dump(matrix))
    out = tmp_path / "bench"
    argv = ["--model", str(model_dir), "--matrix", str(tmp_path / "matrix.yaml"), "--out", str(out), "--no-progress"]
    assert benchmark.main(argv) == 0
    report = json.loads((out / "benchmark.json").read_text())
    egad, clutter = report["runs"]["egad_floating"], report["runs"]["clutter_2"]
    assert set(egad["per_friction"]) == {"0.3", "0.9"} and egad["n_trials"] == 4  # 2 objects x 1 trial x 2 mu
    assert set(egad["per_object"]) == {"A0", "C4"} and (out / "egad_floating_heatmap.png").stat().st_size > 0
    for mu, s in clutter["per_friction"].items():
        (scene,) = s["scenes"]
        assert scene["contact_mu"] == float(mu) and scene["ap_top_k"] == 3 and scene["n_objects"] == 2
        assert s["SR"] == (scene["picked"] / scene["attempts"] if scene["attempts"] else None)
    # the unseen camera: the same trials with the camera at 0.45 m rendering 1280x720 frames
    unseen = report["runs"]["egad_floating_unseen_camera"]
    assert unseen["n_trials"] == 4 and unseen["sim_settings"]["camera"]["resolution"] == [1280, 720]
    assert unseen["sim_settings"]["camera"]["height"] == 0.45
    md = (out / "benchmark.md").read_text()
    assert "| floating | 640x480 at 0.6 m | 2 | 0 | 1 | 4 (0) |" in md
    assert "| floating | 1280x720 at 0.45 m | 2 | 0 | 1 | 4 (0) |" in md and "| 2 | floating | 640x480 at 0.6 m | 2 (0) |" in md
    # Again: every trial is logged, so nothing is re-run and the figures are the same.
    logs = sorted(out.glob("*/mu_*/*.jsonl"))
    lines = [p.read_text().count("\n") for p in logs]
    assert benchmark.main(argv) == 0
    assert [p.read_text().count("\n") for p in logs] == lines
    assert json.loads((out / "benchmark.json").read_text())["runs"]["egad_floating"]["success_rate"] == \
        egad["success_rate"]
