"""Geometric transforms keep images and grasp labels aligned."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from grasp_perception.datasets import (Augment, GraspSample, center_crop, crop, resize,
                                       transform_grasp, warp)
from grasp_perception.grasp import ImageGrasp

H, W = 200, 240  # non-square, to catch row/column mix-ups


def _rect_mask(g: ImageGrasp, shape) -> np.ndarray:
    img = np.zeros(shape, np.uint8)
    cv2.fillPoly(img, [np.round(g.as_rectangle()).astype(np.int32)], 1)
    return img.astype(bool)


def _asymmetric_sample() -> GraspSample:
    g = ImageGrasp(u=150.0, v=80.0, angle=0.5, width=70.0, jaw=24.0)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[20:60, 20:30] = (255, 0, 0)     # an "L" in the top-left corner
    rgb[50:60, 20:70] = (255, 0, 0)
    v, u = np.mgrid[0:H, 0:W]
    depth = (1.0 + u / 1000 + v / 500).astype(np.float32)
    depth[170:190, 10:40] = np.nan
    return GraspSample(rgb=rgb, depth=depth, mask=_rect_mask(g, (H, W)), grasps=[g],
                       sample_id="asym")


def _assert_aligned(out: GraspSample, min_iou=0.8):
    assert len(out.grasps) == 1
    g = out.grasps[0]
    h, w = out.shape
    assert out.mask[int(round(g.v)), int(round(g.u))]  # centre pixel on the transformed mask
    drawn = _rect_mask(g, (h, w))
    iou = (drawn & out.mask).sum() / (drawn | out.mask).sum()
    assert iou > min_iou, f"grasp rectangle and transformed image disagree (IoU {iou:.2f})"


def test_resize_crop_keep_alignment():
    s = _asymmetric_sample()
    r = resize(s, (100, 120))
    assert r.depth.shape == (100, 120) and r.rgb.shape == (100, 120, 3)
    _assert_aligned(r)
    assert r.grasps[0].width == pytest.approx(35.0)
    c = crop(s, 30, 90, (120, 140))
    assert c.grasps[0].u == 60.0 and c.grasps[0].v == 50.0
    np.testing.assert_array_equal(c.rgb, s.rgb[30:150, 90:230])
    _assert_aligned(c, min_iou=0.99)
    cc = center_crop(s, 160)
    assert cc.shape == (160, 160)
    assert (cc.grasps[0].u, cc.grasps[0].v) == (150.0 - 40, 80.0 - 20)


def test_bad_geometry_raises():
    s = _asymmetric_sample()
    with pytest.raises(ValueError, match="aspect ratio"):
        resize(s, 100)
    with pytest.raises(ValueError, match="does not fit"):
        crop(s, 150, 0, 100)
    with pytest.raises(ValueError, match="zoom"):
        Augment(zoom=(1.2, 1.0))


@pytest.mark.parametrize("seed", range(8))
def test_augment_keeps_alignment(seed):
    s = _asymmetric_sample()
    aug = Augment(rotation_deg=180, zoom=(0.7, 1.0), flip=True, translation_px=15, border="constant")
    out = aug(s, np.random.default_rng(seed))
    assert out.shape == (H, W)
    _assert_aligned(out)
    # nearest-neighbour depth: every valid output value exists in the input (no mixing with NaN)
    valid = out.depth[np.isfinite(out.depth)]
    assert np.isin(valid, s.depth[np.isfinite(s.depth)]).all()


def test_rotation_direction_matches_screen_anticlockwise():
    n = 101
    img = np.zeros((n, n), np.float32)
    img[50, 80] = 5.0  # a point right of the centre
    s = GraspSample(rgb=None, depth=img + 1.0, mask=img > 0,
                    grasps=[ImageGrasp(u=80.0, v=50.0, angle=0.0, width=10.0, jaw=4.0)])
    m = Augment.matrix({"rotation_deg": 90.0, "zoom": 1.0, "flip": False,
                        "translation": (0.0, 0.0)}, (n, n))
    out = warp(s, m, (n, n))
    np.testing.assert_array_equal(out.mask, np.rot90(s.mask))  # anticlockwise on screen
    assert out.mask[20, 50]  # the point moved above the centre
    g = out.grasps[0]
    assert (g.u, g.v) == pytest.approx((50.0, 20.0))
    assert g.angle == pytest.approx(-np.pi / 2)  # 0 + 90 deg, wrapped to [-pi/2, pi/2)
    assert (g.width, g.jaw) == pytest.approx((10.0, 4.0))


def test_flip_negates_angle():
    s = _asymmetric_sample()
    aug = Augment(rotation_deg=0, zoom=(1.0, 1.0), flip=True)
    flipped = [aug(s, np.random.default_rng(k)) for k in range(6)]
    kinds = set()
    for out in flipped:
        g, g0 = out.grasps[0], s.grasps[0]
        if np.array_equal(out.rgb, s.rgb[:, ::-1]):
            kinds.add("flip")
            assert g.angle == pytest.approx(-g0.angle) and g.u == pytest.approx(W - 1 - g0.u)
        else:
            kinds.add("none")
            np.testing.assert_array_equal(out.rgb, s.rgb)
            assert g.angle == pytest.approx(g0.angle)
        _assert_aligned(out)
    assert kinds == {"flip", "none"}


def test_grasps_leaving_the_image_are_dropped():
    s = _asymmetric_sample()
    m = np.array([[1.0, 0.0, 100.0], [0.0, 1.0, 0.0]])  # shift right by 100 px: u 150 -> 250
    out = warp(s, m, (H, W))
    assert out.grasps == []
    assert np.isnan(out.depth[:, :100]).all()  # constant border = invalid depth
    kept = warp(s, np.array([[1.0, 0.0, 80.0], [0.0, 1.0, 0.0]]), (H, W))
    assert len(kept.grasps) == 1 and kept.grasps[0].u == 230.0


def test_transform_grasp_zoom_and_inverse():
    g = ImageGrasp(u=10.0, v=20.0, angle=0.7, width=8.0, jaw=3.0)
    m = np.array([[2.0, 0.0, 5.0], [0.0, 2.0, -1.0]])
    z = transform_grasp(g, m)
    assert (z.u, z.v, z.angle, z.width, z.jaw) == pytest.approx((25.0, 39.0, 0.7, 16.0, 6.0))
    back = transform_grasp(z, cv2.invertAffineTransform(m))
    assert (back.u, back.v, back.angle, back.width, back.jaw) == \
           pytest.approx((g.u, g.v, g.angle, g.width, g.jaw))
    # zoom 0.5 in Augment doubles grasp size about the image centre
    m = Augment.matrix({"rotation_deg": 0.0, "zoom": 0.5, "flip": False, "translation": (0.0, 0.0)},
                       (H, W))
    c = transform_grasp(ImageGrasp(u=(W - 1) / 2, v=(H - 1) / 2, angle=0.1, width=8.0, jaw=3.0), m)
    assert (c.u, c.v, c.width) == pytest.approx(((W - 1) / 2, (H - 1) / 2, 16.0))
    assert math.isclose(c.angle, 0.1)


def test_many_grasps_move_as_each_would_alone():
    # transform_grasps is vectorised over the label list: it must agree with the one-grasp rule,
    # keep quality and angle bin, and drop exactly the grasps whose centre pixel leaves the image.
    from grasp_perception.datasets.transforms import transform_grasps
    rng = np.random.default_rng(3)
    grasps = [ImageGrasp(u=float(u), v=float(v), angle=float(a), width=float(w), jaw=float(j),
                         quality=float(q), angle_bin=int(b))
              for u, v, a, w, j, q, b in zip(rng.uniform(-20, W + 20, 200), rng.uniform(-20, H + 20, 200),
                                             rng.uniform(-2, 2, 200), rng.uniform(0, 90, 200),
                                             rng.uniform(0, 30, 200), rng.random(200), rng.integers(0, 3, 200))]
    m = Augment.matrix({"rotation_deg": 37.0, "zoom": 0.8, "flip": True, "translation": (5.0, -7.0)}, (H, W))
    alone = [transform_grasp(g, m) for g in grasps]
    expected = [g for g in alone if 0 <= math.floor(g.u + 0.5) < W and 0 <= math.floor(g.v + 0.5) < H]
    moved = transform_grasps(grasps, m, (H, W))
    assert 0 < len(moved) < len(grasps) and len(moved) == len(expected)
    for got, want in zip(moved, expected):
        assert (got.u, got.v, got.angle, got.width, got.jaw) == pytest.approx((want.u, want.v, want.angle, want.width, want.jaw))
        assert (got.quality, got.angle_bin) == (want.quality, want.angle_bin)
    assert transform_grasps([], m, (H, W)) == []
