import dataclasses
import inspect
import math

import numpy as np
import pytest
import torch

from grasp_perception.config import PostprocessConfig
from grasp_perception.grasp import ImageGrasp, angle_difference
from grasp_perception.maps import grasp_maps
from grasp_perception.postprocess import dense_grasps, detect_grasps

SHAPE = (160, 200)
MAX_W = 150.0  # the width scale the maps below are built with


def assert_decoded(found: ImageGrasp, gt: ImageGrasp):
    assert math.hypot(found.u - gt.u, found.v - gt.v) <= 1.0
    assert angle_difference(found.angle, gt.angle) <= math.radians(2)
    assert abs(found.width - gt.width) <= 1.0
    assert found.jaw == pytest.approx(found.width * 0.5)


@pytest.mark.parametrize("kind", ["binary", "soft", "strong"])
@pytest.mark.parametrize("angle_deg", [0.0, 35.0, -70.0, -89.0])
def test_single_grasp_round_trip_one_bin(kind, angle_deg):
    gt = ImageGrasp(u=100, v=80, angle=math.radians(angle_deg), width=66, jaw=30)
    maps = grasp_maps([gt], SHAPE, n_bins=1, kind=kind, max_width=150.0)
    found = detect_grasps(*maps, max_width=MAX_W)
    assert len(found) == 1
    assert_decoded(found[0], gt)
    assert found[0].angle_bin == 0 and 0.2 < found[0].quality <= 1.0


def test_three_bins_round_trip_and_bin_index():
    gts = [ImageGrasp(u=40, v=40, angle=math.radians(-60), width=54, jaw=24),   # bin 0
           ImageGrasp(u=150, v=50, angle=math.radians(10), width=72, jaw=30),   # bin 1
           ImageGrasp(u=90, v=120, angle=math.radians(80), width=60, jaw=27)]   # bin 2
    maps = grasp_maps(gts, SHAPE, n_bins=3, kind="strong", max_width=150.0)
    found = detect_grasps(*maps, top_k=5, max_width=MAX_W)
    assert len(found) == 3
    for gt, b in zip(gts, range(3)):
        match = min(found, key=lambda f: math.hypot(f.u - gt.u, f.v - gt.v))
        assert_decoded(match, gt)
        assert match.angle_bin == b
    assert [f.quality for f in found] == sorted((f.quality for f in found), reverse=True)


def test_width_uses_the_given_max_width_which_has_no_default():
    gt = ImageGrasp(u=100, v=80, angle=0.3, width=90, jaw=30)
    maps = grasp_maps([gt], SHAPE, max_width=120)
    assert_decoded(detect_grasps(*maps, max_width=120)[0], gt)
    wrong = detect_grasps(*maps, max_width=150)[0]  # a mismatch scales the width
    assert wrong.width == pytest.approx(90 * 150 / 120, abs=1)
    with pytest.raises(TypeError, match="max_width"):  # the model's scale must always be given
        detect_grasps(*maps)


def two_bumps(d, h1=0.9, h2=0.7):
    q = np.zeros((1, 100, 100), np.float32)
    vv, uu = np.mgrid[0:100, 0:100]
    q[0] = np.maximum(h1 * np.exp(-((uu - 30) ** 2 + (vv - 50) ** 2) / 8.0),
                      h2 * np.exp(-((uu - 30 - d) ** 2 + (vv - 50) ** 2) / 8.0))
    zeros = np.zeros_like(q)
    return q, zeros + 1, zeros, zeros + 0.2


def test_min_distance_is_respected():
    maps = two_bumps(15)
    one = detect_grasps(*maps, top_k=5, min_distance=20, quality_sigma=0, max_width=MAX_W)
    assert [(g.u, g.v) for g in one] == [(30, 50)]
    both = detect_grasps(*maps, top_k=5, min_distance=10, quality_sigma=0, max_width=MAX_W)
    assert [(g.u, g.v) for g in both] == [(30, 50), (45, 50)]
    assert both[0].quality == pytest.approx(0.9) and both[1].quality == pytest.approx(0.7, rel=1e-3)
    assert detect_grasps(*maps, top_k=1, min_distance=10, quality_sigma=0, max_width=MAX_W)[0].u == 30


