"""Pixel-level grasp labels computed on a depth image (PLGP's "PDG-Generation", Sec. III-D).

Every candidate pixel ``p`` of an object is tried with ``K`` gripper angles; a top-down
parallel-jaw grasp (approach along the camera z axis, as in the paper's eqs. 7-9) is kept when
it survives the paper's checks: collision of the open fingers with the scene, flatness of the
contact area, and the force-closure (friction cone) test. The result is dense: one label per
positive ``(pixel, angle)`` pair, returned as :class:`grasp_perception.grasp.ImageGrasp` so it
can be written in the Jacquard format and turned into training maps unchanged.

Model of the scene
    The depth image is read as a height map: everything behind a visible surface point is
    solid. Local geometry uses the *parallel* (orthographic) approximation the paper builds
    its parallel depth image for: around a candidate, lengths are converted with the scale
    of the candidate's depth (``px = metres * f / z``; the paper's projection ratio ``eta``
    of eqs. 11/13 taken locally as ``f / z``), and surface slopes with the scale of each
    pixel. A depth jump steeper than ``LabelParams.wall_slope`` is a vertical wall whose
    hidden side is what the fingers touch, so its normal is horizontal (along the image
    gradient). This is the whole model with ``params.parallel_projection=False`` (the
    behaviour before the parallel image; ``cx``/``cy`` are then unused). Away from the image
    centre the perspective image also shows objects' side walls, which fail the flatness
    check, so off-centre objects got far fewer labels.

Parallel depth image (default, paper Sec. III-D eqs. 11-13)
    Every valid pixel is deprojected to ``(x, y, z) = ((u-cx) z/fx, (v-cy) z/fy, z)`` and
    z-buffered (nearest point wins, object ids carried along) into an orthographic image of
    the camera's size whose pixel is ``z_ref / f`` metres, ``z_ref`` = the farthest valid
    depth (normally the table; eq. 11 with ``eta = f / z_ref``), see ``_parallel_view`` for
    how walls seen obliquely, shadows and invalid pixels are handled. The per-angle search
    runs on that image with the constant scale ``f / z_ref``. Each candidate camera pixel
    is aligned to its cell (eqs. 12/13, as the paper does) and takes the result of that cell,
    whose top surface is the grasp centre; so every output stays in *camera* pixels:
    ``grasps`` are at the candidate's own ``(u, v)`` (the projection of its 3-D point; the
    search used the cell centre, <= half a cell = 0.7 mm away at 0.6 m), ``width``/``jaw`` in
    pixels are ``metres * f / z`` with ``z`` the pixel's own depth, ``approach_m`` is measured
    from the pixel's own depth, and the dense ``(K, H, W)`` maps are indexed by camera pixel.
    Camera pixels more than one wall rise (``wall_slope`` cells) below their cell's top lie
    on a surface hidden from above (a side wall seen obliquely) and are ``NOT_EVALUATED``.
    Angles are unchanged, which assumes the camera looks straight down (optical axis along
    the gripper's approach); for a tilted camera the labels would need the full 3-D
    rotation. Contacts are quantised to parallel cells (1.44 mm at 0.6 m for the paper's
    camera), so symmetric widths carry up to ~3 mm of quantisation.

Gripper model (``GripperSpec``, paper Fig. 3c ``[L1..L4]``)
    Two rectangular fingers, ``finger_width_m`` thick along the opening direction and
    ``finger_depth_m`` across (the jaw), reaching ``finger_length_m`` below the palm;
    ``max_opening_m`` is the largest opening. In image terms a finger footprint is a
    rectangle; because it spans the whole jaw, only the *highest* surface point across the
    jaw matters at each position along the opening line, so the jaw strip collapses to a
    1-D profile ``P(x) = min depth over the jaw rows`` (a vertical erosion of the rotated
    depth image).

Algorithm, per angle ``theta_k`` (all candidates at once, numpy-vectorised)
    1. Rotate the depth image (nearest neighbour, so depth edges stay sharp) so the opening
       direction is the ``+x`` axis; erode it over the jaw rows to get the profile ``P``.
    2. For each fingertip depth ``z = I(p) + d`` with ``d`` on the paper's grid
       ``{g, 2g, ...} <= finger_length`` (``g = depth_step_m``):
       the object at that level is the run of columns around ``p`` with ``P < z``; its ends
       are where the closing fingers make contact (none within reach -> ``NO_CONTACT``).
       Opening ``w`` = the opening at which the closing gripper first touches the object,
       plus ``width_tolerance_m`` (paper: "opening width when the gripper just collides with
       the object plus tolerance"). With ``width_mode="symmetric"`` the gripper is centred
       on ``p``, so ``w = 2 * max(left, right contact distance) + tol``; with
       ``"contacts"`` it is the distance between the contacts + tol (a self-centring
       gripper). ``w`` must be ``<= max_opening_m``. The open fingers must not collide: no
       point of ``P`` inside either finger footprint may be above the fingertip
       (``COLLISION``). The fingers must reach ``min_depth_below_top_m`` below the highest
       point ``z_top`` between the contacts, and the palm must clear it:
       ``z - z_top <= finger_length_m`` (``DEPTH``). The deepest level that passes wins.
    3. At that level, on each side, the contact area ``Omega`` is the object surface within
       ``contact_band_m`` inwards of the contact, over the jaw rows:
       * flatness: RMS residual of a least-squares plane through ``Omega`` (paper eq. 14;
         RMS instead of variance so the threshold is in metres) ``<= flatness_tol_m``;
       * contact area: the fraction of jaw rows with surface in the band
         ``>= min_contact_fraction`` (rejects point contacts on corners);
       * friction cone: the touching points are each jaw row's outermost surface pixel,
         if within ``contact_tol_m`` of the contact (pad compliance). Their mean outward
         normal must lie within ``arctan(mu)`` of the grasp axis, pointing at the finger;
       * same object: with integer ids, every touching point must belong to ``p``'s object.

Angles
    The paper samples ``theta = k * pi / K``. Here class ``k`` is the angle at the *centre*
    of bin ``k`` of :func:`grasp_perception.grasp.angle_to_bin`,
    ``theta_k = -pi/2 + (k + 1/2) pi / K`` (the same set shifted by half a class), so a label's
    angle and its ``angle_bin`` never disagree through rounding at a bin edge.

Why rotation + gather rather than rotating results back: each candidate keeps its own
original ``(u, v)`` and only its window is read from the rotated image, so no label is lost
or duplicated by resampling the result maps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntFlag

import cv2
import numpy as np

from grasp_perception.grasp import ImageGrasp

__all__ = ["GripperSpec", "LabelParams", "LabelResult", "Reject", "angle_classes",
           "generate_labels", "subsample"]

_CHUNK = 4096        # candidates per vectorised batch (bounds memory to a few tens of MB)
_FAR = np.float32(1e6)  # "nothing here" depth, used when invalid pixels are free space
_EPS = 1e-9


class Reject(IntFlag):
    """Why a ``(pixel, angle)`` pair is not a label (bit flags; 0 = positive).

    Geometry failures (the first three) are exclusive; the surface checks run only on pairs
    that pass the geometry and may combine.
    """

    NONE = 0
    NO_CONTACT = 1      # the object does not end within the maximum opening on both sides
    COLLISION = 2       # every level with a valid opening has an open finger in collision
    DEPTH = 4           # collision-free, but too shallow below the top, or the palm hits it
    FLATNESS = 8        # plane-fit residual of a contact area above flatness_tol_m
    FRICTION = 16       # a contact normal outside the friction cone
    CONTACT_AREA = 32   # too few jaw rows touch the object on one side (corner/point contact)
    OTHER_OBJECT = 64   # a finger touches a different object id than the grasp pixel's
    NOT_EVALUATED = 128  # not a candidate (outside mask/candidates, stride, invalid depth)


def _check_pos(name: str, value, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class GripperSpec:
    """Parallel-jaw gripper geometry, metres (paper Fig. 3c; it gives no numbers).

    * ``max_opening_m`` (L4): largest opening between the finger inner faces.
    * ``finger_width_m``: finger thickness along the opening direction.
    * ``finger_depth_m``: finger size across the opening direction (the jaw; ImageGrasp.jaw).
    * ``finger_length_m`` (L3): how far the fingertips reach below the palm, i.e. the
      deepest grasp below the top of the object between the fingers.
    * ``width_tolerance_m``: added to the contact opening (paper: 0.005 m).
    """

    max_opening_m: float = 0.08
    finger_width_m: float = 0.01
    finger_depth_m: float = 0.02
    finger_length_m: float = 0.04
    width_tolerance_m: float = 0.01

    def __post_init__(self):
        for name in ("max_opening_m", "finger_width_m", "finger_depth_m", "finger_length_m"):
            _check_pos(f"GripperSpec.{name}", getattr(self, name))
        _check_pos("GripperSpec.width_tolerance_m", self.width_tolerance_m, allow_zero=True)
        if self.width_tolerance_m >= self.max_opening_m:
            raise ValueError(f"GripperSpec.width_tolerance_m ({self.width_tolerance_m}) must be "
                             f"< max_opening_m ({self.max_opening_m})")


WIDTH_MODES = ("symmetric", "contacts")


@dataclass(frozen=True)
class LabelParams:
    """Label-generation settings ("paper" = value given in PLGP; "ours" = not in the paper).

    * ``n_angles``: K angle classes (paper: 18).
    * ``mu``: friction coefficient; friction-cone half-angle ``arctan(mu)`` (paper: 0.2).
    * ``depth_step_m``: grasp-depth sampling interval g (paper: 0.002).
    * ``min_depth_below_top_m``: fingertips must reach this far below the highest point of
      the object between them (ours: 0.01; must be <= finger_length_m).
    * ``flatness_tol_m``: max RMS residual of the plane fit to a contact area (ours: 0.002;
      the paper thresholds the variance without giving a value).
    * ``contact_band_m``: how far into the object, from the contact, the contact area
      ``Omega`` extends (ours: 0.005).
    * ``contact_tol_m``: surface points within this distance of the outermost contact touch
      the finger pad (ours: 0.002; at least one pixel).
    * ``min_contact_fraction``: fraction of jaw rows that must have surface in the contact
      band, per side (ours: 0.5; 0 disables).
    * ``wall_slope``: a depth step steeper than this (rise/run; 3 = 72 deg) is a vertical
      wall with a horizontal normal (ours).
    * ``width_mode``: ``"symmetric"`` (gripper centred on the pixel) or ``"contacts"``
      (opening = distance between contacts + tolerance); see the module docstring.
    * ``same_object``: require both fingers to touch the grasp pixel's object id.
    * ``invalid_as_obstacle``: NaN/non-positive depth is an obstacle (True, conservative) or
      free space (False). Outside the image is treated the same way.
    * ``stride_px``: evaluate every ``stride_px``-th row and column only (1 = every pixel).
    * ``parallel_projection``: run the search on the paper's parallel (orthographic) depth
      image built from the camera image (True, default; see "Parallel depth image" in the
      module docstring), or directly on the perspective image with the local ``f / z``
      approximation (False: the behaviour before the parallel image was added).
    """

    n_angles: int = 18
    mu: float = 0.2
    depth_step_m: float = 0.002
    min_depth_below_top_m: float = 0.01
    flatness_tol_m: float = 0.002
    contact_band_m: float = 0.005
    contact_tol_m: float = 0.002
    min_contact_fraction: float = 0.5
    wall_slope: float = 3.0
    width_mode: str = "symmetric"
    same_object: bool = True
    invalid_as_obstacle: bool = True
    stride_px: int = 1
    parallel_projection: bool = True

    def __post_init__(self):
        _check_int("LabelParams.n_angles", self.n_angles, 1)
        _check_int("LabelParams.stride_px", self.stride_px, 1)
        _check_pos("LabelParams.mu", self.mu, allow_zero=True)
        for name in ("depth_step_m", "flatness_tol_m", "contact_band_m", "wall_slope"):
            _check_pos(f"LabelParams.{name}", getattr(self, name))
        for name in ("min_depth_below_top_m", "contact_tol_m"):
            _check_pos(f"LabelParams.{name}", getattr(self, name), allow_zero=True)
        frac = _check_pos("LabelParams.min_contact_fraction", self.min_contact_fraction,
                          allow_zero=True)
        if frac > 1:
            raise ValueError(f"LabelParams.min_contact_fraction must be in [0, 1], got {frac}")
        if self.width_mode not in WIDTH_MODES:
            raise ValueError(f"LabelParams.width_mode must be one of {WIDTH_MODES}, "
                             f"got {self.width_mode!r}")
        for name in ("same_object", "invalid_as_obstacle", "parallel_projection"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"LabelParams.{name} must be a bool, got {getattr(self, name)!r}")


@dataclass
class LabelResult:
    """Labels of one depth image.

    * ``grasps``: one ImageGrasp per positive ``(pixel, angle)``, ordered by angle class
      then row-major pixel; camera pixels (also with the parallel image);
      ``width``/``jaw`` in pixels at the pixel's depth, quality 1.0.
    * ``positive``: ``(K, H, W)`` bool.
    * ``width_m``: ``(K, H, W)`` float32 opening in metres (0 where not positive).
    * ``approach_m``: ``(K, H, W)`` float32 fingertip depth below the pixel's surface point,
      the paper's ``d`` (eq. 8) (0 where not positive).
    * ``reject``: ``(K, H, W)`` uint8 :class:`Reject` flags (0 where positive).
    * ``angles``: ``(K,)`` the class angles (radians, see :func:`angle_classes`).
    """

    grasps: list
    positive: np.ndarray
    width_m: np.ndarray
    approach_m: np.ndarray
    reject: np.ndarray
    angles: np.ndarray = field(repr=False)

    @property
    def n_candidates(self) -> int:
        """Number of evaluated pixels."""
        return int(np.count_nonzero(self.reject[0] != Reject.NOT_EVALUATED)) \
            if self.reject.shape[0] else 0


def angle_classes(n_angles: int) -> np.ndarray:
    """Angle of each class: the centre of bin ``k`` of ``angle_to_bin(., n_angles)``."""
    n = _check_int("n_angles", n_angles, 1)
    return -np.pi / 2 + (np.arange(n) + 0.5) * np.pi / n


def _axis_scales(theta: float, fx: float, fy: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Focal lengths (px per metre at unit depth) along and across the opening direction,
    and the metric unit vectors of those directions in camera (X, Y)."""
    c, s = math.cos(theta), math.sin(theta)
    # image direction (c, -s) px is (c/fx, -s/fy) metres per unit depth
    along = np.array([c / fx, -s / fy])
    across = np.array([s / fx, c / fy])
    f_along = 1.0 / float(np.linalg.norm(along))
    f_across = 1.0 / float(np.linalg.norm(across))
    a_m = along * f_along
    b_m = np.array([-a_m[1], a_m[0]])  # metric perpendicular (a rotated +90 deg, v down)
    return f_along, f_across, a_m, b_m


