"""Tests of the synthetic data generator CLI (python -m grasp_sim.generate).

Runs are tiny (a 4-object procedural pool, every 2nd pixel labelled) so that each test stays
within a few seconds on two shared cores; one 3-scene run is shared by the tests that only read it.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from grasp_perception.datasets.jacquard import JacquardSource
from grasp_sim import generate as gen

# Seed 1 with this pool: 3 images, all with labels; with the realistic profile's random viewpoints (5 views per
# dropped scene) they are 3 views of dropped scene 0 (one object, one folder).
SEED = 1
MAX_GRASPS = 100
COMMON = ["--objects", "procedural", "--pool-size", "4", "--stride", "2", "--seed", str(SEED),
          "--max-grasps-per-scene", str(MAX_GRASPS), "--no-progress"]
SUFFIXES = ("_RGB.png", "_perfect_depth.tiff", "_stereo_depth.tiff", "_mask.png", "_grasps.txt")


def run(out, *extra):
    assert gen.main(["--out", str(out), *COMMON, *extra]) == 0
    return json.loads((Path(out) / gen.STATUS_FILE).read_text())


def scene_files(out: Path, index: int) -> dict[str, bytes]:
    """Every file of scene ``index`` (wherever its object folder is) by name, with its bytes."""
    files = {p.name: p.read_bytes() for p in out.glob(f"*/{index}_*") if p.name.endswith(SUFFIXES)}
    assert len(files) == len(SUFFIXES), f"scene {index} in {out}: files {sorted(files)}"
    return files


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "full"
    status = run(out, "--scenes", "3", "--workers", "1")
    assert status["counts"]["written"] == 3, f"the test seed should give 3 labelled scenes: {status['counts']}"
    return out, status


def test_run_writes_a_jacquard_dataset(full):
    out, status = full
    src = JacquardSource(out)
    assert len(src) == 3
    names = status["pool"]["names"]
    views = gen.views_per_scene(gen.load_sim_settings())
    assert views == 5 and len(set(src.object_ids())) == 1  # views of one dropped scene share its folder
    for i in range(len(src)):
        s = src.load(i)
        index = int(s.sample_id.split("_", 1)[0])
        scene, view = gen.physical_scene(index, views)
        assert (scene, view) == (0, index)
        assert s.object_id == names[gen.scene_objects(SEED, scene, 4, 1)[0]]
        assert s.sample_id == f"{index}_{s.object_id}"
        assert 0 < len(s.grasps) <= MAX_GRASPS
        uv = np.array([[g.u, g.v] for g in s.grasps])
        assert s.mask[np.rint(uv[:, 1]).astype(int), np.rint(uv[:, 0]).astype(int)].all(), \
            "grasp centres must lie on the object mask"
        stereo = JacquardSource(out, depth="stereo").load(i).depth
        valid = np.isfinite(stereo) & np.isfinite(s.depth)
        # stereo = noise model (dropout + Gaussian), perfect = the clean depth the labels used
        assert np.isnan(stereo).sum() > np.isnan(s.depth).sum()
        assert 0 < np.abs(stereo[valid] - s.depth[valid]).mean() < 0.01
    assert status["status"] == "complete"
    assert status["labels"]["dense"] > status["labels"]["written"] == status["labels"]["dataset_total"] \
        == sum(len(src.load_grasps(i)) for i in range(len(src)))
    assert status["scenes_per_min"] > 0 and status["labels_per_min"] > 0
    assert (out / gen.PREVIEW_FILE).stat().st_size > 0
    assert status["args"]["family"] == "wide"
    # the images' scale on the tray, which training records in the model card: height / focal length
    assert status["metres_per_pixel"] == pytest.approx(0.6 / 615.0)
    # Each view's camera pose: at the profile's height, looking at the tray centre, all different.
    cams = [json.loads(line) for line in (out / gen.CAMERA_FILE).read_text().splitlines()]
    assert sorted(c["index"] for c in cams) == [0, 1, 2]
    poses = np.array([c["camera_pose"] for c in cams])
    assert np.allclose(poses[:, 2, 3], 0.6) and len({tuple(p[:2, 3]) for p in poses}) == 3
    to_centre = -poses[:, :3, 3] / np.linalg.norm(poses[:, :3, 3], axis=1, keepdims=True)
    assert np.allclose(np.einsum("ij,ij->i", poses[:, :3, 2], to_centre), 1.0, atol=1e-6)


def test_scene_generated_alone_equals_the_full_run(full, tmp_path):
    out, _ = full
    run(tmp_path / "alone", "--start", "2", "--scenes", "1")
    assert len(JacquardSource(tmp_path / "alone")) == 1
    assert scene_files(tmp_path / "alone", 2) == scene_files(out, 2)  # same bytes: RGB, depths, mask, grasps


def test_workers_2_write_the_same_files_as_workers_1(full, tmp_path):
    out, _ = full
    status = run(tmp_path / "w2", "--scenes", "2", "--workers", "2")
    assert status["counts"]["written"] == 2
    for i in (0, 1):
        assert scene_files(tmp_path / "w2", i) == scene_files(out, i)


def test_existing_dataset_without_resume_is_an_error_naming_the_folder(full, capsys):
    out, _ = full
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(SystemExit) as exc:
        gen.main(["--out", str(out), *COMMON, "--scenes", "3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--resume" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_resume_with_other_settings_is_an_error_naming_them(full, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(full[0], out)
    with pytest.raises(SystemExit):
        gen.main(["--out", str(out), *COMMON, "--scenes", "3", "--resume", "--pool-size", "5"])
    assert "--pool-size 4 -> 5" in capsys.readouterr().err


def test_resume_generates_only_the_unfinished_scenes(full, tmp_path):
    out = tmp_path / "interrupted"
    shutil.copytree(full[0], out)
    # an interrupted run: scene 1 never got its grasps file, and a half-moved file is left over
    missing = next(out.glob("*/1_*_grasps.txt"))
    expected = missing.read_bytes()
    missing.unlink()
    leftover = missing.with_name(missing.name + ".part")
    leftover.write_text("0;0;0;")
    assert len(JacquardSource(out)) == 2
    others = {p: p.stat().st_mtime_ns for p in out.glob("*/[02]_*")}

    status = run(out, "--scenes", "3", "--resume")
    assert status["counts"]["written"] == 1 and status["counts"]["already_present"] == 2
    assert missing.read_bytes() == expected
    assert not leftover.exists()
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/[02]_*")} == others  # finished scenes untouched
    assert len(JacquardSource(out)) == 3
    assert status["labels"]["dataset_total"] == full[1]["labels"]["dataset_total"]


def test_scenes_without_labels_are_skipped_counted_and_not_retried(tmp_path, monkeypatch):
    real = gen.generate_labels

    def no_labels_for_scene_0(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(len(result.grasps))
        if len(calls) == 1:
            result.grasps = []
        return result

    calls = []
    monkeypatch.setattr(gen, "generate_labels", no_labels_for_scene_0)
    status = run(tmp_path / "d", "--scenes", "2")
    assert status["counts"]["written"] == 1 and status["counts"]["skipped_no_label"] == 1
    assert len(JacquardSource(tmp_path / "d")) == 1
    assert (tmp_path / "d" / gen.NO_LABEL_FILE).read_text().split() == ["0"]
    status = run(tmp_path / "d", "--scenes", "2", "--resume")
    assert len(calls) == 2, "a resumed run must not retry a scene known to have no labels"
    assert status["counts"]["known_no_label"] == 1 and status["counts"]["already_present"] == 1


def test_scene_plan_is_reproducible_and_names_clutter_by_scene():
    plans = [gen.scene_objects(7, i, 10, 3) for i in range(50)]
    assert plans == [gen.scene_objects(7, i, 10, 3) for i in range(50)]
    assert all(1 <= len(p) <= 3 and len(set(p)) == len(p) and all(0 <= k < 10 for k in p) for p in plans)
    assert {len(p) for p in plans} == {1, 2, 3}
    assert gen.scene_objects(8, 0, 10, 3) != plans[0] or gen.scene_objects(8, 1, 10, 3) != plans[1]
    assert gen.scene_object_id(5, ["a"]) == "a"
    assert gen.scene_object_id(5, ["a", "b"]) == "scene000005"


def test_procedural_pool_names_carry_the_seed():
    a = gen.load_pool("procedural", pool_size=3, seed=0, max_extent=0.06)
    b = gen.load_pool("procedural", pool_size=3, seed=1, max_extent=0.06)
    assert len({o.name for o in a + b}) == 6


@pytest.mark.parametrize("extra, message", [
    (["--objects", "/nonexistent/meshes"], "/nonexistent/meshes"),
    (["--workers", "0"], "--workers"),
    (["--max-objects", "5"], "--max-objects 5"),
    (["--camera-heights", "0.8", "0.5"], "--camera-heights"),
    (["--resolutions", "1280by720"], "1280by720"),
])
def test_bad_arguments_name_the_parameter(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        gen.main(["--out", str(tmp_path / "x"), "--scenes", "1", *COMMON, *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_varied_cameras_are_rescaled_to_the_reference_scale(full, tmp_path):
    """The same view from a 1280x720 camera at 0.75 m is written at the reference camera's metric scale: the
    objects cover the same pixels as in the 640x480 frame at 0.6 m, and each image's camera is recorded."""
    out, status = full
    far = tmp_path / "far"
    far_status = run(far, "--scenes", "1", "--camera-heights", "0.75", "0.75", "--resolutions", "1280x720")
    assert far_status["metres_per_pixel"] == pytest.approx(status["metres_per_pixel"])
    (record,) = [json.loads(line) for line in (far / gen.CAMERA_FILE).read_text().splitlines()]
    cam = record["camera"]
    assert cam["height"] == 0.75 and cam["resolution"] == [1280, 720]
    # 0.75 m / 1230 px against 0.6 m / 615 px: about 0.625 (the surface depth is measured, as at run time)
    assert cam["rescale"] == pytest.approx(0.625, abs=0.03)
    w, h = cam["intrinsics"][4:]
    near = JacquardSource(out).load(0)
    scaled = JacquardSource(far).load(0)
    assert scaled.depth.shape == (h, w) == (round(720 * cam["rescale"]), round(1280 * cam["rescale"]))
    assert scaled.mask.sum() == pytest.approx(near.mask.sum(), rel=0.12)
    near_w = np.median([g.width for g in near.grasps])
    assert np.median([g.width for g in scaled.grasps]) == pytest.approx(near_w, rel=0.15)  # openings in px agree
    # the default camera's records say it was not rescaled
    first = json.loads((out / gen.CAMERA_FILE).read_text().splitlines()[0])
    assert first["camera"]["rescale"] == 1.0 and first["camera"]["resolution"] == [640, 480]