def test_threshold_and_disabling_it():
    q, c, s, w = two_bumps(40, h1=0.15, h2=0.1)
    assert detect_grasps(q, c, s, w, quality_sigma=0, threshold=0.2, max_width=MAX_W) == []
    found = detect_grasps(q, c, s, w, quality_sigma=0, threshold=None, top_k=None, max_width=MAX_W)
    assert [(g.u, g.v) for g in found[:2]] == [(30, 50), (70, 50)]
    assert all(g.quality < 1e-3 for g in found[2:])  # the flat zero background
    only_first = detect_grasps(q, c, s, w, quality_sigma=0, threshold=0.12, max_width=MAX_W)
    assert [(g.u, g.v) for g in only_first] == [(30, 50)]


def test_defaults_are_the_postprocess_config_defaults():
    """One source: detect_grasps without keywords behaves as a default PostprocessConfig says."""
    defaults = dataclasses.asdict(PostprocessConfig())
    params = inspect.signature(detect_grasps).parameters
    assert {k: params[k].default for k in defaults} == defaults
    # Peaks of 0.15 and 0.1, 40 px apart: the config's threshold (0.1, strict) keeps the first only;
    # the old 0.2 default of detect_grasps found nothing.
    q, c, s, w = two_bumps(40, h1=0.15, h2=0.1)
    found = detect_grasps(q, c, s, w, quality_sigma=0, max_width=MAX_W, top_k=None)
    assert [(g.u, g.v) for g in found] == [(30, 50)]
    assert found == detect_grasps(q, c, s, w, max_width=MAX_W, top_k=None, **{**defaults, "quality_sigma": 0})


def test_a_pixel_is_a_peak_only_in_its_best_bin():
    q = np.zeros((3, 60, 60), np.float32)
    q[0, 30, 30] = 0.5
    q[2, 30, 30] = 0.8   # same pixel, better bin
    q[1, 30, 35] = 0.6   # within min_distance of a better peak in another bin: suppressed
    c = np.stack([np.full((60, 60), v, np.float32) for v in (1.0, 0.0, -1.0)])
    s = np.zeros_like(c)
    w = np.full_like(c, 0.4)
    found = detect_grasps(q, c, s, w, top_k=10, quality_sigma=0, angle_sigma=0, max_width=MAX_W)
    assert len(found) == 1
    g = found[0]
    assert (g.u, g.v, g.angle_bin) == (30, 30, 2)
    assert g.angle == pytest.approx(-math.pi / 2)  # atan2(0, -1)/2 = pi/2, wrapped
    assert g.width == pytest.approx(60) and g.jaw == pytest.approx(30)


def test_plateau_gives_one_deterministic_central_peak():
    q = np.zeros((1, 50, 50), np.float32)
    q[0, 20:26, 10:30] = 0.8
    z = np.zeros_like(q)
    found = detect_grasps(q, z + 1, z, z + 0.1, top_k=10, min_distance=30, quality_sigma=0, max_width=MAX_W)
    # centroid (u, v) = (19.5, 22.5); of the four nearest members the row-major first wins
    assert [(g.u, g.v) for g in found] == [(19, 22)]


def test_smoothing_cos_sin_avoids_wrap_artefacts():
    # left half at +89°, right half at -89°: the same physical grasp direction
    q = np.zeros((1, 40, 40), np.float32)
    q[0, 18:23, 18:23] = 1.0
    ang = np.where(np.arange(40)[None, :] < 20, math.radians(89), math.radians(-89)) * np.ones((40, 1))
    c = np.cos(2 * ang)[None].astype(np.float32)
    s = np.sin(2 * ang)[None].astype(np.float32)
    g = detect_grasps(q, c, s, np.full_like(q, 0.2), max_width=MAX_W)[0]
    assert angle_difference(g.angle, math.pi / 2) <= math.radians(2)


