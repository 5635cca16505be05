"""The Gaussian-maps ablation command (python -m grasp_sim.ablation): its --quick mode end to end (a tiny generated
dataset, two variants, one seed, a few grasp trials; about half a minute on 2 cores), --resume, and config errors."""
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from grasp_sim import ablation

CONFIG = ablation.DEFAULT_CONFIG


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("ablation") / "quick"
    assert ablation.main(["--config", str(CONFIG), "--quick", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.slow
def test_quick_mode_writes_one_row_per_variant_with_finite_figures(quick):
    variants = yaml.safe_load(CONFIG.read_text())["profiles"]["quick"]["variants"]
    report = json.loads((quick / "ablation.json").read_text())
    assert list(report["variants"]) == variants
    for name, v in report["variants"].items():
        assert v["seeds"] == [0]
        for key, s in v["metrics"].items():
            assert s["n"] == 1 and math.isfinite(s["mean"]) and 0 <= s["mean"] <= 1, (name, key, s)
        assert v["n_trials"] >= 1
        result = json.loads((quick / name / "seed0" / "result.json").read_text())
        assert result["config"]["train"]["seed"] == 0
        assert result["config"]["data"]["root"] == str((quick / "data").resolve())
    maps = {name: v["settings"]["map"] for name, v in report["variants"].items()}
    assert sorted(maps.values()) == ["binary", "strong"]
    table = (quick / "ablation.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| variant")]
    assert [r.split("|")[1].strip() for r in rows] == variants
    assert "trials per object" in table and "gripper floating" in table and "realistic" in table


@pytest.mark.slow
def test_resume_skips_finished_runs(quick, capsys):
    results = sorted(quick.glob("*/seed*/result.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    models = {p: p.stat().st_mtime_ns for p in quick.glob("*/seed*/model/*")}
    assert ablation.main(["--config", str(CONFIG), "--quick", "--out", str(quick), "--resume", "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in results} == before
    assert {p: p.stat().st_mtime_ns for p in quick.glob("*/seed*/model/*")} == models  # not retrained
    assert capsys.readouterr().out.count("skipped") == len(results)


def _config_with(tmp_path: Path, edit) -> Path:
    values = yaml.safe_load(CONFIG.read_text())
    edit(values)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def test_an_unknown_training_key_in_an_axis_names_the_file_and_key(tmp_path):
    path = _config_with(tmp_path, lambda v: v["axes"]["map"]["binary"].update({"targets.mapp": "binary"}))
    with pytest.raises(ValueError, match=r"bad\.yaml: axes\.map\.binary: .*targets\.mapp"):
        ablation.load_ablation(path)


@pytest.mark.parametrize("edit, message", [
    (lambda v: v.update(seeds=[]), r"bad\.yaml: seeds must be a non-empty list"),
    (lambda v: v.update(base="config/train/nope.yaml"), r"bad\.yaml: base: .*nope\.yaml not found"),
    (lambda v: v["overrides"].update({"train.seed": 3}), r"bad\.yaml: overrides\.train\.seed: .*set by the ablation"),
    (lambda v: v["grasp"].update(gripper="claw"), r"bad\.yaml: grasp\.gripper must be one of"),
    (lambda v: v["profiles"]["quick"].update(variants=["nope"]), r"bad\.yaml: profiles\.quick\.variants: unknown variant"),
])
def test_bad_configs_are_refused(tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        ablation.load_ablation(_config_with(tmp_path, edit), profile="quick")


def test_a_missing_dataset_gives_the_generate_command(tmp_path):
    path = _config_with(tmp_path, lambda v: v["dataset"].update(root=str(tmp_path / "none")))
    with pytest.raises(FileNotFoundError, match=r"python -m grasp_sim\.generate --out .*none --scenes"):
        ablation.prepare_data(ablation.load_ablation(path), progress=False)


def test_a_profile_narrows_the_sweep_and_keeps_the_full_dataset():
    full = ablation.load_ablation(CONFIG)
    cpu = ablation.load_ablation(CONFIG, profile="cpu")
    profile = yaml.safe_load(CONFIG.read_text())["profiles"]["cpu"]
    assert list(cpu.variants) == profile["variants"] and cpu.seeds == profile["seeds"]
    assert len(full.variants) == 16 and cpu.variants == {k: full.variants[k] for k in profile["variants"]}
    assert not cpu.own_data and cpu.root == full.root  # trains on dataset.root, not a generated one
    assert cpu.overrides == {**full.overrides, **profile["overrides"]}
    assert cpu.grasp.trials_per_object == profile["grasp"]["trials_per_object"]
    assert cpu.grasp.n_objects == full.grasp.n_objects
    with pytest.raises(ValueError, match=r"profiles\.gpu: no such profile; the file has \['cpu', 'quick'\]"):
        ablation.load_ablation(CONFIG, profile="gpu")


def test_report_tables_the_finished_runs_and_names_the_rest(quick, tmp_path):
    variants = yaml.safe_load(CONFIG.read_text())["profiles"]["quick"]["variants"]
    result = quick / variants[1] / "seed0" / "result.json"
    kept = result.read_text()
    result.unlink()  # as if that run were still going
    try:
        assert ablation.main(["--config", str(CONFIG), "--quick", "--out", str(quick), "--report", "--no-progress"]) == 0
        assert not result.exists()  # nothing was run
        report = json.loads((quick / "ablation.json").read_text())
        assert list(report["variants"]) == [variants[0]] and report["pending"] == [f"{variants[1]} seed 0"]
        assert f"1 run(s) not finished: {variants[1]} seed 0" in (quick / "ablation.md").read_text()
    finally:
        result.write_text(kept)
    empty = tmp_path / "empty"
    assert ablation.main(["--config", str(CONFIG), "--quick", "--out", str(empty), "--report", "--no-progress"]) == 2
