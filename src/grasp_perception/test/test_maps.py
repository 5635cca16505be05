import math
import re

import cv2
import numpy as np
import pytest

from grasp_perception.grasp import ImageGrasp, rectangle_corners
from grasp_perception.maps import DEFAULT_SIGMA, GraspTargets
from grasp_perception.maps import grasp_maps as _grasp_maps

SHAPE = (100, 120)
# Axis-aligned: centre third spans u in [40, 60] (width/6 = 10) and v in [30, 50] (jaw/2 = 10).
AXIS = ImageGrasp(u=50, v=40, angle=0.0, width=60, jaw=20)


def grasp_maps(grasps, shape, **kwargs):
    kwargs.setdefault("max_width", 150.0)
    return _grasp_maps(grasps, shape, **kwargs)


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
    soft = grasp_maps([AXIS], SHAPE, kind="soft")  # sigma 2 (ORANGE), floor 0.9
    # (a, b) = (5, 4) px -> d^2 = (5/10)^2 + (4/10)^2 = 0.41
    assert at(strong, "quality", 55, 44) == pytest.approx(math.exp(-0.41 / 0.5), rel=1e-6)
    assert at(soft, "quality", 55, 44) == pytest.approx(0.9)  # exp(-0.205) = 0.81 -> floor
    # (a, b) = (2, -1) -> d^2 = 0.05
    assert at(soft, "quality", 52, 39) == pytest.approx(math.exp(-0.05 / 2), rel=1e-6)
    assert at(strong, "quality", 52, 39) == pytest.approx(math.exp(-0.05 / 0.5), rel=1e-6)
    # soft lies in [0.9, 1] on the centre third, strong reaches exp(-2 / 0.5) at corners (d^2 = 2)
    q = soft.quality[0][soft.quality[0] > 0]
    assert q.min() == pytest.approx(0.9) and q.max() == pytest.approx(1.0)
    assert strong.quality[0, 30, 40] == pytest.approx(math.exp(-4), rel=1e-5)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 5.0])
def test_sigma_is_the_papers_sigma(sigma):
    """The paper's tables (authors' code, --gaussian g) use exp(-d^2 / sigma), not exp(-d^2 / (2 sigma^2))."""
    m = grasp_maps([AXIS], SHAPE, kind="strong", sigma=sigma)
    for du, dv in [(5, 4), (2, -1), (10, 10), (-7, 3)]:
        d2 = (du / 10) ** 2 + (dv / 10) ** 2  # half-extents of the centre third: 10 px and 10 px
        assert at(m, "quality", 50 + du, 40 + dv) == pytest.approx(math.exp(-d2 / sigma), rel=1e-5)
        if sigma != 0.5:  # the two readings of eq. 7 agree only at 0.5
            assert at(m, "quality", 50 + du, 40 + dv) != pytest.approx(math.exp(-d2 / (2 * sigma ** 2)), rel=1e-3)
    # the strong map falls to e^-2 at an edge midpoint for the paper's best sigma = 0.5 (Prew's figures)
    if sigma == 0.5:
        assert at(m, "quality", 60, 40) == pytest.approx(math.exp(-2), rel=1e-5)


def test_default_sigmas_are_the_papers():
    assert DEFAULT_SIGMA == {"soft": 2.0, "strong": 0.5}
    # ORANGE's soft map is exp(-(x^2 + y^2) / 2) before the 0.9 floor
    soft_no_floor = grasp_maps([AXIS], SHAPE, kind="strong", sigma=DEFAULT_SIGMA["soft"])
    assert at(soft_no_floor, "quality", 55, 44) == pytest.approx(math.exp(-0.41 / 2), rel=1e-6)


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
