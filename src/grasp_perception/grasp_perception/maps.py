"""Ground-truth grasp maps (quality, cos 2θ, sin 2θ, width) from annotated image grasps.

Definition (Prew et al., "Improving robotic grasping with Gaussian grasp maps", eqs. 6-7,
following GG-CNN and ORANGE):

* **Centre third.** For a grasp ``g`` it is the rectangle with the grasp's centre and angle,
  length ``width / 3`` along the opening direction and the full jaw size across.
  ``delta(x, y, g) = 1`` inside it. We use an *exact point-in-rectangle test on pixel centres*
  (pixel ``(row r, col c)`` is the point ``(u=c, v=r)``), not polygon rasterisation; centres
  on the boundary count as inside (1e-9 tolerance, so axis-aligned edges that fall exactly on
  pixel centres do not flicker with rounding).
* **Normalised distance.** In the grasp's own frame, with ``a`` along the opening axis and
  ``b`` along the jaw axis, ``d^2 = (a / (width/6))^2 + (b / (jaw/2))^2``: the centre third's
  half-extents are 1. This is how the authors' code evaluates the Gaussian on a ``[-1, 1]^2``
  grid over the rectangle.
* **The sigma convention is the paper's tables'**: ``G = exp(-d^2 / sigma)``, the authors' code
  (``--gaussian g``: ``exp(-(x^2 + y^2) / g)``). Eqs. 6-7 write ``G`` as a ratio of normal
  densities, ``N(d, s^2) / N(0, s^2) = exp(-d^2 / (2 s^2))``; the two agree only at
  ``sigma = 0.5`` (``s = 0.5``), so a table row "sigma = 1" is ``exp(-d^2)`` here, not
  ``exp(-d^2 / 2)``. In general ``sigma = 2 s^2``.
* ``kind="binary"``: ``Q = max_g delta``.
  ``kind="soft"`` (eq. 6, ORANGE): ``Q = max_g delta * max(G, 0.9)``; default ``sigma = 2``,
  which is ORANGE's ``exp(-(x^2 + y^2) / 2)`` ("sigma = 2 according to ORANGE").
  ``kind="strong"`` (eq. 7): ``Q = max_g delta * G``; default ``sigma = 0.5`` (the paper's best).
* **Angle bins.** With ``n_bins`` bins a grasp contributes only to bin
  ``angle_to_bin(g.angle, n_bins)``. Within a bin, ``Q`` is the max over grasps; the angle
  targets ``cos 2θ, sin 2θ`` and the width target come from the grasp with the **smallest
  width** among those covering the pixel (the ORANGE / Prew "smallest-width rule"). Equal
  widths: the grasp that comes **first** in the input list wins (deterministic).
* **Width target** = ``clip(width_px, 0, max_width) / max_width``. The same ``max_width`` must
  be used to de-normalise in post-processing (GR-ConvNet normalised by ``out/2`` but
  de-normalised by 150; a single configured value avoids that bug).
* ``cos``, ``sin`` and ``width`` are 0 wherever ``Q == 0``.
* **Tiny grasps.** A grasp whose centre third contains no pixel centre (sub-pixel rectangles,
  zero width or jaw) would otherwise vanish from the targets; instead it marks the pixel
  nearest its centre (if that pixel is in the image) as a grasp centre (``d = 0``, ``Q = 1``).
"""
from __future__ import annotations

import math
from typing import Iterable, NamedTuple

import numpy as np

from .grasp import ImageGrasp, angle_to_bin

KINDS = ("binary", "soft", "strong")
DEFAULT_SIGMA = {"soft": 2.0, "strong": 0.5}  # the paper's sigma (exp(-d^2 / sigma))
SOFT_FLOOR = 0.9
_EDGE_TOL = 1e-9


class GraspTargets(NamedTuple):
    """Training targets, each a float32 array of shape ``(n_bins, H, W)``."""

    quality: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    width: np.ndarray


