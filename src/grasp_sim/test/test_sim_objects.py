"""Procedural objects, mesh loading (EGAD), the convex-part cache and loader errors."""

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

try:
    import grasp_sim  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grasp_sim import SimCell, load_mesh_object, load_mesh_objects, procedural_objects  # noqa: E402
from grasp_sim import objects as objects_mod  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
EGAD = REPO.parent / "shared" / "data" / "egad_eval_set"
# Light CoACD settings keep the first (uncached) decomposition of the test mesh near 1-2 s.
LIGHT = dict(max_convex_hull=6, mcts_iterations=15, resolution=300, threshold=0.15)


def _signature(objs):
    return [(o.name, o.mass, o.friction, [(p.kind, p.size, p.pos) for p in o.primitives]) for o in objs]


def test_procedural_objects_are_seeded_varied_and_fit_the_gripper():
    a, b, c = procedural_objects(40, seed=7), procedural_objects(40, seed=7), procedural_objects(40, seed=8)
    assert _signature(a) == _signature(b)
    assert _signature(a) != _signature(c)
    kinds = {o.name.split("_", 2)[2] for o in a}
    assert kinds == {"box", "cylinder", "capsule", "ellipsoid", "L", "T"}
    for o in a:
        ext = o.extents()
        assert o.fits_gripper(0.08), f"{o.name} extents {ext}"
        assert ext[1] <= 0.9 * 0.08 + 1e-9 and ext[0] >= 0.015 - 1e-9 and ext[2] <= 0.13
        assert 0.01 <= o.mass < 1.0
    # a smaller gripper gets smaller objects
    assert all(o.fits_gripper(0.05) for o in procedural_objects(20, seed=1, max_opening=0.05))


def test_wide_family_adds_rods_plates_small_objects_and_channels_that_still_fit():
    objs = procedural_objects(120, seed=7, family="wide")
    kinds = {o.name.split("_", 2)[2] for o in objs}
    assert kinds == {"box", "cylinder", "capsule", "ellipsoid", "L", "T", "rod", "plate", "small", "U"}
    for o in objs:
        assert o.fits_gripper(0.08), f"{o.name} extents {o.extents()}"
        kind = o.name.split("_", 2)[2]
        ext = o.extents()
        if kind == "rod":
            assert ext[2] >= 0.10 and ext[0] <= 0.025 + 1e-9  # long and thin
        elif kind == "plate":
            assert ext[0] <= 0.02 + 1e-9                     # flat
        elif kind == "small":
            assert ext[2] <= 0.03 + 1e-9
        elif kind == "U":
            assert len(o.primitives) == 3
    # the basic family is what it was: evaluation pools and older datasets keep their objects
    assert _signature(procedural_objects(40, seed=7)) == _signature(procedural_objects(40, seed=7, family="basic"))
    with pytest.raises(ValueError, match="family"):
        procedural_objects(1, family="odd")


def test_procedural_objects_drop_and_settle_in_the_tray():
    objs = procedural_objects(6, seed=2)
    with SimCell(objs, seed=0) as cell:
        t0 = time.perf_counter()
        cell.reset(None, seed=4)
        print(f"\nreset+settle of 6 objects: {1e3 * (time.perf_counter() - t0):.0f} ms, "
              f"{cell.last_settle_steps} steps")
        assert cell.last_settled
        poses = cell.object_poses()
        assert np.all(np.abs(poses[:, :2]) < cell.tray_half_size)
        assert np.all(poses[:, 2] > 0) and np.all(poses[:, 2] < 0.15)
        seen = set(np.unique(cell.render(rgb=False, depth=False).segmentation)) - {-1, -2}
        assert len(seen) >= 5  # (one may be hidden under another)


