"""Dataset loaders (Jacquard, Cornell), pre-processing and the torch GraspDataset."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from grasp_perception.datasets import (Augment, CornellSource, DatasetError, GraspDataset,
                                       GraspSample, JacquardSource, dedupe_jaw, inpaint_depth,
                                       make_input, normalise_depth, normalise_rgb, prepare,
                                       to_original, write_jacquard_scene)
from grasp_perception.datasets import cornell as cornell_module
from grasp_perception.grasp import ImageGrasp

JACQUARD = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "jacquard_samples"
OBJ = "1a9fa4c269cfcc1b738e43095496b061"


@pytest.fixture(scope="module")
def jacquard() -> JacquardSource:
    if not JACQUARD.is_dir():
        pytest.skip(f"Jacquard samples not available at {JACQUARD} (fresh clone without ../shared)")
    return JacquardSource(JACQUARD)


def _copy_scene(tmp_path: Path) -> Path:
    """Copy scene 0 of OBJ into tmp_path/OBJ/ and return that folder."""
    if not JACQUARD.is_dir():
        pytest.skip(f"Jacquard samples not available at {JACQUARD}")
    dst = tmp_path / OBJ
    dst.mkdir()
    for f in (JACQUARD / OBJ).glob(f"0_{OBJ}_*"):
        shutil.copy(f, dst / f.name)
    return dst


# ------------------------------------------------------------------ Jacquard, real files

def test_jacquard_index_is_sorted_and_ids_parse(jacquard):
    assert len(jacquard) == 8
    ids = [jacquard.sample_id(i) for i in range(len(jacquard))]
    assert ids[0] == f"0_{OBJ}"
    assert jacquard.object_id(0) == OBJ
    assert jacquard.object_id(7) == "1d7830c5d0322518d95aa859a460a9ec"
    assert len(set(jacquard.object_ids())) == 2


def test_jacquard_load_real_sample(jacquard):
    s = jacquard.load(0)
    assert s.depth.shape == (1024, 1024) and s.depth.dtype == np.float32
    assert s.rgb.shape == (1024, 1024, 3) and s.rgb.dtype == np.uint8
    assert s.mask.dtype == bool and s.mask.any() and not s.mask.all()
    bgr = cv2.imread(str(JACQUARD / OBJ / f"0_{OBJ}_RGB.png"))
    np.testing.assert_array_equal(s.rgb, bgr[..., ::-1])  # RGB order, not OpenCV's BGR
    assert not np.isnan(s.depth).any() and 1.0 < np.nanmean(s.depth) < 2.0  # perfect depth, metres
    # one grasp per line, all jaw sizes kept
    n_lines = sum(1 for line in (JACQUARD / OBJ / f"0_{OBJ}_grasps.txt").read_text().splitlines()
                  if line.strip())
    assert len(s.grasps) == n_lines == 127
    # first line: 470.14815;253.89551;68.2615;25.5;25.6211 (theta is clockwise on screen)
    g = s.grasps[0]
    assert (g.u, g.v, g.width, g.jaw) == (470.14815, 253.89551, 25.5, 25.6211)
    assert g.angle == pytest.approx(-math.radians(68.2615))


def test_jacquard_counts_per_file(jacquard):
    for i in range(len(jacquard)):
        path = jacquard.grasps_path(i)
        n = sum(1 for line in path.read_text().splitlines() if line.strip())
        assert len(jacquard.load_grasps(i)) == n > 0


def test_jacquard_jaw_duplicates_and_dedupe(jacquard):
    grasps = jacquard.load_grasps(0)
    first_two = grasps[:2]  # same x, y, theta, opening; jaw 25.6211 and 38.4316
    assert first_two[0].jaw != first_two[1].jaw
    lo, hi = dedupe_jaw(grasps, "min"), dedupe_jaw(grasps, "max")
    assert len(lo) == len(hi) < len(grasps)
    keys = {(g.u, g.v, g.angle, g.width) for g in grasps}
    assert len(lo) == len(keys)
    assert lo[0].jaw == 25.6211 and hi[0].jaw == 38.4316
    assert dedupe_jaw(grasps, None) == grasps
    # The loader keeps every jaw size (evaluation needs them all); only training targets dedupe.
    assert len(JacquardSource(JACQUARD).load_grasps(0)) == len(grasps)
    with pytest.raises(ValueError):
        dedupe_jaw(grasps, "mean")


def test_jacquard_stereo_invalid_becomes_nan(jacquard):
    raw = cv2.imread(str(JACQUARD / OBJ / f"0_{OBJ}_stereo_depth.tiff"), cv2.IMREAD_UNCHANGED)
    assert (raw == -1).sum() > 0
    s = JacquardSource(JACQUARD, depth="stereo").load(0)
    assert np.isnan(s.depth).sum() == (raw <= 0).sum()
    assert np.isnan(s.depth[raw == -1]).all()
    assert np.nanmin(s.depth) > 0


# ------------------------------------------------------------------ Jacquard, bad input

def test_malformed_grasp_line_names_file_and_line(tmp_path):
    folder = _copy_scene(tmp_path)
    path = folder / f"0_{OBJ}_grasps.txt"
    lines = path.read_text().splitlines()
    lines[2] = "523.1;400.8;abc;25.5;13.0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=rf"0_{OBJ}_grasps\.txt:3: .*x;y;theta_deg"):
        JacquardSource(tmp_path).load(0)
    lines[2] = "523.1;400.8;68.2;25.5"  # 4 fields
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"grasps\.txt:3:"):
        JacquardSource(tmp_path).load(0)


@pytest.mark.parametrize("suffix", ["_mask.png", "_perfect_depth.tiff", "_RGB.png"])
def test_missing_scene_file_is_named(tmp_path, suffix):
    folder = _copy_scene(tmp_path)
    (folder / f"0_{OBJ}{suffix}").unlink()
    with pytest.raises(DatasetError, match=rf"0_{OBJ}{suffix}: missing"):
        JacquardSource(tmp_path).load(0)


def test_depth_shape_mismatch_and_empty_depth(tmp_path):
    folder = _copy_scene(tmp_path)
    depth_path = folder / f"0_{OBJ}_perfect_depth.tiff"
    cv2.imwrite(str(depth_path), np.ones((512, 512), np.float32))
    with pytest.raises(DatasetError, match=r"perfect_depth\.tiff.*\(512, 512\).*\(1024, 1024\)"):
        JacquardSource(tmp_path).load(0)
    cv2.imwrite(str(depth_path), np.zeros((1024, 1024), np.float32))
    with pytest.raises(DatasetError, match=r"perfect_depth\.tiff: .*no valid pixel"):
        JacquardSource(tmp_path).load(0)
    cv2.imwrite(str(depth_path), np.full((1024, 1024), np.nan, np.float32))
    with pytest.raises(DatasetError, match=r"no valid pixel"):
        JacquardSource(tmp_path).load(0)


def test_empty_or_missing_root(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path)):
        JacquardSource(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        JacquardSource(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no Cornell scene"):
        CornellSource(tmp_path)


# ------------------------------------------------------------------ Jacquard writer

def _synthetic_scene(rng, h=96, w=96):
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = (1.0 + rng.random((h, w))).astype(np.float32)
    stereo = depth.copy()
    stereo[:10, :10] = np.nan
    stereo[20, 20] = 0.0
    mask = rng.random((h, w)) > 0.5
    grasps = [ImageGrasp(u=rng.uniform(0, w), v=rng.uniform(0, h),
                         angle=rng.uniform(-np.pi / 2, np.pi / 2), width=rng.uniform(1, 60),
                         jaw=rng.uniform(1, 30)) for _ in range(25)]
    return rgb, depth, stereo, mask, grasps


def test_writer_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(3)
    rgb, depth, stereo, mask, grasps = _synthetic_scene(rng)
    grasps.append(ImageGrasp(u=5.0, v=6.0, angle=-np.pi / 2, width=10.0, jaw=4.0))  # edge angle
    path = write_jacquard_scene(tmp_path, "7", "simobj", rgb, depth, stereo, mask, grasps)
    assert path == tmp_path / "simobj" / "7_simobj_grasps.txt"
    src = JacquardSource(tmp_path)
    assert (src.sample_id(0), src.object_id(0)) == ("7_simobj", "simobj")
    s = src.load(0)
    np.testing.assert_array_equal(s.rgb, rgb)
    np.testing.assert_array_equal(s.depth, depth)
    np.testing.assert_array_equal(s.mask, mask)
    assert len(s.grasps) == len(grasps)
    for a, b in zip(grasps, s.grasps):
        assert (a.u, a.v, a.width, a.jaw) == (b.u, b.v, b.width, b.jaw)  # bit exact
        assert abs(a.angle - b.angle) < 1e-12
    st = JacquardSource(tmp_path, depth="stereo").load(0)
    assert np.isnan(st.depth[:10, :10]).all() and np.isnan(st.depth[20, 20])
    raw = cv2.imread(str(tmp_path / "simobj" / "7_simobj_stereo_depth.tiff"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.float32 and raw[0, 0] == -1.0  # the format's invalid marker


def test_writer_uses_compression_and_rejects_bad_shapes(tmp_path):
    flat = np.ones((128, 128), np.float32)
    rgb = np.zeros((128, 128, 3), np.uint8)
    write_jacquard_scene(tmp_path, "0", "o", rgb, flat, None, flat > 0, [])
    tiff = tmp_path / "o" / "0_o_perfect_depth.tiff"
    if hasattr(cv2, "IMWRITE_TIFF_COMPRESSION"):
        assert tiff.stat().st_size < flat.nbytes / 4  # LZW shrinks a constant image a lot
    assert not (tmp_path / "o" / "0_o_stereo_depth.tiff").exists()
    assert JacquardSource(tmp_path).load(0).grasps == []
    with pytest.raises(ValueError, match="depth_perfect"):
        write_jacquard_scene(tmp_path, "1", "o", rgb, flat[:64], None, flat > 0, [])


def test_writer_round_trip_of_real_scene(jacquard, tmp_path):
    s = jacquard.load(0)
    write_jacquard_scene(tmp_path, jacquard.sample_id(0), s.object_id, s.rgb, s.depth, None,
                         s.mask, s.grasps)
    back = JacquardSource(tmp_path).load(0)
    assert back.sample_id == s.sample_id
    assert [(g.u, g.v, g.width, g.jaw) for g in back.grasps] == \
           [(g.u, g.v, g.width, g.jaw) for g in s.grasps]
    np.testing.assert_allclose([g.angle for g in back.grasps], [g.angle for g in s.grasps],
                               atol=1e-12)


# ------------------------------------------------------------------ Cornell

F_PX = 580.0
BOX = (slice(200, 280), slice(300, 380))  # rows, cols of the box top


def _write_cornell_scene(folder: Path, number: int, rects: list[list[tuple[float, float]]],
                         shift: int = 0):
    """A table at 700 mm with a 100 mm high box; points exist only in rows 150..329."""
    rows, cols = np.mgrid[150:330, 0:640]
    z = np.full(rows.shape, 700.0)
    in_box = (rows >= 200) & (rows < 280) & (cols >= 300 + shift) & (cols < 380 + shift)
    z[in_box] = 600.0
    keep = ~((rows == 160) & (cols < 100))  # a missing row segment, as sensors leave holes
    x = (cols - 320) * z / F_PX
    y = (rows - 240) * z / F_PX
    pts = np.stack([x, y, z, np.full(z.shape, 4.2108e6), rows * 640 + cols], -1)[keep]
    header = ("# .PCD v.7 - Point Cloud Data file format\nVERSION .7\n"
              "FIELDS x y z rgb index\nSIZE 4 4 4 4 4\nTYPE F F F F U\nCOUNT 1 1 1 1 1\n"
              f"WIDTH {len(pts)}\nHEIGHT 1\nPOINTS {len(pts)}\nDATA ascii\n")
    body = "\n".join(f"{a:.4f} {b:.4f} {c:.4f} {d:.4e} {int(e)}" for a, b, c, d, e in pts)
    (folder / f"pcd{number:04d}.txt").write_text(header + body + "\n")
    rgb = np.full((480, 640, 3), 90, np.uint8)
    rgb[200:280, 300 + shift:380 + shift] = (200, 30, 30)
    cv2.imwrite(str(folder / f"pcd{number:04d}r.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (folder / f"pcd{number:04d}cpos.txt").write_text(
        "".join(f"{u} {v}\n" for rect in rects for u, v in rect))


RECT_A = [(310.0, 230.0), (370.0, 230.0), (370.0, 250.0), (310.0, 250.0)]  # horizontal, 60x20
RECT_B = [(340.0, 210.0), (340.0, 270.0), (330.0, 270.0), (330.0, 210.0)]  # vertical
RECT_NAN = [(1.0, 2.0), (float("nan"), 3.0), (4.0, 5.0), (6.0, 7.0)]


@pytest.fixture
def cornell_root(tmp_path) -> Path:
    folder = tmp_path / "01"
    folder.mkdir()
    _write_cornell_scene(folder, 100, [RECT_A, RECT_NAN, RECT_B])
    _write_cornell_scene(folder, 101, [RECT_A], shift=40)
    return tmp_path


def test_cornell_loader(cornell_root):
    src = CornellSource(cornell_root)
    assert len(src) == 2
    assert [src.sample_id(i) for i in range(2)] == ["01_0100", "01_0101"]
    assert src.object_id(0) == "01_0100"  # no object ids in Cornell names
    s = src.load(0)
    assert s.rgb.shape == (480, 640, 3) and tuple(s.rgb[240, 340]) == (200, 30, 30)
    assert s.depth.shape == (480, 640) and s.mask is None
    assert s.depth[240, 340] == pytest.approx(0.6)
    assert s.depth[300, 10] == pytest.approx(0.7)  # z, not the Euclidean range (~0.78 here)
    assert np.isnan(s.depth[100, 100]) and np.isnan(s.depth[160, 50])  # no point there
    assert len(s.grasps) == 2  # the NaN rectangle is skipped
    a, b = s.grasps
    assert (a.u, a.v, a.width, a.jaw, a.angle) == pytest.approx((340, 240, 60, 20, 0))
    assert (b.u, b.v, b.width, b.jaw) == pytest.approx((335, 240, 60, 10))
    assert abs(abs(b.angle) - np.pi / 2) < 1e-9
    assert len(src.load(1).grasps) == 1


def test_cornell_depth_cache(cornell_root, monkeypatch):
    src = CornellSource(cornell_root)
    first = src.load(0).depth
    cache = cornell_root / "01" / "pcd0100dz.tiff"
    assert cache.is_file()
    (cornell_root / "01" / "pcd0100.txt").unlink()  # the cache alone must now suffice
    np.testing.assert_array_equal(CornellSource(cornell_root).load(0).depth, first)
    # read-only folder: nothing written, depth kept in memory
    monkeypatch.setattr(cornell_module.os, "access", lambda *a, **k: False)
    src = CornellSource(cornell_root)
    d1 = src.load(1).depth
    assert not (cornell_root / "01" / "pcd0101dz.tiff").exists()
    assert 1 in src._memory
    np.testing.assert_array_equal(src.load(1).depth, d1)


def test_cornell_bad_files(cornell_root):
    cpos = cornell_root / "01" / "pcd0101cpos.txt"
    cpos.write_text(cpos.read_text() + "1 2\n")
    with pytest.raises(DatasetError, match=r"pcd0101cpos\.txt: has 5 non-empty lines.*multiple of 4"):
        CornellSource(cornell_root).load(1)
    cpos.write_text("1 2\n3 4\n5\n7 8\n")
    with pytest.raises(DatasetError, match=r"pcd0101cpos\.txt:3: expected 'x y'"):
        CornellSource(cornell_root).load(1)
    pcd = cornell_root / "01" / "pcd0100.txt"
    lines = pcd.read_text().splitlines()
    lines[20] = "1.0 2.0 3.0"
    pcd.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"pcd0100\.txt:21: expected 5 values"):
        CornellSource(cornell_root).load(0)


def test_cornell_object_id_map(cornell_root):
    src = CornellSource(cornell_root, object_ids={"01_0100": "mug", "01_0101": "mug"})
    assert src.object_ids() == ["mug", "mug"]
    with pytest.raises(DatasetError, match="lacks 1"):
        CornellSource(cornell_root, object_ids={"01_0100": "mug"})


# ------------------------------------------------------------------ pre-processing

def _ramp(h=64, w=80):
    v, u = np.mgrid[0:h, 0:w]
    return (1.0 + 0.5 * u / w + 0.2 * v / h).astype(np.float32)


def test_inpaint_fills_holes_plausibly():
    truth = _ramp()
    d = truth.copy()
    d[10:20, 30:45] = np.nan
    d[0, :] = 0.0  # holes on the border too
    d[40:44, 70:80] = -1.0
    out = inpaint_depth(d)
    holes = ~(np.isfinite(d) & (d > 0))
    assert np.isfinite(out).all() and out.min() > 0
    err = np.abs(out - truth)[holes]
    assert err.max() < 0.1 and err.mean() < 0.02  # the ramp spans 1.0 .. 1.7 m
    np.testing.assert_array_equal(out[~holes], d[~holes])  # valid pixels untouched
    assert np.isnan(d[10, 30])  # input not modified


def test_inpaint_real_stereo_never_negative(jacquard):
    d = JacquardSource(JACQUARD, depth="stereo").load(0).depth
    out = inpaint_depth(d)
    assert np.isfinite(out).all()
    assert out.min() >= np.nanmin(d) > 0 and out.max() <= np.nanmax(d)


def test_inpaint_all_invalid_raises():
    with pytest.raises(DatasetError, match="no valid pixel"):
        inpaint_depth(np.full((8, 8), np.nan, np.float32))
    with pytest.raises(DatasetError):
        normalise_depth(np.zeros((8, 8), np.float32))


def test_normalisations():
    d = _ramp()
    n = normalise_depth(d)
    assert n.dtype == np.float32 and abs(n.mean()) < 1e-5
    far = d.copy()
    far[0, 0] = 50.0
    far[1, 1] = np.nan
    n = normalise_depth(far)
    assert n.max() == 1.0 and n.min() >= -1.0 and n[1, 1] == 0.0
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255
    r = normalise_rgb(rgb)
    assert r.dtype == np.float32 and abs(r.mean()) < 1e-6
    # one mean over all channels: red stays 1 - 1/3, others -1/3
    assert r[0, 0, 0] == pytest.approx(2 / 3) and r[0, 0, 1] == pytest.approx(-1 / 3)


def test_make_input_channel_order_and_errors():
    d = _ramp(6, 7)
    rgb = np.zeros((6, 7, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 100, 250
    x = make_input(rgb, d, "rgbd")
    assert x.shape == (4, 6, 7) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], normalise_depth(d))
    nr = normalise_rgb(rgb)
    for c in range(3):
        np.testing.assert_allclose(x[1 + c], nr[..., c])
    assert x[1, 0, 0] < x[2, 0, 0] < x[3, 0, 0]  # r < g < b as set above
    assert make_input(None, d, "depth").shape == (1, 6, 7)
    assert make_input(rgb, None, "rgb").shape == (3, 6, 7)
    with pytest.raises(ValueError, match="model expects RGB-D input but the sample has depth only"):
        make_input(None, d, "rgbd")
    with pytest.raises(ValueError, match="channels"):
        make_input(rgb, d, "bgr")


def test_named_normalisation_is_the_formula_format_1_cards_wrote():
    from grasp_perception.datasets.preprocessing import DEFAULT_NORMALISATION, NORMALISATIONS
    assert DEFAULT_NORMALISATION == "mean_centred" and list(NORMALISATIONS) == ["mean_centred"]
    assert NORMALISATIONS["mean_centred"].formulas == {"depth": "clip(depth_m - mean(depth_m), -1, 1)",
                                                       "rgb": "rgb / 255 - mean(rgb / 255)"}
    d = _ramp(6, 7)
    d[0, 0], d[1, 1] = 4.0, np.nan  # 4 m: clipped; NaN: 0 (the mean)
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    x = make_input(rgb, d, "rgbd", normalisation="mean_centred")
    by_hand = np.clip(d - np.nanmean(d), -1, 1)
    by_hand[1, 1] = 0.0
    np.testing.assert_allclose(x[0], by_hand, atol=1e-6)
    assert x[0, 0, 0] == 1.0
    np.testing.assert_allclose(x[1:], np.moveaxis(rgb / 255 - (rgb / 255).mean(), -1, 0), atol=1e-6)
    with pytest.raises(ValueError, match=r"unknown normalisation 'zscore'; choices: \['mean_centred'\]"):
        make_input(rgb, d, "rgbd", normalisation="zscore")


def test_depth_not_in_metres_is_an_error_naming_the_sample_or_file(tmp_path):
    mm = np.full((40, 50), 600.0, np.float32)
    mm[:5] = np.nan
    with pytest.raises(DatasetError, match=r"sample 's7': median depth 600 is not a distance in metres "
                                           r"\(expected 0.05-20.0 m\); it looks like millimetres"):
        GraspSample(rgb=None, depth=mm, mask=None, sample_id="s7")
    with pytest.raises(DatasetError, match=r"median depth 0.006 is not a distance in metres"):
        GraspSample(rgb=None, depth=mm / 1e5, mask=None)
    GraspSample(rgb=None, depth=mm / 1000, mask=None)  # 0.6 m, with holes: fine
    sparse = np.full((400, 400), np.nan, np.float32)
    sparse[3, 5] = 700.0  # the only valid pixel, off the check's sampling grid: still checked
    with pytest.raises(DatasetError, match="millimetres"):
        GraspSample(rgb=None, depth=sparse, mask=None)
    # A Jacquard depth file in millimetres: the error names the file.
    rgb = np.zeros((40, 50, 3), np.uint8)
    write_jacquard_scene(tmp_path, "0", "o", rgb, mm, None, np.ones((40, 50), bool), [])
    with pytest.raises(DatasetError, match=r"0_o_perfect_depth\.tiff: median depth 600 .*millimetres"):
        JacquardSource(tmp_path).load(0)


# ------------------------------------------------------------------ GraspDataset

class MemorySource:
    """In-memory scene source (what a simulator or test can provide)."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def sample_id(self, i):
        return self.samples[i].sample_id

    def load(self, i):
        s = self.samples[i]
        return GraspSample(rgb=None if s.rgb is None else s.rgb.copy(), depth=s.depth.copy(),
                           mask=None if s.mask is None else s.mask.copy(),
                           grasps=list(s.grasps), sample_id=s.sample_id, object_id=s.object_id)