def _surface_normals(depth: np.ndarray, valid: np.ndarray, fx: float, fy: float,
                     wall_slope: float, scale_depth: float | None = None) -> np.ndarray:
    """Outward unit normals ``(3, H, W)`` in camera axes (X right, Y down, Z away).

    A pixel spans ``z / f`` metres with ``z`` its own depth (perspective image), or
    ``scale_depth / f`` everywhere when given (parallel image)."""
    fill = float(np.max(depth[valid])) if valid.any() else 1.0
    d = np.where(valid, depth, fill).astype(np.float32)
    z = d if scale_depth is None else np.float32(scale_depth)
    # Sobel 3x3 / 8 = depth change per pixel, with some smoothing across the edge direction
    gx = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
    gy = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
    sx = gx * fx / z  # dz/dX (1 px = z/f metres)
    sy = gy * fy / z
    k = np.ones((3, 3), np.uint8)
    step = np.maximum(cv2.dilate(d, k, borderType=cv2.BORDER_REPLICATE) - d,
                      d - cv2.erode(d, k, borderType=cv2.BORDER_REPLICATE))
    wall = step * max(fx, fy) / z > wall_slope
    # The surface is z = f(X, Y) with material behind it, so the outward normal is
    # (f_X, f_Y, -1): it leans towards increasing depth, i.e. away from the object's top.
    nz = np.where(wall, 0.0, -1.0).astype(np.float32)
    norm = np.sqrt(sx * sx + sy * sy + nz * nz)
    norm[norm == 0] = 1.0
    return np.stack([sx / norm, sy / norm, nz / norm])


