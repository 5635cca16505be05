import math
import re
import time

import cv2
import numpy as np
import pytest

from grasp_perception.grasp import ImageGrasp, rectangle_corners
from grasp_perception.maps import GraspTargets, grasp_maps

SHAPE = (100, 120)
# Axis-aligned: centre third spans u in [40, 60] (width/6 = 10) and v in [30, 50] (jaw/2 = 10).
AXIS = ImageGrasp(u=50, v=40, angle=0.0, width=60, jaw=20)


def at(maps, field, u, v, b=0):
    return float(getattr(maps, field)[b, v, u])


def test_output_type_shape_dtype():
    m = grasp_maps([AXIS], SHAPE, n_bins=3)
    assert isinstance(m, GraspTargets)
    for arr in m:
        assert arr.shape == (3, *SHAPE) and arr.dtype == np.float32


@pytest.mark.parametrize("kind", ["binary", "soft", "strong"])
def test_centre_is_one_and_outside_is_zero(kind):
    m = grasp_maps([AXIS], SHAPE, kind=kind)
    assert at(m, "quality", 50, 40) == pytest.approx(1.0)
    for u, v in [(61, 40), (39, 40), (50, 51), (50, 29), (0, 0)]:
        assert at(m, "quality", u, v) == 0.0


def test_binary_fills_exactly_the_centre_third():
    m = grasp_maps([AXIS], SHAPE, kind="binary")
    expected = np.zeros(SHAPE, np.float32)
    expected[30:51, 40:61] = 1  # boundary pixel centres are inside
    np.testing.assert_array_equal(m.quality[0], expected)


def test_strong_and_soft_follow_the_equations():
    strong = grasp_maps([AXIS], SHAPE, kind="strong")  # sigma 0.5
    soft = grasp_maps([AXIS], SHAPE, kind="soft")  # sigma 1, floor 0.9
    # (a, b) = (5, 4) px -> d^2 = (5/10)^2 + (4/10)^2 = 0.41
    assert at(strong, "quality", 55, 44) == pytest.approx(math.exp(-0.41 / (2 * 0.25)), rel=1e-6)
    assert at(soft, "quality", 55, 44) == pytest.approx(0.9)  # exp(-0.205) = 0.81 -> floor
    # (a, b) = (2, -1) -> d^2 = 0.05
    assert at(soft, "quality", 52, 39) == pytest.approx(math.exp(-0.05 / 2), rel=1e-6)
    assert at(strong, "quality", 52, 39) == pytest.approx(math.exp(-0.05 / 0.5), rel=1e-6)
    # explicit sigma
    s2 = grasp_maps([AXIS], SHAPE, kind="strong", sigma=2.0)
    assert at(s2, "quality", 55, 44) == pytest.approx(math.exp(-0.41 / 8), rel=1e-6)
    # soft lies in [0.9, 1] on the centre third, strong reaches exp(-2/(2*0.25)) at corners
    q = soft.quality[0][soft.quality[0] > 0]
    assert q.min() == pytest.approx(0.9) and q.max() == pytest.approx(1.0)
    assert strong.quality[0, 30, 40] == pytest.approx(math.exp(-4), rel=1e-5)


def test_rotated_45_degrees():
    g = ImageGrasp(u=60, v=50, angle=math.pi / 4, width=60, jaw=20)
    m = grasp_maps([g], SHAPE, kind="strong")
    q = m.quality[0]
    # opening direction (cos, -sin) = up-right on screen; half-extent 10 px -> 7 diagonal steps
    assert q[50 - 7, 60 + 7] > 0 and q[50 - 8, 60 + 8] == 0
    # jaw direction (sin, cos) = down-right; half-extent 10 px
    assert q[50 + 7, 60 + 7] > 0 and q[50 + 8, 60 + 8] == 0
    # along the axis-aligned directions the 45° square reaches 10*sqrt(2) = 14.1 px
    assert q[50, 60 + 14] > 0 and q[50, 60 + 15] == 0
    a = 3 * math.sqrt(2)  # pixel (u+3, v-3)
    assert q[47, 63] == pytest.approx(math.exp(-(a / 10) ** 2 / 0.5), rel=1e-6)
    inside = q > 0
    assert np.allclose(m.cos[0][inside], 0, atol=1e-6)  # cos(pi/2)
    assert np.allclose(m.sin[0][inside], 1)