def _memory_source(n=4, h=120, w=160, rgb=True):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        depth = (0.7 + 0.01 * rng.random((h, w))).astype(np.float32)
        depth[40:80, 60:100] = 0.6
        depth[5:9, 5:20] = np.nan
        samples.append(GraspSample(
            rgb=rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if rgb else None, depth=depth,
            mask=None, sample_id=f"s{i}", object_id=f"o{i // 2}",
            grasps=[ImageGrasp(u=80.0, v=60.0, angle=0.3, width=30.0, jaw=12.0),
                    ImageGrasp(u=70.0 + i, v=55.0, angle=-1.0, width=20.0, jaw=8.0)]))
    return MemorySource(samples)


def _targets(grasps, shape):
    pos = np.zeros(shape, np.float32)
    for g in grasps:
        pos[int(round(g.v)), int(round(g.u))] = 1.0
    return {"pos": pos, "n": np.array([len(grasps)], np.float32)}


@pytest.mark.parametrize("size", [300, 320, 400])
@pytest.mark.parametrize("channels", ["depth", "rgbd"])
def test_dataset_items_on_jacquard(jacquard, size, channels):
    ds = GraspDataset(jacquard, indices=[0, 6], input_size=size, channels=channels,
                      target_fn=_targets)
    item = ds[1]
    c = 1 if channels == "depth" else 4
    assert item["x"].shape == (c, size, size) and item["x"].dtype == torch.float32
    assert torch.isfinite(item["x"]).all() and item["x"][0].abs().max() <= 1.0
    assert item["index"] == 1 and item["targets"]["pos"].shape == (size, size)
    gt = ds.grasps(1)
    assert len(gt) == len(jacquard.load_grasps(6))
    assert item["targets"]["n"].item() == len(gt)
    g0, o0 = gt[0], jacquard.load_grasps(6)[0]
    assert g0.width == pytest.approx(o0.width * size / 1024)
    assert g0.angle == pytest.approx(o0.angle)
    assert ds.sample_id(1) == jacquard.sample_id(6)