@dataclass
class _ParallelView:
    """The parallel depth image (paper eq. 11 with ``eta = f / z_ref`` per axis): cell
    ``(c, r) = ((x f_x / z_ref) + c_x, (y f_y / z_ref) + c_y)`` holds the smallest depth of
    the camera points over it. ``depth`` is NaN where unknown (see :func:`_parallel_view`)."""

    depth: np.ndarray
    ids: np.ndarray
    z_ref: float


def _to_grid(u, v, z, cx: float, cy: float, z_ref: float, h: int, w: int):
    """Parallel-image cell of the camera pixel ``(u, v)`` at depth ``z`` (eqs. 12 + 13)."""
    t = z / z_ref
    gc = np.clip(np.rint((u - cx) * t + cx), 0, w - 1).astype(np.int64)
    gr = np.clip(np.rint((v - cy) * t + cy), 0, h - 1).astype(np.int64)
    return gc, gr


def _parallel_view(depth, valid, ids, fx: float, fy: float, cx: float, cy: float,
                   wall_slope: float) -> _ParallelView:
    """Rasterise the camera points into a parallel depth image of the camera's size.

    * Scale: ``z_ref`` = the farthest valid depth (normally the table), so a pixel of the
      parallel image is the camera pixel's footprint at ``z_ref`` and every point lands
      inside the same ``H x W`` canvas, centred on ``(cx, cy)``; nearer surfaces are covered
      by more points than cells, so visible surfaces have no holes.
    * z-buffer: the nearest point per cell wins (and brings its object id).
    * Walls seen obliquely: a side wall of an object off the optical axis faces the
      principal point and its top edge lies radially outward of it, often between two
      camera samples (a wall one camera pixel wide is seen at mid height). Each pixel whose
      radially-outward neighbour (along u, along v or diagonally) has the same id, is nearer
      and rises steeper than ``wall_slope``, while its inward neighbour falls away as steeply
      (so it is on the wall, not at the bottom of a groove), is also splatted at the outward
      neighbour's depth: under the
      vertical-wall assumption the top of the wall stands over the wall's own cell, so the
      object's edge is solid up to where the wall is, not one cell short of it.
    * Cells no camera ray reaches as a valid point stay empty. Those crossed by the ray of
      an invalid pixel (sampled between the nearest and farthest valid depth) are unknown
      (NaN: later treated like invalid depth, ``invalid_as_obstacle``). The others are
      occlusion shadows (beside the far side of an object off the optical axis, or gaps on
      surfaces the camera sees foreshortened); a shadow is always radially outward of its
      occluder, so it is filled with the first filled cell found marching radially outward
      from the principal point: the surface the grazing ray lands on, i.e. hidden walls are
      assumed vertical, as the paper's simulator-rendered parallel image shows them for
      prismatic objects. A march that leaves the canvas or meets an unknown cell leaves the
      cell unknown (as outside the image in the perspective mode).
    """
    h, w = depth.shape
    vv, uu = np.nonzero(valid)
    z = depth[vv, uu].astype(np.float64)
    pid_pts = ids[vv, uu]
    z_ref, z_lo = float(z.max()), float(z.min())
    us, vs, zs, idl = [uu], [vv], [z], [pid_pts]
    xp, yp = (uu - cx) * z / fx, (vv - cy) * z / fy
    su = np.sign(np.rint(uu - cx)).astype(np.int64)
    sv = np.sign(np.rint(vv - cy)).astype(np.int64)
    for du, dv in ((su, 0), (0, sv), (su, sv)):
        qu, qv = uu + du, vv + dv
        inside = (qu >= 0) & (qu < w) & (qv >= 0) & (qv < h)
        qu, qv = np.where(inside, qu, 0), np.where(inside, qv, 0)
        zq = depth[qv, qu].astype(np.float64)
        ok = inside & valid[qv, qu] & (ids[qv, qu] == pid_pts) & (zq < z)
        hd = np.hypot((qu - cx) * zq / fx - xp, (qv - cy) * zq / fy - yp)
        ok &= (z - zq) > wall_slope * hd
        # ... and the pixel itself is on the wall: the surface keeps falling steeply inwards
        # (not the floor of a groove, whose inward neighbour is level with it)
        iu, iv = uu - du, vv - dv
        inside = (iu >= 0) & (iu < w) & (iv >= 0) & (iv < h)
        iu, iv = np.where(inside, iu, 0), np.where(inside, iv, 0)
        zi = depth[iv, iu].astype(np.float64)
        hi = np.hypot((iu - cx) * zi / fx - xp, (iv - cy) * zi / fy - yp)
        ok &= inside & valid[iv, iu] & ((zi - z) > wall_slope * hi)
        us.append(uu[ok]); vs.append(vv[ok]); zs.append(zq[ok]); idl.append(pid_pts[ok])
        # the splatted point sits over the wall pixel's own (x, y)
        zs[-1] = zq[ok]
        us[-1] = (uu[ok] - cx) * z[ok] / zq[ok] + cx
        vs[-1] = (vv[ok] - cy) * z[ok] / zq[ok] + cy
    pu, pv_, pz, pids_all = (np.concatenate(a) for a in (us, vs, zs, idl))
    gc, gr = _to_grid(pu, pv_, pz, cx, cy, z_ref, h, w)
    flat = gr * w + gc
    z = pz
    order = np.lexsort((z, flat))
    fs = flat[order]
    first = np.ones(fs.size, bool)
    first[1:] = fs[1:] != fs[:-1]
    win = order[first]
    pd = np.full(h * w, np.nan, np.float32)
    pid = np.zeros(h * w, np.int32)
    pd[flat[win]] = z[win]
    pid[flat[win]] = pids_all[win]
    pd, pid = pd.reshape(h, w), pid.reshape(h, w)
    filled = np.isfinite(pd)

    unknown = np.zeros((h, w), bool)
    bv, bu = np.nonzero(~valid)
    if bv.size:
        span = float(max(np.abs(bu - cx).max(), np.abs(bv - cy).max())) * (1 - z_lo / z_ref)
        for t in np.linspace(z_lo, z_ref, int(math.ceil(2 * span)) + 2):
            c, r = _to_grid(bu, bv, t, cx, cy, z_ref, h, w)
            unknown[r, c] = True
        unknown &= ~filled

    ey, ex = np.nonzero(~filled & ~unknown)
    if ey.size:
        dx, dy = ex - cx, ey - cy
        rad = np.hypot(dx, dy)
        far = rad > 0.5
        ux = np.where(far, dx / np.where(far, rad, 1.0), 1.0)
        uy = np.where(far, dy / np.where(far, rad, 1.0), 0.0)
        kmax = int(math.ceil(math.hypot(max(cx, w - 1 - cx), max(cy, h - 1 - cy))
                             * (1 - z_lo / z_ref))) + 3
        pending = np.arange(ey.size)
        for k in range(1, kmax + 1):
            px = np.rint(ex[pending] + k * ux[pending]).astype(np.int64)
            py = np.rint(ey[pending] + k * uy[pending]).astype(np.int64)
            inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            px, py = np.where(inside, px, 0), np.where(inside, py, 0)
            hit = inside & filled[py, px]
            tgt = pending[hit]
            pd[ey[tgt], ex[tgt]] = pd[py[hit], px[hit]]
            pid[ey[tgt], ex[tgt]] = pid[py[hit], px[hit]]
            pending = pending[~(hit | ~inside | unknown[py, px])]
            if pending.size == 0:
                break
    return _ParallelView(pd, pid, z_ref)


