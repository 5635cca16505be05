"""Tests of the pixel-level grasp label generator on ray-cast synthetic depth images."""
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

_REPO = Path(__file__).resolve().parents[3]
for _pkg in ("grasp_sim", "grasp_perception"):
    if str(_REPO / "src" / _pkg) not in sys.path:
        sys.path.insert(0, str(_REPO / "src" / _pkg))

from grasp_perception.grasp import angle_to_bin, rectangle_corners  # noqa: E402

try:
    from grasp_sim import labels as _labels
except ImportError:
    # labels.py is pure numpy/OpenCV: test it even when the package's simulator imports
    # (MuJoCo, modules still being written) are unavailable
    import importlib.util
    _spec = importlib.util.spec_from_file_location(
        "grasp_sim_labels_standalone", _REPO / "src" / "grasp_sim" / "grasp_sim" / "labels.py")
    _labels = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_labels)

GripperSpec, LabelParams, Reject = _labels.GripperSpec, _labels.LabelParams, _labels.Reject
angle_classes, generate_labels, subsample = (_labels.angle_classes, _labels.generate_labels,
                                             _labels.subsample)

# The paper's camera (eq. 1): 640x480, vertical fov 60 deg, looking straight down at a table.
H, W = 480, 640
FX = FY = 240 / math.tan(math.radians(30))
CX, CY = 319.5, 239.5
TABLE = 0.6
MU_COS = math.cos(math.atan(0.2))