def test_dataset_center_crop_and_to_original():
    src = _memory_source(h=480, w=640)
    ds = GraspDataset(src, input_size=300, crop="center", channels="rgbd")
    assert ds[0]["x"].shape == (4, 300, 300)
    assert ds.grasps(0) == []  # (80, 60) and (70, 55) lie outside the centred 300 window
    s = src.samples[0]
    s.grasps = [ImageGrasp(u=330.0, v=250.0, angle=0.4, width=40.0, jaw=10.0)]
    x, grasps, info = prepare(s, 300, "depth", "center")
    assert x.shape == (1, 300, 300)
    assert (grasps[0].u, grasps[0].v) == pytest.approx((160.0, 160.0))
    back = to_original(grasps[0], info)
    assert (back.u, back.v, back.angle, back.width, back.jaw) == pytest.approx((330, 250, 0.4, 40, 10))
    # resize mode on a non-square image: centre square 480x480, then scaled to 300
    x, grasps, info = prepare(s, 300, "depth", "resize")
    assert grasps[0].width == pytest.approx(40 * 300 / 480)
    back = to_original(grasps[0], info)
    assert (back.u, back.v, back.width) == pytest.approx((330, 250, 40))
    with pytest.raises(ValueError, match="does not fit"):
        prepare(s, 500, "depth", "center")