def _rotation(theta: float, h: int, w: int, margin: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Affine map taking the opening direction ``(cos, -sin)`` to ``+x`` (the jaw to ``+y``),
    onto a canvas holding the whole image plus ``margin`` pixels all round."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    wc = int(math.ceil(abs(w * c) + abs(h * s))) + 2 * margin
    hc = int(math.ceil(abs(w * s) + abs(h * c))) + 2 * margin
    src_c = np.array([(w - 1) / 2, (h - 1) / 2])
    dst_c = np.array([(wc - 1) / 2, (hc - 1) / 2])
    return np.hstack([rot, (dst_c - rot @ src_c)[:, None]]), (wc, hc)


def _warp(img: np.ndarray, affine: np.ndarray, size: tuple[int, int], border: float) -> np.ndarray:
    return cv2.warpAffine(img, affine, size, flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=float(border))


def _plane_rms(mask: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """RMS residual of the least-squares plane ``z = a + b x + c y`` through the masked
    points of each batch row; inputs broadcast to ``(n, R, B)``. Fewer than 3 points -> 0."""
    wgt = mask.astype(np.float64)
    x, y, z = (np.broadcast_to(a, mask.shape).astype(np.float64) for a in (x, y, z))
    n = wgt.sum(axis=(1, 2))
    safe = np.maximum(n, 1.0)
    mean = [(wgt * a).sum(axis=(1, 2)) / safe for a in (x, y, z)]
    dx, dy, dz = (a - m[:, None, None] for a, m in zip((x, y, z), mean))
    sxx, syy, sxy = ((wgt * p * q).sum(axis=(1, 2)) for p, q in ((dx, dx), (dy, dy), (dx, dy)))
    sxz, syz, szz = ((wgt * p * dz).sum(axis=(1, 2)) for p in (dx, dy, dz))
    # a small ridge keeps degenerate (collinear) point sets solvable: they fit a line
    ridge = 1e-12 * (sxx + syy) + 1e-18
    a11, a22 = sxx + ridge, syy + ridge
    det = a11 * a22 - sxy * sxy
    bx = (a22 * sxz - sxy * syz) / det
    by = (a11 * syz - sxy * sxz) / det
    ss = np.maximum(szz - bx * sxz - by * syz, 0.0)
    return np.where(n >= 3, np.sqrt(ss / safe), 0.0)


class _AngleImages:
    """Rotated inputs for one angle; jaw-eroded profiles are built on demand per jaw size."""

    def __init__(self, drot, nrot, irot):
        self.drot, self.nrot, self.irot = drot, nrot, irot
        self._eroded: dict[int, np.ndarray] = {}

    def eroded(self, hj: int) -> np.ndarray:
        if hj not in self._eroded:
            kernel = np.ones((2 * hj + 1, 1), np.uint8)
            self._eroded[hj] = cv2.erode(self.drot, kernel) if hj else self.drot
        return self._eroded[hj]


def _evaluate(imgs: _AngleImages, xc, yc, z0, cid, s_a, s_j, gripper: GripperSpec,
              params: LabelParams, n_half: int, hj_max: int, band_max: int):
    """Check one batch of candidates at one angle.

    Returns (positive, width_m, approach_m, reject flags) per candidate."""
    n = xc.size
    g = gripper
    jj = np.arange(-n_half, n_half + 1)
    hj = np.clip(np.round((g.finger_depth_m * s_j - 1) / 2), 0, hj_max).astype(np.int64)
    fw = np.maximum(g.finger_width_m * s_a, 1.0)  # a finger always covers >= 1 pixel

    prof = np.empty((n, jj.size), np.float32)
    for h in np.unique(hj):
        sel = hj == h
        prof[sel] = imgs.eroded(int(h))[yc[sel, None], xc[sel, None] + jj]
    # nearest-neighbour rotation may move the centre by a pixel: the grasp point itself
    # is always material at its own depth
    prof[:, n_half] = np.minimum(prof[:, n_half], z0)

    stage = np.zeros(n, np.int8)          # best geometric stage reached at any level
    ok_any = np.zeros(n, bool)
    z_sel = np.zeros(n)
    jl_sel = np.zeros(n, np.int64)
    jr_sel = np.zeros(n, np.int64)
    w_sel = np.zeros(n)
    n_levels = int(math.floor(g.finger_length_m / params.depth_step_m + 1e-9))
    sym = params.width_mode == "symmetric"
    for k in range(1, n_levels + 1):
        z = z0 + k * params.depth_step_m
        free = prof >= z[:, None]
        fr = free[:, n_half + 1:]
        fl = free[:, n_half - 1::-1]
        jr = fr.argmax(axis=1)            # last material column right of the centre
        jl = -fl.argmax(axis=1)           # ... and left of it
        contact = ~free[:, n_half] & fr.any(axis=1) & fl.any(axis=1)
        d_left = (0.5 - jl) / s_a         # metres from the centre to each contact face
        d_right = (jr + 0.5) / s_a
        if sym:
            half = np.maximum(d_left, d_right) + g.width_tolerance_m / 2
            face_l, face_r, width = -half, half, 2 * half
        else:
            face_l = -(d_left + g.width_tolerance_m / 2)
            face_r = d_right + g.width_tolerance_m / 2
            width = face_r - face_l
        width_ok = contact & (width <= g.max_opening_m + _EPS)
        lf = (face_l * s_a)[:, None]
        rf = (face_r * s_a)[:, None]
        fwc = fw[:, None]
        in_fingers = ((jj >= lf - fwc) & (jj <= lf)) | ((jj >= rf) & (jj <= rf + fwc))
        collide = (in_fingers & ~free).any(axis=1)
        run = (jj >= jl[:, None]) & (jj <= jr[:, None])
        z_top = np.where(run, prof, np.inf).min(axis=1)
        below = z - z_top
        depth_ok = (below <= g.finger_length_m + _EPS) & \
            (below >= params.min_depth_below_top_m - _EPS)
        st = np.where(width_ok, np.where(collide, 1, np.where(depth_ok, 3, 2)), 0)
        stage = np.maximum(stage, st.astype(np.int8))
        ok = st == 3
        # levels go deeper each time, so the last passing level is the deepest grasp
        ok_any |= ok
        z_sel = np.where(ok, z, z_sel)
        jl_sel = np.where(ok, jl, jl_sel)
        jr_sel = np.where(ok, jr, jr_sel)
        w_sel = np.where(ok, width, w_sel)

    flags = np.select([stage == 0, stage == 1, stage == 2], [int(Reject.NO_CONTACT),
                      int(Reject.COLLISION), int(Reject.DEPTH)], 0).astype(np.uint8)
    idx = np.nonzero(ok_any)[0]
    if idx.size:
        flags[idx] = _surface_checks(imgs, xc[idx], yc[idx], z_sel[idx], jl_sel[idx],
                                     jr_sel[idx], cid[idx], s_a[idx], s_j[idx], hj[idx],
                                     params, hj_max, band_max)
    positive = flags == 0
    return positive, np.where(positive, w_sel, 0.0), np.where(positive, z_sel - z0, 0.0), flags


def _surface_checks(imgs: _AngleImages, xc, yc, z, jl, jr, cid, s_a, s_j, hj,
                    params: LabelParams, hj_max: int, band_max: int) -> np.ndarray:
    """Flatness, contact area, friction cone and same-object checks at the chosen level."""
    rows_off = np.arange(-hj_max, hj_max + 1)
    bb = np.arange(band_max)
    band = np.clip(np.round(params.contact_band_m * s_a), 1, band_max)
    touch_b = np.floor(params.contact_tol_m * s_a + 1e-6)  # band index still "touching"
    row_ok = np.abs(rows_off)[None, :] <= hj[:, None]                 # (n, R)
    in_band = bb[None, :] < band[:, None]                              # (n, B)
    rows = (yc[:, None] + rows_off)[:, :, None]                        # (n, R, 1)
    cos_cone = math.cos(math.atan(params.mu))
    flags = np.zeros(xc.size, np.uint8)
    n_rows = 2 * hj + 1
    for sign, start in ((-1, jl), (1, jr)):
        # columns from the contact inwards: left contact looks right, right contact left
        cols = (xc + start)[:, None] - sign * bb[None, :]              # (n, B)
        cols = cols[:, None, :]
        dwin = imgs.drot[rows, cols]
        mat = (dwin < z[:, None, None]) & row_ok[:, :, None] & in_band[:, None, :]
        # flatness of the contact area (paper eq. 14), plane fit in metres
        rms = _plane_rms(mat, (bb / s_a[:, None])[:, None, :],
                         (rows_off / s_j[:, None])[:, :, None], dwin)
        flags[rms > params.flatness_tol_m] |= np.uint8(Reject.FLATNESS)
        row_has = mat.any(axis=2)
        frac = row_has.sum(axis=1) / n_rows
        flags[frac < params.min_contact_fraction - _EPS] |= np.uint8(Reject.CONTACT_AREA)
        # touching points: each row's outermost surface pixel, if near the contact
        first = mat.argmax(axis=2)                                     # (n, R)
        touching = row_has & (first <= touch_b[:, None])
        tcols = np.take_along_axis(cols[:, 0, :], first, axis=1)       # (n, R)
        trows = rows[:, :, 0]
        normal = imgs.nrot[:, trows, tcols] * touching                # (3, n, R)
        mean = normal.sum(axis=2)
        count = touching.sum(axis=1)
        norm = np.linalg.norm(mean, axis=0)
        # the outward normal must face this side's finger: -x on the left, +x on the right
        cos_axis = np.where(norm > 0, sign * mean[0] / np.where(norm > 0, norm, 1.0), -1.0)
        flags[(count == 0) | (cos_axis < cos_cone - _EPS)] |= np.uint8(Reject.FRICTION)
        if params.same_object:
            ids = imgs.irot[trows, tcols]
            other = (touching & (ids != cid[:, None])).any(axis=1)
            flags[other] |= np.uint8(Reject.OTHER_OBJECT)
    return flags


def _as_2d(name: str, arr, shape=None) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have the depth image's shape {shape}, got {a.shape}")
    return a


def _ids_of(name: str, arr, shape) -> np.ndarray:
    a = _as_2d(name, arr, shape)
    if a.dtype == bool:
        return a.astype(np.int32)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be a bool mask or integer object ids, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() > 2 ** 24):
        raise ValueError(f"{name} ids must be in [0, 2**24], got range [{a.min()}, {a.max()}]")
    return a.astype(np.int32)


def generate_labels(depth_m, fx: float, fy: float, cx: float, cy: float, object_mask,
                    gripper: GripperSpec | None = None, params: LabelParams | None = None,
                    candidates=None) -> LabelResult:
    """Dense grasp labels for one depth image (see the module docstring).

    ``depth_m``: ``(H, W)`` depth in metres along the camera z axis, NaN/<=0 = invalid.
    ``fx, fy, cx, cy``: pinhole intrinsics in pixels. ``object_mask``: ``(H, W)`` bool or
    integer object ids (0 = background). ``candidates``: optional ``(H, W)`` bool of pixels
    to evaluate (default: the object pixels); ``params.stride_px`` thins either.
    """
    gripper = GripperSpec() if gripper is None else gripper
    params = LabelParams() if params is None else params
    if not isinstance(gripper, GripperSpec):
        raise ValueError(f"gripper must be a GripperSpec, got {type(gripper).__name__}")
    if not isinstance(params, LabelParams):
        raise ValueError(f"params must be a LabelParams, got {type(params).__name__}")
    if params.min_depth_below_top_m > gripper.finger_length_m:
        raise ValueError(f"params.min_depth_below_top_m ({params.min_depth_below_top_m}) must "
                         f"be <= gripper.finger_length_m ({gripper.finger_length_m})")
    depth = _as_2d("depth_m", depth_m)
    if not (np.issubdtype(depth.dtype, np.floating) or np.issubdtype(depth.dtype, np.integer)):
        raise ValueError(f"depth_m must be a numeric array, got dtype {depth.dtype}")
    depth = depth.astype(np.float32)
    fx, fy = _check_pos("fx", fx), _check_pos("fy", fy)
    for name, val in (("cx", cx), ("cy", cy)):
        if isinstance(val, bool) or not isinstance(val, (int, float, np.integer, np.floating)) \
                or not math.isfinite(val):
            raise ValueError(f"{name} must be a finite number, got {val!r}")
    h, w = depth.shape
    ids = _ids_of("object_mask", object_mask, depth.shape)
    valid = np.isfinite(depth) & (depth > 0)
    if candidates is None:
        cand = ids != 0
    else:
        c = _as_2d("candidates", candidates, depth.shape)
        if c.dtype != bool:
            raise ValueError(f"candidates must be a bool mask, got dtype {c.dtype}")
        cand = c.copy()
    cand &= valid
    if params.stride_px > 1:
        grid = np.zeros_like(cand)
        grid[::params.stride_px, ::params.stride_px] = True
        cand &= grid

    angles = angle_classes(params.n_angles)
    kk = params.n_angles
    positive = np.zeros((kk, h, w), bool)
    width_m = np.zeros((kk, h, w), np.float32)
    approach = np.zeros((kk, h, w), np.float32)
    reject = np.full((kk, h, w), int(Reject.NOT_EVALUATED), np.uint8)
    vs, us = np.nonzero(cand)
    if vs.size == 0:
        return LabelResult([], positive, width_m, approach, reject, angles)

    z_cam = depth[vs, us].astype(np.float64)
    if params.parallel_projection:
        # Search on the parallel depth image: each candidate camera pixel is deprojected
        # (eq. 12) to its cell (eq. 13); the cell's top surface is the grasp centre. A pixel
        # deeper than its cell's top by more than a wall's rise over one cell is on a surface
        # hidden from above (a side wall seen obliquely): a top-down grasp cannot be centred
        # on it, so it is not evaluated.
        pv = _parallel_view(depth, valid, ids, fx, fy, cx, cy, params.wall_slope)
        gc, gr = _to_grid(us, vs, z_cam, cx, cy, pv.z_ref, h, w)
        top = pv.depth[gr, gc].astype(np.float64)
        seen = z_cam <= top + params.wall_slope * pv.z_ref / min(fx, fy) + 1e-6
        vs, us, z_cam, gc, gr = vs[seen], us[seen], z_cam[seen], gc[seen], gr[seen]
        cells, inverse = np.unique(gr * w + gc, return_inverse=True)
        inverse = inverse.reshape(-1)
        yg, xg = np.divmod(cells, w)
        gvalid = np.isfinite(pv.depth)
        gdepth, gids = np.where(gvalid, pv.depth, 0).astype(np.float32), pv.ids
        z0_all = gdepth[yg, xg].astype(np.float64)
        cid_all = gids[yg, xg]
        zs_all = np.full(cells.size, pv.z_ref)      # metres per pixel: z_ref / f everywhere
        scale_depth = pv.z_ref
    else:
        gdepth, gvalid, gids = depth, valid, ids
        xg, yg = us, vs
        inverse = np.arange(vs.size)
        z0_all = zs_all = z_cam
        cid_all = ids[vs, us]
        scale_depth = None
    if vs.size == 0:
        return LabelResult([], positive, width_m, approach, reject, angles)

    sentinel = np.float32(0.0) if params.invalid_as_obstacle else _FAR
    dfill = np.where(gvalid, gdepth, sentinel).astype(np.float32)
    normals = _surface_normals(gdepth, gvalid, fx, fy, params.wall_slope, scale_depth)
    idsf = gids.astype(np.float32)  # exact up to 2**24; warpAffine has no int32 nearest path
    # window sizes from the largest pixel scale (shallowest candidate)
    f_max = max(fx, fy) / float(zs_all.min())
    n_half = int(math.ceil((gripper.max_opening_m / 2 + gripper.finger_width_m) * f_max)) + 2
    hj_max = int(math.ceil(gripper.finger_depth_m * f_max / 2)) + 1
    band_max = int(max(math.ceil(params.contact_band_m * f_max), 1)) + 1
    margin = n_half + hj_max + band_max + 2

    out_grasps: list[ImageGrasp] = []
    n = z0_all.size
    for k, theta in enumerate(angles):
        affine, size = _rotation(theta, h, w, margin)
        f_a, f_j, a_m, b_m = _axis_scales(theta, fx, fy)
        n_along = normals[0] * a_m[0] + normals[1] * a_m[1]
        n_across = normals[0] * b_m[0] + normals[1] * b_m[1]
        nrot = np.stack([_warp(np.ascontiguousarray(ch, np.float32), affine, size, 0.0)
                         for ch in (n_along, n_across, normals[2])])
        imgs = _AngleImages(_warp(dfill, affine, size, float(sentinel)), nrot,
                            _warp(idsf, affine, size, -1.0))
        rx = affine[0, 0] * xg + affine[0, 1] * yg + affine[0, 2]
        ry = affine[1, 0] * xg + affine[1, 1] * yg + affine[1, 2]
        xc_all = np.rint(rx).astype(np.int64)
        yc_all = np.rint(ry).astype(np.int64)
        pos_c = np.empty(n, bool)
        wm_c = np.empty(n)
        app_c = np.empty(n)
        fl_c = np.empty(n, np.uint8)
        for lo in range(0, n, _CHUNK):
            sl = slice(lo, lo + _CHUNK)
            z0 = z0_all[sl]
            pos, wm, app, flags = _evaluate(imgs, xc_all[sl], yc_all[sl], z0, cid_all[sl],
                                            f_a / zs_all[sl], f_j / zs_all[sl], gripper,
                                            params, n_half, hj_max, band_max)
            pos_c[sl], wm_c[sl], app_c[sl], fl_c[sl] = pos, wm, app, flags
        # back to the camera pixels (identity in the perspective mode)
        pos = pos_c[inverse]
        positive[k, vs, us] = pos
        width_m[k, vs, us] = wm_c[inverse]
        # fingertip depth below the camera pixel's own surface point (exactly the old value
        # in the perspective mode, where the offset is 0)
        approach[k, vs, us] = np.where(pos, app_c[inverse] + (z0_all[inverse] - z_cam), 0.0)
        reject[k, vs, us] = fl_c[inverse]
        sel = np.nonzero(pos)[0]
        jaw = gripper.finger_depth_m * f_j / z_cam[sel]
        wpx = width_m[k, vs[sel], us[sel]].astype(np.float64) * f_a / z_cam[sel]
        out_grasps.extend(ImageGrasp(u=float(u), v=float(v), angle=float(theta), width=float(wp),
                                     jaw=float(jw), quality=1.0, angle_bin=k)
                          for u, v, wp, jw in zip(us[sel], vs[sel], wpx, jaw))
    return LabelResult(out_grasps, positive, width_m, approach, reject, angles)

def subsample(grasps, max_count: int, rng=None) -> list:
    """At most ``max_count`` grasps drawn uniformly without replacement, in their original
    order. ``rng``: a ``numpy.random.Generator``, an int seed, or None (fresh, unseeded)."""
    max_count = _check_int("max_count", max_count, 0)
    grasps = list(grasps)
    if len(grasps) <= max_count:
        return grasps
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, an int seed or None, got {rng!r}")
    keep = np.sort(rng.choice(len(grasps), size=max_count, replace=False))
    return [grasps[i] for i in keep]