@pytest.mark.skipif(not EGAD.is_dir(), reason=f"EGAD set not found at {EGAD} (shared data is not in a fresh clone)")
def test_egad_object_loads_scaled_and_its_convex_cache_is_reused(tmp_path, monkeypatch):
    path = EGAD / "G6.obj"
    t0 = time.perf_counter()
    obj = load_mesh_object(path, max_extent_m=0.06, cache_dir=tmp_path, coacd_params=LIGHT)
    t_first = time.perf_counter() - t0
    assert obj.scale == pytest.approx(0.06 / 102.3, rel=0.02)  # mm file, largest extent ~102 mm -> 6 cm
    assert np.ptp(obj.vertices, axis=0).max() == pytest.approx(0.06, abs=1e-6)
    assert abs(obj.vertices.mean(axis=0)).max() < 0.02  # centred
    assert 1 < len(obj.convex_parts) <= 6
    cached = list(tmp_path.glob("*/parts.npz"))
    assert len(cached) == 1 and (cached[0].parent / "meta.json").is_file()

    import coacd
    monkeypatch.setattr(coacd, "run_coacd", lambda *a, **k: pytest.fail("cache miss: CoACD ran again"))
    t0 = time.perf_counter()
    again = load_mesh_object(path, max_extent_m=0.05, cache_dir=tmp_path, coacd_params=LIGHT)  # other size, same parts
    t_second = time.perf_counter() - t0
    print(f"\nEGAD G6: first load (CoACD) {t_first * 1e3:.0f} ms, cached {t_second * 1e3:.0f} ms")
    assert t_second < t_first
    assert len(again.convex_parts) == len(obj.convex_parts)
    np.testing.assert_allclose(again.convex_parts[0][0] * 0.06 / 0.05, obj.convex_parts[0][0], rtol=1e-6)

    with SimCell([obj], seed=0) as cell:  # it simulates and renders
        cell.reset(0, seed=1)
        pos, _ = cell.object_pose(0)
        assert abs(pos[0]) < 0.2 and abs(pos[1]) < 0.2 and 0 < pos[2] < 0.06
        assert (cell.render(rgb=False, depth=False).segmentation == 0).sum() > 500


@pytest.mark.skipif(not EGAD.is_dir(), reason=f"EGAD set not found at {EGAD}")
def test_egad_at_print_size_does_not_fit_an_8cm_gripper(tmp_path):
    with pytest.raises(ValueError, match=r"A0\.obj.*does not fit the gripper"):
        load_mesh_object(EGAD / "A0.obj", cache_dir=tmp_path)


def test_unloadable_and_degenerate_meshes_raise_naming_the_file(tmp_path):
    bad = tmp_path / "broken.obj"
    bad.write_text("this is not an OBJ file\nv 1 2\nf 1 2 3\n")
    with pytest.raises(ValueError, match="broken.obj"):
        load_mesh_object(bad, cache_dir=None)
    flat = tmp_path / "flat.obj"
    flat.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nv 2 1 0\nf 1 2 3\nf 2 4 3\nf 2 5 4\nf 1 3 4\n")
    with pytest.raises(ValueError, match="flat.obj"):
        load_mesh_object(flat, cache_dir=None)
    with pytest.raises(ValueError, match="missing.stl"):
        load_mesh_object(tmp_path / "missing.stl")
    # a directory holding a bad mesh raises too (only too-big objects are skipped)
    with pytest.raises(ValueError, match="broken.obj"):
        load_mesh_objects(tmp_path, cache_dir=None)


def test_directory_loader_skips_too_big_objects_with_a_warning(tmp_path):
    import trimesh
    trimesh.creation.box((30.0, 40.0, 50.0)).export(tmp_path / "small_mm.stl")   # 3 x 4 x 5 cm, in mm
    # 15 cm cube, in m: no part of it fits between the fingers (a thin plate would: see objects.py)
    trimesh.creation.box((0.15, 0.15, 0.15)).export(tmp_path / "plate_m.obj")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        objs = load_mesh_objects(tmp_path, cache_dir=None, decompose=False)
    assert [o.name for o in objs] == ["small_mm"]
    np.testing.assert_allclose(objs[0].extents(), [0.03, 0.04, 0.05], atol=1e-6)
    assert any("plate_m.obj" in str(w.message) for w in caught)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .obj/.stl files"):
        load_mesh_objects(tmp_path / "empty")


def test_default_cache_is_outside_the_repo():
    assert REPO not in objects_mod.default_cache_dir().parents