def render(boxes=(), cylinders=()):
    """Exact pinhole ray casting. Boxes ``(xmin, xmax, ymin, ymax, ztop)`` and upright
    cylinders ``(xc, yc, r, ztop)`` in camera metres stand on the table plane ``z = TABLE``.
    Returns depth (float32) and object ids (1, 2, ... in argument order, boxes first)."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    dx, dy = (u - CX) / FX, (v - CY) / FY  # ray (dx, dy, 1): depth == ray parameter
    depth = np.full((H, W), TABLE)
    ids = np.zeros((H, W), np.int32)
    oid = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for xmin, xmax, ymin, ymax, ztop in boxes:
            oid += 1
            tx = np.sort(np.stack([xmin / dx, xmax / dx]), axis=0)
            ty = np.sort(np.stack([ymin / dy, ymax / dy]), axis=0)
            t_in = np.maximum.reduce([tx[0], ty[0], np.full_like(dx, ztop)])
            t_out = np.minimum.reduce([tx[1], ty[1], np.full_like(dx, TABLE)])
            hit = (t_in <= t_out) & (t_in < depth)
            depth[hit], ids[hit] = t_in[hit], oid
        for xc, yc, r, ztop in cylinders:
            oid += 1
            a = dx * dx + dy * dy
            b = -2 * (dx * xc + dy * yc)
            c = xc * xc + yc * yc - r * r
            disc = b * b - 4 * a * c
            sq = np.sqrt(np.maximum(disc, 0))
            t_in = np.maximum((-b - sq) / (2 * a), ztop)
            t_out = np.minimum((-b + sq) / (2 * a), TABLE)
            hit = (disc >= 0) & (t_in <= t_out) & (t_in < depth)
            depth[hit], ids[hit] = t_in[hit], oid
    return depth.astype(np.float32), ids


def pixel(x, y, z):
    """Nearest pixel (u, v) of the camera point (x, y, z)."""
    return int(round(x * FX / z + CX)), int(round(y * FY / z + CY))


def only(u, v, radius=0):
    """Candidate mask of the pixels within ``radius`` (Chebyshev) of (u, v)."""
    m = np.zeros((H, W), bool)
    m[v - radius:v + radius + 1, u - radius:u + radius + 1] = True
    return m


def labels(depth, ids, gripper=None, params=None, candidates=None):
    return generate_labels(depth, FX, FY, CX, CY, ids, gripper or GripperSpec(),
                           params or LabelParams(), candidates=candidates)


# A 4 cm x 12 cm x 5 cm box under the camera, its short side along the image u axis.
BOX = (-0.02, 0.02, -0.06, 0.06, 0.55)
K = 18
NEAR_H = (K // 2 - 1, K // 2)   # classes at -5 and +5 deg: opening almost along u
NEAR_V = (0, K - 1)             # classes at -85 and +85 deg: opening almost along v


@pytest.fixture(scope="module")
def box_scene():
    depth, ids = render(boxes=[BOX])
    u, v = pixel(0, 0, BOX[4])
    res = labels(depth, ids, candidates=only(u, v, 3))
    return depth, ids, (u, v), res


def test_short_side_grasp_at_centre_is_positive_with_box_width_plus_tolerance(box_scene):
    depth, _, (u, v), res = box_scene
    g = GripperSpec()
    for k in NEAR_H:
        assert res.positive[k, v, u], Reject(int(res.reject[k, v, u]))
        # the 2 cm jaw at 5 deg to the face touches its far corner: w = 4/cos5 + 2 tan5 (+tol)
        expect = 0.04 / math.cos(math.radians(5)) + g.finger_depth_m * math.tan(math.radians(5))
        assert res.width_m[k, v, u] == pytest.approx(expect + g.width_tolerance_m, abs=0.003)
        assert 0.01 <= res.approach_m[k, v, u] <= g.finger_length_m + 1e-6
    grasp = next(gr for gr in res.grasps if (gr.u, gr.v, gr.angle_bin) == (u, v, NEAR_H[0]))
    z = float(depth[v, u])
    assert grasp.width == pytest.approx(res.width_m[NEAR_H[0], v, u] * FX / z, rel=1e-3)
    assert grasp.width == pytest.approx((0.04 + g.width_tolerance_m) * FX / z, abs=4)
    assert grasp.jaw == pytest.approx(g.finger_depth_m * FX / z, rel=1e-6)
    assert grasp.quality == 1.0


def test_long_side_grasp_wider_than_max_opening_is_negative(box_scene):
    _, _, (u, v), res = box_scene
    for k in NEAR_V:
        assert not res.positive[k, v, u]
        assert res.reject[k, v, u] == Reject.NO_CONTACT
    # with a gripper that opens past 12 cm the same grasp has contacts (and is positive)
    depth, ids = render(boxes=[BOX])
    wide = labels(depth, ids, GripperSpec(max_opening_m=0.16), candidates=only(u, v))
    assert wide.positive[NEAR_V[0], v, u]
    assert wide.width_m[NEAR_V[0], v, u] == pytest.approx(0.12 + 0.01, abs=0.006)


def test_friction_cone_rejects_grasps_oblique_to_the_box_faces(box_scene):
    _, _, (u, v), res = box_scene
    angles = np.degrees(res.angles)
    checked = 0
    for k in range(K):
        # the faces are along u and v; mu = 0.2 allows 11.3 deg
        oblique = min(abs(angles[k]), 90 - abs(angles[k])) > 12
        if oblique and res.reject[k, v, u] != Reject.NO_CONTACT:
            assert not res.positive[k, v, u]
            assert res.reject[k, v, u] & Reject.FRICTION
            checked += 1
    assert checked >= 4  # +-15, +-25 deg at least reach the friction test


@pytest.mark.parametrize("bar_angle", [30.0, -60.0])
def test_label_angle_follows_the_imagegrasp_convention(bar_angle):
    # a 3 cm x 15 cm bar drawn as an ImageGrasp rectangle whose opening direction is
    # bar_angle (anticlockwise on screen): only classes within the cone of it are positive
    z = 0.55
    depth = np.full((H, W), TABLE, np.float32)
    corners = rectangle_corners(320, 240, math.radians(bar_angle), 0.03 * FX / z, 0.15 * FX / z)
    mask = np.zeros((H, W), np.uint8)
    cv2.fillPoly(mask, [np.round(corners).astype(np.int32)], 1)
    depth[mask > 0] = z
    # the bar is drawn in camera pixels, so the convention is checked on the camera image
    # itself; the parallel image resamples its staircase edges (z-buffer at 0.92 px per
    # cell), which may tip one of the two classes out of the 11.3 deg friction cone
    res = labels(depth, mask > 0, params=LabelParams(parallel_projection=False),
                 candidates=only(320, 240))
    pos = np.degrees(res.angles[res.positive[:, 240, 320]])
    assert sorted(pos) == pytest.approx(sorted([bar_angle - 5, bar_angle + 5]))
    res = labels(depth, mask > 0, candidates=only(320, 240))
    pos = np.degrees(res.angles[res.positive[:, 240, 320]])
    assert 1 <= len(pos) and set(np.round(pos)) <= {bar_angle - 5, bar_angle + 5}


def test_table_pixels_away_from_the_object_give_no_labels():
    depth, ids = render(boxes=[BOX])
    cand = np.zeros((H, W), bool)
    cand[100:140:4, 60:200:4] = True            # bare table, far left of the box
    cand[200:280:4, 300:340:4] = True           # box and its surroundings
    res = labels(depth, ids, candidates=cand)
    table = np.zeros((H, W), bool)
    table[100:140, 60:200] = True
    assert not res.positive[:, table].any()
    assert np.all(res.reject[:, cand & table] == Reject.NO_CONTACT)
    # the same run does label the box, and only on the box
    assert res.positive.any()
    assert np.all(ids[res.positive.any(axis=0)] == 1)


def test_tall_wall_next_to_the_box_makes_the_finger_collide(box_scene):
    _, _, (u, v), free_res = box_scene
    # 5 mm gap to a 15 cm tall wall on the +x side: the 1 cm finger (+5 mm tol/2) lands on it
    wall = (0.025, 0.03, -0.1, 0.1, 0.45)
    depth, ids = render(boxes=[BOX, wall])
    res = labels(depth, ids, candidates=only(u, v))
    for k in NEAR_H:
        assert free_res.positive[k, v, u]
        assert not res.positive[k, v, u]
        assert res.reject[k, v, u] == Reject.COLLISION
    # moved 2 cm further out the wall leaves room for the finger again
    far = (0.045, 0.05, -0.1, 0.1, 0.45)
    depth, ids = render(boxes=[BOX, far])
    res = labels(depth, ids, candidates=only(u, v))
    assert res.positive[NEAR_H[0], v, u]


CYL = (0.0, 0.0, 0.025, 0.54)  # upright cylinder, r = 2.5 cm, 6 cm tall


@pytest.mark.parametrize("parallel", [False, True])
def test_cylinder_grasps_through_the_centre_pass_the_friction_cone(parallel):
    depth, ids = render(cylinders=[CYL])
    u, v = pixel(0, 0, CYL[3])
    res = labels(depth, ids, params=LabelParams(parallel_projection=parallel),
                 candidates=only(u, v))
    assert res.positive[:, v, u].all(), [Reject(int(x)) for x in res.reject[:, v, u]]
    # parallel image: contacts are quantised to its cells (TABLE / FX = 1.44 mm, doubled by
    # the symmetric width) and the grasp centre is its cell's centre (+-0.7 mm)
    atol = 0.004 + (2 * TABLE / FX if parallel else 0.0)
    assert np.allclose(res.width_m[:, v, u], 0.05 + 0.01, atol=atol)


def test_cylinder_grasps_far_off_centre_fail_the_friction_cone():
    depth, ids = render(cylinders=[CYL])
    narrow = GripperSpec(finger_depth_m=0.006)  # a short jaw isolates one chord
    uc, vc = pixel(0, 0, CYL[3])
    u, v = pixel(0, 0.6 * CYL[2], CYL[3])       # chord 15 mm off the axis: normals ~35 deg
    res = labels(depth, ids, narrow, candidates=only(u, v) | only(uc, vc))
    for k in NEAR_H:
        assert res.positive[k, vc, uc]
        assert res.reject[k, v, u] == Reject.FRICTION
    # with the default jaw the positive band along u stays near the centre line
    rows_even = np.broadcast_to((np.abs(np.arange(H) - vc) % 2 == 0)[:, None], (H, W))
    res = labels(depth, ids, candidates=rows_even & (ids == 1))
    k = NEAR_H[1]
    rows = np.nonzero(res.positive[k].any(axis=1))[0]
    off_m = np.abs(rows - vc) * CYL[3] / FY
    assert off_m.max() < 0.5 * CYL[2]
    far_rows = np.abs(np.arange(H) - vc) * CYL[3] / FY > 0.6 * CYL[2]
    on_cyl = (ids == 1) & far_rows[:, None] & (res.reject[k] != Reject.NOT_EVALUATED)
    assert on_cyl.any() and not res.positive[k][on_cyl].any()


@pytest.mark.parametrize("parallel", [False, True])
def test_rough_contact_area_fails_flatness_but_a_tilted_plane_passes(parallel):
    depth, ids = render(boxes=[BOX])
    u, v = pixel(0, 0, BOX[4])
    cols = np.arange(W)[None, :]
    params = LabelParams(parallel_projection=parallel)
    rough = depth.copy()
    rough[ids == 1] += np.broadcast_to(np.where(cols % 2 == 0, 0.006, 0.0), (H, W))[ids == 1]
    res = labels(rough, ids, params=params, candidates=only(u, v))
    for k in NEAR_H:
        assert res.reject[k, v, u] & Reject.FLATNESS
    tilted = depth.copy()
    tilted[ids == 1] += np.broadcast_to(0.00005 * (cols - u), (H, W))[ids == 1]  # ~4 deg
    res = labels(tilted, ids, params=params, candidates=only(u, v))
    assert res.positive[NEAR_H[0], v, u], Reject(int(res.reject[NEAR_H[0], v, u]))


def test_touching_objects_with_different_ids_are_not_grasped_together():
    left, right = (-0.02, 0.0, -0.06, 0.06, 0.55), (0.0, 0.02, -0.06, 0.06, 0.55)
    depth, ids = render(boxes=[left, right])
    u, v = pixel(-0.005, 0, 0.55)
    res = labels(depth, ids, candidates=only(u, v))
    assert res.reject[NEAR_H[0], v, u] & Reject.OTHER_OBJECT
    assert not res.positive[:, v, u].any()
    merged = labels(depth, ids > 0, candidates=only(u, v))  # one bool mask: one object
    assert merged.positive[NEAR_H[0], v, u]


def test_invalid_depth_in_a_finger_footprint():
    depth, ids = render(boxes=[BOX])
    u, v = pixel(0, 0, BOX[4])
    holed = depth.copy()
    fu = u + int(round(0.03 * FX / BOX[4]))      # where the +x finger goes down
    holed[v - 3:v + 4, fu - 2:fu + 3] = np.nan
    k = NEAR_H[0]
    res = labels(holed, ids, candidates=only(u, v))
    assert res.reject[k, v, u] == Reject.COLLISION
    res = labels(holed, ids, params=LabelParams(invalid_as_obstacle=False),
                 candidates=only(u, v))
    assert res.positive[k, v, u]


def test_angle_bins_match_the_angle_classes():
    depth, ids = render(cylinders=[CYL])
    u, v = pixel(0, 0, CYL[3])
    for n in (6, 18):
        res = labels(depth, ids, params=LabelParams(n_angles=n), candidates=only(u, v, 1))
        assert res.positive.shape == (n, H, W)
        assert np.array_equal(res.angles, angle_classes(n))
        assert sorted({g.angle_bin for g in res.grasps}) == list(range(n))
        assert len(res.grasps) == int(res.positive.sum())
        for g in res.grasps:
            assert g.angle_bin == angle_to_bin(g.angle, n)
            assert g.angle == pytest.approx(res.angles[g.angle_bin])
            assert res.positive[g.angle_bin, int(g.v), int(g.u)]


def test_deterministic_and_stride():
    depth, ids = render(boxes=[BOX])
    a = labels(depth, ids, params=LabelParams(stride_px=3))
    b = labels(depth, ids, params=LabelParams(stride_px=3))
    assert a.grasps == b.grasps and len(a.grasps) > 0
    for name in ("positive", "width_m", "approach_m", "reject"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    ev = a.reject[0] != Reject.NOT_EVALUATED
    vs, us = np.nonzero(ev)
    assert np.all(vs % 3 == 0) and np.all(us % 3 == 0)
    assert a.n_candidates == int(((ids == 1)[::3, ::3]).sum())


def test_symmetric_width_grows_off_centre_contacts_mode_does_not():
    depth, ids = render(boxes=[BOX])
    u, v = pixel(0, 0, BOX[4])
    du = int(round(0.008 * FX / BOX[4]))  # 8 mm off centre along the opening
    cand = only(u, v) | only(u + du, v)
    k = NEAR_H[0]
    sym = labels(depth, ids, candidates=cand)
    con = labels(depth, ids, params=LabelParams(width_mode="contacts"), candidates=cand)
    assert sym.width_m[k, v, u + du] == pytest.approx(sym.width_m[k, v, u] + 0.016, abs=0.003)
    assert con.width_m[k, v, u + du] == pytest.approx(con.width_m[k, v, u], abs=0.0015)


def test_subsample():
    depth, ids = render(cylinders=[CYL])
    res = labels(depth, ids, params=LabelParams(stride_px=2))
    n = len(res.grasps)
    assert n > 50
    s1 = subsample(res.grasps, 50, 7)
    assert len(s1) == 50 and s1 == subsample(res.grasps, 50, np.random.default_rng(7))
    assert all(g in res.grasps for g in s1)
    pos = [res.grasps.index(g) for g in s1]
    assert pos == sorted(pos)                    # original order kept
    assert subsample(res.grasps, n + 5, 0) == res.grasps
    assert subsample(res.grasps, 0, 0) == []
    with pytest.raises(ValueError, match="max_count"):
        subsample(res.grasps, -1, 0)
    with pytest.raises(ValueError, match="rng"):
        subsample(res.grasps, 5, "seed")


@pytest.mark.parametrize("call, match", [
    (lambda d, m: generate_labels(d[0], FX, FY, CX, CY, m), "depth_m"),
    (lambda d, m: generate_labels(d, -1.0, FY, CX, CY, m), "fx"),
    (lambda d, m: generate_labels(d, FX, FY, float("nan"), CY, m), "cx"),
    (lambda d, m: generate_labels(d, FX, FY, CX, CY, m[:10]), "object_mask"),
    (lambda d, m: generate_labels(d, FX, FY, CX, CY, m.astype(float)), "object_mask"),
    (lambda d, m: generate_labels(d, FX, FY, CX, CY, m, candidates=m.astype(int)), "candidates"),
    (lambda d, m: generate_labels(d, FX, FY, CX, CY, m, params=GripperSpec()), "params"),
    (lambda d, m: generate_labels(d, FX, FY, CX, CY, m,
                                  params=LabelParams(min_depth_below_top_m=0.05)),
     "min_depth_below_top_m"),
    (lambda d, m: LabelParams(n_angles=0), "n_angles"),
    (lambda d, m: LabelParams(mu=-0.1), "mu"),
    (lambda d, m: LabelParams(stride_px=1.5), "stride_px"),
    (lambda d, m: LabelParams(width_mode="centre"), "width_mode"),
    (lambda d, m: LabelParams(min_contact_fraction=2), "min_contact_fraction"),
    (lambda d, m: GripperSpec(max_opening_m=0), "max_opening_m"),
    (lambda d, m: GripperSpec(width_tolerance_m=0.1), "width_tolerance_m"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, match):
    depth = np.full((20, 30), 0.6, np.float32)
    mask = np.zeros((20, 30), bool)
    with pytest.raises(ValueError, match=match):
        call(depth, mask)


def test_empty_mask_gives_no_labels():
    depth, ids = render(boxes=[BOX])
    res = labels(depth, np.zeros_like(ids))
    assert res.grasps == [] and not res.positive.any()
    assert np.all(res.reject == Reject.NOT_EVALUATED)


def test_speed_full_scene(capsys):
    depth, ids = render(boxes=[BOX])
    n_px = int((ids == 1).sum())
    t0 = time.perf_counter()
    res = labels(depth, ids)
    dt = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nlabels: 640x480, {n_px} object px x {K} angles: {dt:.2f} s, "
              f"{n_px / dt:.0f} px/s, {n_px * K / dt:.0f} px-angles/s, "
              f"{len(res.grasps)} grasps")
    assert len(res.grasps) > 0


# --- parallel (orthographic) depth image -----------------------------------------------------
# An upright 1.7 x 2.8 x 3.9 cm box: under the camera, and (0.03, 0.03) m off the optical axis,
# where the camera also sees its -x and -y side walls.
SMALL_H = 0.039


def small_box(xc, yc):
    return (xc - 0.0085, xc + 0.0085, yc - 0.014, yc + 0.014, TABLE - SMALL_H)


@pytest.fixture(scope="module")
def small_box_runs():
    out = {}
    for name, centre in (("centre", (0.0, 0.0)), ("off", (0.03, 0.03))):
        depth, ids = render(boxes=[small_box(*centre)])
        out[name] = (depth, ids, labels(depth, ids, params=LabelParams(stride_px=2)))
    return out


def test_parallel_image_labels_an_off_centre_box_like_a_centred_one(small_box_runs):
    n_centre = len(small_box_runs["centre"][2].grasps)
    n_off = len(small_box_runs["off"][2].grasps)
    assert n_centre > 100
    assert n_centre / 2 <= n_off <= 2 * n_centre, (n_centre, n_off)
    # the seen side walls no longer fail the flatness check
    depth, ids, res = small_box_runs["off"]
    assert not (res.reject[:, ids == 1] & Reject.FLATNESS).any()
    # ... whereas on the perspective image they did (the behaviour this replaces)
    old = labels(depth, ids, params=LabelParams(stride_px=2, parallel_projection=False))
    assert len(old.grasps) < n_off / 10
    assert (old.reject[:, ids == 1] & Reject.FLATNESS).sum() > 100


def test_parallel_labels_map_back_onto_the_box_top_in_camera_pixels(small_box_runs):
    depth, ids, res = small_box_runs["off"]
    g = GripperSpec()
    xmin, xmax, ymin, ymax, ztop = small_box(0.03, 0.03)
    assert res.grasps
    us = np.array([gr.u for gr in res.grasps])
    vs = np.array([gr.v for gr in res.grasps])
    assert np.all(us == np.round(us)) and np.all(vs == np.round(vs))  # camera pixels
    assert np.all(ids[vs.astype(int), us.astype(int)] == 1)
    # on the top face, not its side walls: depth of the top, (x, y) inside it (+- 1 px)
    assert np.allclose(depth[vs.astype(int), us.astype(int)], ztop, atol=1e-4)
    x, y = (us - CX) * ztop / FX, (vs - CY) * ztop / FY
    px = ztop / FX
    assert np.all((x > xmin - px) & (x < xmax + px) & (y > ymin - px) & (y < ymax + px))
    # the seen wall pixels are not grasp centres
    wall = (ids == 1) & (depth > ztop + 0.005)
    assert wall.any() and np.all(res.reject[:, wall] == Reject.NOT_EVALUATED)
    # widths: across the 1.7 cm side at the centre of the top face (classes at +-5 deg)
    u, v = pixel(0.03, 0.03, ztop)
    u, v = u - u % 2, v - v % 2                                   # on the stride-2 grid
    expect = 0.017 / math.cos(math.radians(5)) + g.finger_depth_m * math.tan(math.radians(5)) \
        + g.width_tolerance_m
    for k in NEAR_H:
        assert res.positive[k, v, u], Reject(int(res.reject[k, v, u]))
        # symmetric width about a centre up to 1 px off the face's centre line, cell-quantised
        assert res.width_m[k, v, u] == pytest.approx(expect, abs=0.006)
        grasp = next(gr for gr in res.grasps if (gr.u, gr.v, gr.angle_bin) == (u, v, k))
        assert grasp.width == pytest.approx(res.width_m[k, v, u] * FX / ztop, rel=1e-4)
        assert grasp.width == pytest.approx(expect * FX / ztop, abs=0.006 * FX / ztop)
        assert grasp.jaw == pytest.approx(g.finger_depth_m * FX / ztop, rel=1e-6)
        # fingertip reported below the pixel's own surface point
        assert 0.01 <= res.approach_m[k, v, u] <= g.finger_length_m + 1e-6
    # symmetric widths grow off the centre line, never past the opening
    assert np.all(res.width_m[res.positive] <= g.max_opening_m + 1e-6)
    assert np.all(res.width_m[res.positive] >= 0.017 + g.width_tolerance_m - 0.002)


# Label counts, reject-flag counts and width sums of the perspective-image generator before the
# parallel image was added (same scenes, stride 2): parallel_projection=False must keep them.
_OLD = {"small_off": (0, 0.0, [0, 0, 0, 463, 0, 0, 5528214]),
        "box": (910, 59.237335205078125, [9044, 0, 0, 0, 937, 18, 5517450]),
        "cylinder": (995, 69.77980041503906, [2490, 0, 0, 0, 561, 0, 5524380])}


@pytest.mark.parametrize("scene", sorted(_OLD))
def test_perspective_mode_reproduces_the_old_labels(scene):
    depth, ids = render(**{"small_off": dict(boxes=[small_box(0.03, 0.03)]),
                           "box": dict(boxes=[BOX]), "cylinder": dict(cylinders=[CYL])}[scene])
    res = labels(depth, ids, params=LabelParams(stride_px=2, parallel_projection=False))
    n, wsum, flags = _OLD[scene]
    assert len(res.grasps) == n == int(res.positive.sum())
    assert float(res.width_m.sum()) == pytest.approx(wsum, rel=1e-6)
    assert [int((res.reject == f).sum()) for f in (1, 2, 4, 8, 16, 32, 128)] == flags
    # the old generator evaluated every object pixel, its seen side walls included
    assert res.n_candidates == int((ids == 1)[::2, ::2].sum())
    for gr in res.grasps[::50]:
        z = float(depth[int(gr.v), int(gr.u)])
        assert gr.width == pytest.approx(res.width_m[gr.angle_bin, int(gr.v), int(gr.u)] * FX / z,
                                         rel=1e-5)


def test_parallel_projection_param_is_validated():
    with pytest.raises(ValueError, match="parallel_projection"):
        LabelParams(parallel_projection=1)