def test_torch_inputs_and_2d_maps():
    gt = ImageGrasp(u=60, v=50, angle=0.4, width=45, jaw=20)
    maps = grasp_maps([gt], (100, 120), max_width=150.0)
    as_torch = [torch.from_numpy(m).requires_grad_(False) for m in maps]
    assert_decoded(detect_grasps(*as_torch, max_width=MAX_W)[0], gt)
    assert_decoded(detect_grasps(*(m[0] for m in maps), max_width=MAX_W)[0], gt)


def test_bad_input_raises():
    q = np.zeros((1, 10, 10), np.float32)
    with pytest.raises(ValueError, match="cos"):
        detect_grasps(q, np.zeros((2, 10, 10)), q, q, max_width=MAX_W)
    with pytest.raises(ValueError, match="quality"):
        detect_grasps(np.zeros(5), q, q, q, max_width=MAX_W)
    with pytest.raises(ValueError, match="top_k"):
        detect_grasps(q, q, q, q, top_k=0, max_width=MAX_W)
    with pytest.raises(ValueError, match="min_distance"):
        detect_grasps(q, q, q, q, min_distance=-1, max_width=MAX_W)
    with pytest.raises(ValueError, match="NaN"):
        detect_grasps(q + np.nan, q, q, q, max_width=MAX_W)


def test_18_bins_vga_gives_ranked_spaced_peaks():
    # (Its speed is measured by the benchmark, not asserted here.)
    rng = np.random.default_rng(0)
    q = rng.random((18, 480, 640), dtype=np.float32)
    other = rng.random((18, 480, 640), dtype=np.float32)
    found = detect_grasps(q, other, other, other, top_k=10, max_width=MAX_W)
    assert len(found) == 10
    assert [g.quality for g in found] == sorted((g.quality for g in found), reverse=True)
    # peaks are spaced by more than min_distance (Chebyshev)
    for i, a in enumerate(found):
        for b in found[i + 1:]:
            assert max(abs(a.u - b.u), abs(a.v - b.v)) > 20


@pytest.mark.parametrize("sigma", [1.0, 2.0, 1.3])
def test_pointwise_smoothing_equals_full_map_smoothing(sigma):
    from scipy import ndimage

    from grasp_perception.postprocess import smooth_map, _smooth_at
    m = np.random.default_rng(0).random((30, 40)).astype(np.float32)
    full = ndimage.gaussian_filter(m.astype(np.float64), sigma, mode="nearest", truncate=4.0)
    blurred = smooth_map(m[None], sigma)[0]  # the OpenCV path used for quality
    for r, c in [(0, 0), (15, 20), (29, 39), (2, 38)]:
        one = np.array([0]), np.array([r]), np.array([c])
        assert _smooth_at(m[None], *one, sigma)[0] == pytest.approx(full[r, c], abs=1e-9)
        assert blurred[r, c] == pytest.approx(full[r, c], abs=1e-5)


def _naive_peaks(best, min_distance, threshold, top_k):
    """The documented rule, pixel by pixel (slow, obviously right): window maxima above threshold, one per
    8-connected plateau (the member nearest its centroid, row-major first on ties), ranked by value then
    row-major, greedily spaced by more than min_distance."""
    from scipy import ndimage
    h, w = best.shape
    cand = []
    for r in range(h):
        for c in range(w):
            win = best[max(r - min_distance, 0):r + min_distance + 1, max(c - min_distance, 0):c + min_distance + 1]
            if best[r, c] >= win.max() and (threshold is None or best[r, c] > threshold):
                cand.append((r, c))
    if min_distance > 0 and cand:
        mask = np.zeros(best.shape, bool)
        for r, c in cand:
            mask[r, c] = True
        labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
        groups = {}
        for r, c in cand:
            groups.setdefault(labels[r, c], []).append((r, c))
        cand = []
        for members in groups.values():
            mr = np.mean([m[0] for m in members])
            mc = np.mean([m[1] for m in members])
            cand.append(min(members, key=lambda m: ((m[0] - mr) ** 2 + (m[1] - mc) ** 2, m[0] * w + m[1])))
    cand.sort(key=lambda rc: (-best[rc], rc[0] * w + rc[1]))
    keep = []
    for r, c in cand:
        if all(max(abs(r - kr), abs(c - kc)) > min_distance for kr, kc in keep):
            keep.append((r, c))
    return keep if top_k is None else keep[:top_k]