def test_dataset_input_does_not_depend_on_ground_truth():
    src = _memory_source(h=480, w=640)
    a = src.load(0)
    b = GraspSample(a.rgb, a.depth, None, [ImageGrasp(u=600.0, v=400.0, angle=0.0, width=5.0,
                                                       jaw=5.0)], "b")
    xa, _, ia = prepare(a, 300, "rgbd", "center")
    xb, _, ib = prepare(b, 300, "rgbd", "center")
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ia.matrix, ib.matrix)


def test_dataset_depth_only_sample_with_rgbd_raises():
    ds = GraspDataset(_memory_source(rgb=False), input_size=100, crop="center", channels="rgbd")
    with pytest.raises(ValueError, match="RGB-D input but the sample has depth only"):
        ds[0]


def test_augmentation_is_deterministic_per_seed_epoch_index():
    src = _memory_source()
    make = lambda seed: GraspDataset(src, input_size=100, crop="center", channels="depth",
                                     augment=Augment(rotation_deg=180, translation_px=10),
                                     seed=seed, target_fn=_targets)
    ds = make(1)
    a, b = ds[2], ds[2]
    assert torch.equal(a["x"], b["x"]) and torch.equal(a["targets"]["pos"], b["targets"]["pos"])
    assert torch.equal(make(1)[2]["x"], a["x"])
    assert not torch.equal(make(2)[2]["x"], a["x"])
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["x"], a["x"])
    # evaluation grasps are never augmented
    plain = GraspDataset(src, input_size=100, crop="center").grasps(2)
    assert ds.grasps(2) == plain
    # workers give the same items as the main process
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    xs = torch.cat([batch["x"] for batch in loader])
    np.testing.assert_array_equal(xs.numpy(), torch.stack([ds[k]["x"] for k in range(4)]).numpy())


def test_dataset_rejects_bad_arguments():
    src = _memory_source()
    with pytest.raises(IndexError):
        GraspDataset(src, indices=[0, 9])
    with pytest.raises(ValueError):
        GraspDataset(src, channels="rgba")
    with pytest.raises(ValueError):
        GraspDataset(src, crop="gt")
