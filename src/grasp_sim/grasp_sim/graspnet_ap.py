"""GraspNet-1Billion's analytic AP (Fang et al., CVPR 2020, section 3.4), as plain numpy.

A grasp is scored without executing it: the simplified gripper must not collide with the scene and
must enclose some of it, and the two contacts its fingers make when closing must be force closure at
friction ``mu``. Precision@k is the share of the top-k ranked grasps that pass; APmu is its mean over
k = 1..50; AP is the mean of APmu over mu = 0.2, 0.4, ..., 1.0. The scene side (object points, contact
rays) is :mod:`grasp_sim.scene_geometry`; this module only does the arithmetic, so it is tested on
hand-made points, contacts and ranked lists.

Grasp frame (``grasp_perception.geometry``'s): x = closing direction, y = along the jaw (GraspNet's
"height"), z = approach; the origin is the grasp point (on the surface the camera saw), and the
fingertips reach ``depth`` past it along z. GraspNet writes the same gripper with x = approach and
y = closing; the regions below are its ``collision_detection`` ones in our axes.

Where this departs from the paper, or the paper defers to its supplement or code (graspnetAPI):

- the friction coefficients are the paper's 0.2..1.0; graspnetAPI also averages 1.2 into AP;
- a grasp is positive at ``mu`` when its *required* friction ``tan(max contact angle)`` is <= ``mu``:
  the same as graspnetAPI's quantised score ``0 < s <= mu`` at the listed coefficients;
- pose-NMS uses graspnetAPI's 3 cm / 30 deg, and a grasp turned 180 deg about its approach is the same
  grasp (a parallel-jaw gripper is symmetric); graspnetAPI compares the rotations as they are;
- contacts come from rays along the closing line at fingertip depth, from each open fingertip towards
  the other (Dex-Net's line of action), on the object the grasp is assigned to.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GripperBox", "gripper_checks", "required_friction", "pose_nms", "top_per_object",
           "precision_at_k", "graspnet_ap", "INVALID"]

INVALID = -1.0  # required friction of a grasp that collides, is empty or finds no force-closure contacts


@dataclass(frozen=True)
class GripperBox:
    """GraspNet's simplified gripper (graspnetAPI ``collision_detection``): two fingers ``finger_width_m``
    thick and ``height_m`` along the jaw, from ``base_depth_m`` behind the grasp point to the fingertip
    depth, joined by a palm plate ``finger_width_m`` thick behind them; a grasp is empty when fewer than
    ``empty_points`` scene points lie between the fingers."""

    height_m: float = 0.02
    finger_width_m: float = 0.01
    base_depth_m: float = 0.02
    empty_points: int = 10


def gripper_checks(points: np.ndarray, R: np.ndarray, t: np.ndarray, width: np.ndarray, depth: np.ndarray,
                   gripper: GripperBox = GripperBox()) -> tuple[np.ndarray, np.ndarray]:
    """(collides, empty) for G grasps against scene ``points`` (N, 3), all in one frame.

    ``R`` (G, 3, 3) frame_R_grasp (columns: closing, jaw, approach), ``t`` (G, 3) grasp points, ``width``
    and ``depth`` (G,) opening and fingertip depth past the grasp point, metres."""
    points, R, t = np.asarray(points, float), np.asarray(R, float), np.asarray(t, float)
    width, depth = np.asarray(width, float).reshape(-1), np.asarray(depth, float).reshape(-1)
    G = len(t)
    # Every gripper part lies within height_m / 2 of the grasp's jaw plane, so the jaw coordinate of every
    # point in every grasp frame comes first (one matrix product, (N, G)); the other two coordinates are
    # needed only for the (point, grasp) pairs inside that slab, a fraction of them.
    jaw_axis = R[:, :, 1]
    y = points @ jaw_axis.T - np.sum(t * jaw_axis, axis=1)
    n, g = np.nonzero(np.abs(y) < gripper.height_m / 2)
    d = points[n] - t[g]
    x = np.abs(np.einsum("pc,pc->p", d, R[g, :, 0]))        # |closing coordinate|: the two fingers alike
    z = np.einsum("pc,pc->p", d, R[g, :, 2])
    half, fw, base = width[g] / 2, gripper.finger_width_m, gripper.base_depth_m
    along_fingers = (z > -base) & (z < depth[g])
    fingers = along_fingers & (x > half) & (x < half + fw)
    palm = (z > -(base + fw)) & (z < -base) & (x < half + fw)
    inner = along_fingers & (x <= half)
    collides = np.bincount(g[fingers | palm], minlength=G) > 0
    return collides, np.bincount(g[inner], minlength=G) < gripper.empty_points


def required_friction(p1, n1, p2, n2):
    """The smallest friction coefficient at which contacts ``p1``, ``p2`` with *outward* surface normals
    ``n1``, ``n2`` are force closure (Dex-Net's two-contact test): the line between them must lie inside both
    friction cones, so mu >= tan of the larger angle between a contact's inward normal and the line to the
    other contact. ``inf`` when a contact faces away from the other, or the two coincide. Arrays ``(..., 3)``
    give an array ``(...)``; single contacts a float."""
    p1, n1, p2, n2 = (np.asarray(a, float) for a in (p1, n1, p2, n2))
    line = p2 - p1
    length = np.linalg.norm(line, axis=-1)
    unit = line / np.maximum(length, 1e-12)[..., None]
    cos1 = np.sum(-n1 * unit, axis=-1) / np.maximum(np.linalg.norm(n1, axis=-1), 1e-12)
    cos2 = np.sum(n2 * unit, axis=-1) / np.maximum(np.linalg.norm(n2, axis=-1), 1e-12)
    worst = np.minimum(cos1, cos2)  # the larger angle
    with np.errstate(divide="ignore"):
        mu = np.tan(np.arccos(np.clip(worst, -1.0, 1.0)))
    mu = np.where((worst <= 0.0) | (length < 1e-9), np.inf, mu)
    return float(mu) if mu.ndim == 0 else mu


def _rotation_angle(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Angle (rad) of Ra^T Rb for Ra (3, 3) against each of Rb (M, 3, 3)."""
    cos = (np.einsum("ij,mij->m", Ra, Rb) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


FLIP = np.diag([-1.0, -1.0, 1.0])  # half a turn about the approach: the same parallel-jaw grasp


def pose_nms(R: np.ndarray, t: np.ndarray, scores: np.ndarray, translation_m: float = 0.03,
             rotation_deg: float = 30.0) -> np.ndarray:
    """Indices of the grasps kept by a greedy pose-NMS, best score first: a grasp is dropped when a kept,
    better one is within ``translation_m`` and ``rotation_deg`` of it (either way round about the
    approach)."""
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    kept: list[int] = []
    limit = np.radians(rotation_deg)
    for i in order:
        if kept:
            k = np.asarray(kept)
            near = np.linalg.norm(t[k] - t[i], axis=1) < translation_m
            if near.any():
                angle = np.minimum(_rotation_angle(R[i], R[k[near]]), _rotation_angle(R[i] @ FLIP, R[k[near]]))
                if (angle < limit).any():
                    continue
        kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def top_per_object(owner: np.ndarray, scores: np.ndarray, per_object: int = 10, top_k: int = 50) -> np.ndarray:
    """graspnetAPI's selection after NMS: the ``per_object`` best grasps of each object they are assigned
    to, then the ``top_k`` best of those; indices, best first."""
    scores = np.asarray(scores, float)
    chosen = []
    for obj in np.unique(owner):
        idx = np.flatnonzero(owner == obj)
        chosen.extend(idx[np.argsort(-scores[idx], kind="stable")[:per_object]].tolist())
    chosen = np.asarray(chosen, dtype=np.int64)
    return chosen[np.argsort(-scores[chosen], kind="stable")][:top_k]


def precision_at_k(required_mu: Sequence[float], frictions: Sequence[float], top_k: int = 50) -> np.ndarray:
    """(top_k, len(frictions)) Precision@k of one scene's ranked grasps (best first), k = 1..top_k.

    A grasp is positive at mu when ``0 <= required_mu <= mu`` (:data:`INVALID` never is). As in
    graspnetAPI, Precision@k divides by k even when fewer than k grasps were given: missing grasps are
    failures."""
    req = np.asarray(required_mu, float)[:top_k]
    mus = np.asarray(frictions, float)
    positive = (req[:, None] >= 0) & (req[:, None] <= mus[None, :])  # (n, F)
    hits = np.zeros((top_k, len(mus)))
    hits[:len(req)] = np.cumsum(positive, axis=0)
    hits[len(req):] = hits[len(req) - 1] if len(req) else 0.0
    return hits / np.arange(1, top_k + 1)[:, None]


def graspnet_ap(scenes_required_mu: Sequence[Sequence[float]], frictions: Sequence[float], top_k: int = 50
                ) -> dict | None:
    """AP over scenes: the mean of each scene's Precision@k matrix, then AP = its mean (over k and over
    ``frictions``), and AP at each mu (``AP_mu``: {"0.2": ...}); None without scenes."""
    if not scenes_required_mu:
        return None
    mean = np.mean([precision_at_k(r, frictions, top_k) for r in scenes_required_mu], axis=0)
    per_mu = mean.mean(axis=0)
    return {"AP": float(per_mu.mean()), "AP_mu": {f"{m:g}": float(a) for m, a in zip(frictions, per_mu)},
            "n_scenes": len(scenes_required_mu), "top_k": top_k}