def _check_shape(shape) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in shape)
        ok = all(int(x) == x for x in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok or h < 1 or w < 1:
        raise ValueError(f"shape must be (H, W) with positive integers, got {shape!r}")
    return h, w


def grasp_maps(grasps: Iterable[ImageGrasp], shape: tuple[int, int], *, max_width: float, n_bins: int = 1,
               kind: str = "binary", sigma: float | None = None) -> GraspTargets:
    """Ground-truth maps for ``grasps`` on an image of ``shape = (H, W)`` (see module docstring).

    ``sigma`` (the paper's, ``exp(-d^2 / sigma)``) defaults to :data:`DEFAULT_SIGMA` of ``kind`` and is
    ignored for ``kind="binary"``. ``max_width`` has no default: it is the model's width scale, and
    post-processing must use the same value.
    """
    h, w = _check_shape(shape)
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if sigma is None:
        sigma = DEFAULT_SIGMA.get(kind, 1.0)
    if not (isinstance(sigma, (int, float, np.floating)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    if not (isinstance(max_width, (int, float, np.floating)) and math.isfinite(max_width)
            and max_width > 0):
        raise ValueError(f"max_width must be a finite number > 0, got {max_width!r}")
    grasps = list(grasps)
    for i, g in enumerate(grasps):
        if not isinstance(g, ImageGrasp):
            raise ValueError(f"grasps[{i}] must be an ImageGrasp, got {type(g).__name__}")

    n_bins = int(n_bins)
    quality = np.zeros((n_bins, h, w), np.float32)
    cos_map = np.zeros_like(quality)
    sin_map = np.zeros_like(quality)
    width_map = np.zeros_like(quality)
    inv_sigma = 1.0 / float(sigma)

    # Widest first, so narrower grasps overwrite angle/width where they overlap (smallest-width
    # rule); among equal widths the later index is drawn first, so the first listed wins.
    order = sorted(range(len(grasps)), key=lambda i: (-grasps[i].width, -i))
    for i in order:
        g = grasps[i]
        b = angle_to_bin(g.angle, n_bins)
        ca, sa = math.cos(g.angle), math.sin(g.angle)
        half_a, half_b = g.width / 6.0, g.jaw / 2.0
        patch = None
        if half_a > 0 and half_b > 0:
            # Axis-aligned bounding box of the centre third, clipped to the image.
            eu = abs(ca) * half_a + abs(sa) * half_b
            ev = abs(sa) * half_a + abs(ca) * half_b
            c0, c1 = max(math.ceil(g.u - eu - _EDGE_TOL), 0), min(math.floor(g.u + eu + _EDGE_TOL), w - 1)
            r0, r1 = max(math.ceil(g.v - ev - _EDGE_TOL), 0), min(math.floor(g.v + ev + _EDGE_TOL), h - 1)
            if c0 <= c1 and r0 <= r1:
                du = np.arange(c0, c1 + 1, dtype=np.float64)[None, :] - g.u
                dv = np.arange(r0, r1 + 1, dtype=np.float64)[:, None] - g.v
                an = (du * ca - dv * sa) / half_a  # opening direction is (cos, -sin) in (u, v)
                bn = (du * sa + dv * ca) / half_b  # jaw direction is (sin, cos)
                inside = (np.abs(an) <= 1 + _EDGE_TOL) & (np.abs(bn) <= 1 + _EDGE_TOL)
                if inside.any():
                    d2 = an * an + bn * bn
                    patch = (slice(r0, r1 + 1), slice(c0, c1 + 1), inside, d2)
        if patch is None:
            r, c = int(round(g.v)), int(round(g.u))
            if not (0 <= r < h and 0 <= c < w):
                continue
            patch = (slice(r, r + 1), slice(c, c + 1), np.ones((1, 1), bool), np.zeros((1, 1)))
        rows, cols, inside, d2 = patch

        if kind == "binary":
            value = inside.astype(np.float32)
        else:
            gauss = np.exp(-d2 * inv_sigma)
            if kind == "soft":
                gauss = np.maximum(gauss, SOFT_FLOOR)
            value = np.where(inside, gauss, 0.0).astype(np.float32)
        q_view = quality[b, rows, cols]
        np.maximum(q_view, value, out=q_view)
        cos_map[b, rows, cols][inside] = math.cos(2 * g.angle)
        sin_map[b, rows, cols][inside] = math.sin(2 * g.angle)
        width_map[b, rows, cols][inside] = min(g.width, max_width) / max_width

    empty = quality == 0  # also catches strong-map values that underflowed for tiny sigma
    cos_map[empty] = 0
    sin_map[empty] = 0
    width_map[empty] = 0
    return GraspTargets(quality, cos_map, sin_map, width_map)