def test_mask_matches_polygon_test_for_random_grasps():
    rng = np.random.default_rng(3)
    for _ in range(20):
        g = ImageGrasp(u=rng.uniform(30, 90), v=rng.uniform(30, 70), angle=rng.uniform(-1.6, 1.6),
                       width=rng.uniform(9, 90), jaw=rng.uniform(3, 30))
        mask = grasp_maps([g], SHAPE).quality[0] > 0
        poly = rectangle_corners(g.u, g.v, g.angle, g.width / 3, g.jaw).astype(np.float32)
        vs, us = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
        dist = np.array([cv2.pointPolygonTest(poly, (float(u), float(v)), True)
                         for u, v in zip(us.ravel(), vs.ravel())]).reshape(SHAPE)
        clear = np.abs(dist) > 1e-3  # ignore pixel centres on the boundary
        np.testing.assert_array_equal(mask[clear], (dist > 0)[clear])


def test_bins_60_degrees_lands_in_bin_2_of_3_only():
    g = ImageGrasp(u=50, v=40, angle=math.radians(60), width=45, jaw=15)
    m = grasp_maps([g], SHAPE, n_bins=3, kind="soft")
    assert m.quality[2].max() == pytest.approx(1.0)
    for field in m:
        assert not field[0].any() and not field[1].any()
    inside = m.quality[2] > 0
    assert np.allclose(m.cos[2][inside], math.cos(math.radians(120)), atol=1e-6)
    assert np.allclose(m.sin[2][inside], math.sin(math.radians(120)), atol=1e-6)
    # -60° lands in bin 0, 0° in bin 1
    m2 = grasp_maps([ImageGrasp(50, 40, math.radians(-60), 45, 15),
                     ImageGrasp(50, 40, 0.0, 45, 15)], SHAPE, n_bins=3)
    assert m2.quality[0].any() and m2.quality[1].any() and not m2.quality[2].any()


@pytest.mark.parametrize("reverse", [False, True])
def test_overlap_takes_angle_and_width_from_smallest_width(reverse):
    wide = ImageGrasp(u=50, v=40, angle=0.0, width=90, jaw=20)  # centre third u in [35, 65]
    narrow = ImageGrasp(u=50, v=40, angle=0.3, width=45, jaw=20)
    grasps = [narrow, wide][::-1] if reverse else [narrow, wide]
    m = grasp_maps(grasps, SHAPE, kind="strong")
    # centre: covered by both -> narrow's angle and width, quality max of both (1)
    assert at(m, "cos", 50, 40) == pytest.approx(math.cos(0.6), rel=1e-6)
    assert at(m, "sin", 50, 40) == pytest.approx(math.sin(0.6), rel=1e-6)
    assert at(m, "width", 50, 40) == pytest.approx(45 / 150)
    assert at(m, "quality", 50, 40) == pytest.approx(1.0)
    # covered by the wide one only
    assert at(m, "cos", 63, 40) == pytest.approx(1.0)
    assert at(m, "width", 63, 40) == pytest.approx(90 / 150)
    # quality is the max of the two Gaussians where both cover
    a_wide, a_narrow = 5 / 15, 5 * math.cos(0.3) / 7.5
    b_narrow = 5 * math.sin(0.3) / 10
    expected = max(math.exp(-a_wide ** 2 / 0.5), math.exp(-(a_narrow ** 2 + b_narrow ** 2) / 0.5))
    assert at(m, "quality", 55, 40) == pytest.approx(expected, rel=1e-5)