@pytest.mark.parametrize("seed", range(6))
def test_find_peaks_matches_the_pixel_by_pixel_rule(seed):
    from grasp_perception.postprocess import find_peaks
    rng = np.random.default_rng(seed)
    for trial in range(12):
        h, w = rng.integers(4, 24, 2)
        kind = trial % 3
        if kind == 0:
            m = rng.random((h, w))
        elif kind == 1:  # plateaus and ties
            m = rng.integers(0, 3, (h, w)) / 2
        else:
            m = (rng.random((h, w)) > 0.8).astype(float)
        m = m.astype(np.float32)
        md, th, k = int(rng.integers(0, 4)), [None, 0.1, 0.6][trial % 3], [None, 1, 4][trial % 3]
        assert find_peaks(m, md, th, k) == _naive_peaks(m, md, th, k), (h, w, md, th, k)


def test_nan_in_angle_or_width_is_reported_where_it_is_read():
    q = np.zeros((1, 30, 30), np.float32)
    q[0, 15, 15] = 1.0
    ok = np.ones_like(q)
    far = ok.copy()
    far[0, 0, 0] = np.nan  # far from the peak: never read, so no error
    assert len(detect_grasps(q, far, ok * 0, ok * 0.2, quality_sigma=0, max_width=MAX_W)) == 1
    near = ok.copy()
    near[0, 16, 15] = np.nan
    with pytest.raises(ValueError, match=r"width contains NaN .*row 15, col 15"):
        detect_grasps(q, ok, ok * 0, near, quality_sigma=0, max_width=MAX_W)


def test_dense_grasps_rank_every_pixel_and_bin_without_suppression():
    # Two bins: bin 1 holds the best pixel and its neighbours; bin 0 a second, weaker blob. Dense
    # candidates are the k best (bin, pixel) pairs: the neighbours of the best pixel come before the weaker
    # blob (peaks would have given one grasp per blob), and a pixel can appear once per bin.
    q = np.zeros((2, 40, 50), np.float32)
    q[1, 10, 10], q[1, 10, 11], q[1, 11, 10] = 0.9, 0.8, 0.8
    q[0, 10, 10] = 0.7
    q[0, 30, 40] = 0.6
    cos = np.stack([np.ones((40, 50)), np.zeros((40, 50))]).astype(np.float32)   # bin 0: 0 rad
    sin = np.stack([np.zeros((40, 50)), np.ones((40, 50))]).astype(np.float32)   # bin 1: pi/4
    width = np.full((2, 40, 50), 0.2, np.float32)
    dense = dense_grasps(q, cos, sin, width, max_width=MAX_W, top_k=5, quality_sigma=0, angle_sigma=0,
                         width_sigma=0)
    assert [(g.angle_bin, g.v, g.u) for g in dense] == [(1, 10, 10), (1, 10, 11), (1, 11, 10), (0, 10, 10),
                                                        (0, 30, 40)]
    assert [g.quality for g in dense] == pytest.approx([0.9, 0.8, 0.8, 0.7, 0.6])
    assert dense[0].angle == pytest.approx(math.pi / 4) and dense[3].angle == pytest.approx(0.0)
    assert all(g.width == pytest.approx(0.2 * MAX_W) for g in dense)
    peaks = detect_grasps(q, cos, sin, width, max_width=MAX_W, top_k=5, quality_sigma=0, angle_sigma=0,
                          width_sigma=0, min_distance=3, threshold=0.1)
    assert [(g.v, g.u) for g in peaks] == [(10, 10), (30, 40)]
    # Exactly top_k: every pixel is a candidate without a threshold; a card's keywords are accepted.
    card = {**dataclasses.asdict(PostprocessConfig()), "threshold": None}
    many = dense_grasps(q, cos, sin, width, max_width=MAX_W, top_k=50, **card)
    assert len(many) == 50 and [g.quality for g in many] == sorted((g.quality for g in many), reverse=True)