def test_equal_widths_first_listed_wins():
    g1 = ImageGrasp(u=50, v=40, angle=0.2, width=60, jaw=20)
    g2 = ImageGrasp(u=50, v=40, angle=-0.4, width=60, jaw=20)
    assert at(grasp_maps([g1, g2], SHAPE), "cos", 50, 40) == pytest.approx(math.cos(0.4))
    assert at(grasp_maps([g2, g1], SHAPE), "cos", 50, 40) == pytest.approx(math.cos(-0.8))


def test_width_normalisation_and_clipping():
    g = lambda w: ImageGrasp(u=50, v=40, angle=0.0, width=w, jaw=20)
    assert at(grasp_maps([g(75)], SHAPE), "width", 50, 40) == pytest.approx(0.5)
    assert at(grasp_maps([g(200)], SHAPE), "width", 50, 40) == pytest.approx(1.0)
    assert at(grasp_maps([g(75)], SHAPE, max_width=100), "width", 50, 40) == pytest.approx(0.75)


@pytest.mark.parametrize("kind", ["binary", "soft", "strong"])
def test_targets_zero_where_quality_zero(kind):
    rng = np.random.default_rng(0)
    grasps = [ImageGrasp(u=rng.uniform(0, 120), v=rng.uniform(0, 100), angle=rng.uniform(-1.5, 1.5),
                         width=rng.uniform(10, 60), jaw=rng.uniform(4, 20)) for _ in range(15)]
    m = grasp_maps(grasps, SHAPE, n_bins=3, kind=kind)
    empty = m.quality == 0
    assert empty.any() and (~empty).any()
    for field in (m.cos, m.sin, m.width):
        assert not field[empty].any()
    # inside, (cos, sin) is a unit vector
    full = ~empty
    np.testing.assert_allclose(m.cos[full] ** 2 + m.sin[full] ** 2, 1, atol=1e-5)


def test_grasp_partly_outside_image_and_tiny_grasp():
    edge = ImageGrasp(u=2, v=3, angle=0.5, width=60, jaw=20)
    m = grasp_maps([edge], SHAPE, kind="strong")
    assert m.quality[0, 3, 2] == pytest.approx(1.0)
    far = ImageGrasp(u=-100, v=-100, angle=0, width=30, jaw=10)
    assert not grasp_maps([far], SHAPE).quality.any()
    # sub-pixel centre third (covers no pixel centre) still marks its nearest pixel
    tiny = ImageGrasp(u=10.4, v=20.4, angle=0.0, width=0.6, jaw=0.5)
    mt = grasp_maps([tiny], SHAPE, kind="strong")
    assert mt.quality[0, 20, 10] == 1.0 and mt.quality.sum() == 1.0
    assert mt.width[0, 20, 10] == pytest.approx(0.6 / 150)


def test_empty_grasp_list_gives_zero_maps():
    m = grasp_maps([], SHAPE, n_bins=2)
    assert all(not arr.any() for arr in m)


@pytest.mark.parametrize("kwargs, word", [
    ({"shape": (0, 10)}, "shape"), ({"shape": (10,)}, "shape"), ({"n_bins": 0}, "n_bins"),
    ({"kind": "gauss"}, "kind"), ({"kind": "strong", "sigma": 0.0}, "sigma"),
    ({"max_width": -1}, "max_width"), ({"grasps": [(1, 2, 3)]}, "grasps[0]"),
])
def test_bad_input_raises(kwargs, word):
    args = {"grasps": [AXIS], "shape": SHAPE, **kwargs}
    with pytest.raises(ValueError, match=re.escape(word)):
        grasp_maps(**args)


def test_fast_enough_for_a_data_loader():
    rng = np.random.default_rng(1)
    grasps = [ImageGrasp(u=rng.uniform(0, 300), v=rng.uniform(0, 300), angle=rng.uniform(-1.5, 1.5),
                         width=rng.uniform(10, 80), jaw=rng.uniform(5, 30)) for _ in range(100)]
    grasp_maps(grasps, (300, 300), n_bins=3, kind="strong")  # warm-up
    t0 = time.perf_counter()
    grasp_maps(grasps, (300, 300), n_bins=3, kind="strong")
    assert time.perf_counter() - t0 < 0.15  # ~10 ms here; generous for a loaded CI box
