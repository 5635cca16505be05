"""6-DoF grasp labels on an object's surface, GraspNet-1Billion's way (section 3.3), for its 6-DoF network.

Grasp points are spread over the object's true shape (:func:`grasp_sim.scene_geometry.object_mesh`); each is
tried with the network's V approach views, A in-plane rotations and D approach depths
(:mod:`grasp_perception.pointcloud.graspnet6dof`: one definition of views and frames for labels and network).
For one grasp (point ``p``, frame ``R``, depth ``d``) the fingertips close along the closing axis on the line
``p + d * approach``:

- the contacts are the outermost surface samples within ``contact_tube`` of that line on either side (what a
  thin finger closing from the open gripper touches first); the gripper is centred on ``p``, so its opening is
  twice the farther contact's distance plus ``width_margin``, and must be at most ``max_width``;
- the score is GraspNet's eq. 2, ``s = 1.1 - mu``, with ``mu`` the smallest of 0.1, 0.2, ... 1.0 at which the
  two contacts are force closure (:func:`grasp_sim.graspnet_ap.required_friction`); 0 when none is;
- the grasp must not collide with the object itself and must enclose it (GraspNet's simplified gripper,
  :func:`grasp_sim.graspnet_ap.gripper_checks`); collisions with the rest of a scene are checked per scene;
- its tolerance (the ToleranceNet target, section 4.4) is the largest radius ``r`` (in steps of the grasp-point
  spacing, up to ``max_tolerance``) within which every grasp point has a score above 0.5 with the same view,
  rotation and depth.

Departures, for CPU budgets: grasp points one per ``point_spacing`` voxel (GraspNet: 5 mm); contacts from
surface samples (GraspNet: Dex-Net's signed distance field).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from grasp_perception.pointcloud.graspnet6dof import DEPTHS, N_ANGLES, N_VIEWS, approach_frames, approach_views
from scipy.spatial import cKDTree

from .graspnet_ap import GripperBox, gripper_checks, required_friction
from .scene_geometry import voxel_thin

__all__ = ["Grasp6DLabelParams", "ObjectGraspLabels", "object_grasp_labels", "label_frames", "FRICTIONS"]

FRICTIONS = np.round(np.arange(1, 11) * 0.1, 1)  # GraspNet's mu grid for the score s = 1.1 - mu


@dataclass(frozen=True)
class Grasp6DLabelParams:
    point_spacing: float = 0.01
    surface_spacing: float = 0.003   # surface samples about this far apart (contacts, collisions)
    contact_tube: float = 0.002
    width_margin: float = 0.01
    max_width: float = 0.1
    max_tolerance: float = 0.05
    n_views: int = N_VIEWS
    n_angles: int = N_ANGLES
    depths: tuple = DEPTHS
    gripper: GripperBox = GripperBox()
    seed: int = 0


@dataclass
class ObjectGraspLabels:
    """Labels in the object's body frame: ``points`` (P, 3) grasp points; ``scores``, ``widths``,
    ``tolerances`` (P, V, A, D) float32, score 0 = not a grasp."""

    points: np.ndarray
    scores: np.ndarray
    widths: np.ndarray
    tolerances: np.ndarray


def _surface(mesh: trimesh.Trimesh, spacing: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    count = max(256, int(2 * mesh.area / spacing ** 2))
    points, faces = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return points, mesh.face_normals[faces]


@functools.lru_cache(maxsize=4)  # the same grid for every object and scene of a run
def label_frames(params: Grasp6DLabelParams) -> np.ndarray:
    """(V, A, 3, 3) grasp frames of the label grid (columns: closing, jaw, approach), object frame."""
    views = approach_views(params.n_views).double()
    angles = torch.arange(params.n_angles, dtype=torch.float64) * np.pi / params.n_angles
    return approach_frames(views[:, None, :].expand(-1, params.n_angles, -1), angles).numpy()


def object_grasp_labels(mesh: trimesh.Trimesh, params: Grasp6DLabelParams = Grasp6DLabelParams(),
                        progress=None, grasp_points: np.ndarray | None = None) -> ObjectGraspLabels:
    """GraspNet-style labels of one object (``mesh`` in its body frame) at its surface samples thinned to
    ``params.point_spacing``, or at the given ``grasp_points`` (P, 3); ``progress(done, total)`` is called
    after each grasp point."""
    surf, normals = _surface(mesh, params.surface_spacing, params.seed)
    if grasp_points is None:
        grasp_points = voxel_thin(surf, params.point_spacing)
    grasp_points = np.asarray(grasp_points, float).reshape(-1, 3)
    frames = label_frames(params)
    depths = np.asarray(params.depths, float)
    V, A, D = params.n_views, params.n_angles, len(depths)
    P = len(grasp_points)
    body = voxel_thin(surf, 2 * params.surface_spacing)  # what the gripper may not collide with or must enclose
    scores = np.zeros((P, V, A, D), np.float32)
    widths = np.zeros((P, V, A, D), np.float32)
    for n, p in enumerate(grasp_points):
        scores[n], widths[n] = _point_labels(p, surf, normals, body, frames, depths, params)
        if progress is not None:
            progress(n + 1, P)
    return ObjectGraspLabels(grasp_points, scores, widths, _tolerances(grasp_points, scores, params))


def _point_labels(p, surf, normals, body, frames, depths, params: Grasp6DLabelParams):
    """(scores, widths) (V, A, D) of the grasps at point ``p``."""
    V, A = frames.shape[:2]
    score = np.zeros((V, A, len(depths)))
    width = np.zeros((V, A, len(depths)))
    rel = surf - p
    for v in range(V):
        _view_contacts(rel, surf, normals, frames[v, 0], depths, params, score[v], width[v])
    # the object itself: fingers, palm and the enclosed part (only where the contacts say it can hold)
    cand = np.argwhere(score > 0)
    if len(cand):
        R = frames[cand[:, 0], cand[:, 1]]
        collides, empty = gripper_checks(body, R,
                                         np.broadcast_to(p, (len(cand), 3)), width[tuple(cand.T)],
                                         depths[cand[:, 2]], params.gripper)
        score[tuple(cand[collides | empty].T)] = 0.0
    return score.astype(np.float32), np.where(score > 0, width, 0.0).astype(np.float32)


def _view_contacts(rel, surf, normals, frame0, depths, params: Grasp6DLabelParams, score, width) -> None:
    """Fill ``score`` and ``width`` (A, D) of one view from the contacts alone. ``frame0``: the view's frame
    at rotation 0; rotation a turns the closing axis to cos(a) closing0 + sin(a) jaw0 (approach_frames)."""
    A = score.shape[0]
    angle = np.arange(A) * np.pi / A
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    u, w, z = rel @ frame0[:, 0], rel @ frame0[:, 1], rel @ frame0[:, 2]
    tube = params.contact_tube
    for k, d in enumerate(depths):
        near = np.flatnonzero(np.abs(z - d) < tube)           # the samples at fingertip depth
        if len(near) < 2:
            continue
        x = c * u[near] + s * w[near]                          # (A, n) along each closing axis
        on = np.abs(-s * u[near] + c * w[near]) < tube         # ... and on its line
        lo = np.where(on, x, np.inf).argmin(1)                 # the finger closing from -x touches here
        hi = np.where(on, x, -np.inf).argmax(1)                # ... and the one from +x here
        rows = np.arange(A)
        x_lo, x_hi = x[rows, lo], x[rows, hi]
        opening = 2 * np.maximum(np.abs(x_lo), np.abs(x_hi)) + params.width_margin
        ok = on.any(1) & (x_hi - x_lo > tube) & (opening <= params.max_width)
        i_lo, i_hi = near[lo], near[hi]
        mu = required_friction(surf[i_lo], normals[i_lo], surf[i_hi], normals[i_hi])
        level = np.searchsorted(FRICTIONS, mu - 1e-9)          # the first listed mu >= the required one
        holds = ok & (level < len(FRICTIONS))
        score[holds, k] = 1.1 - FRICTIONS[level[holds]]
        width[ok, k] = opening[ok]


def _tolerances(points: np.ndarray, scores: np.ndarray, params: Grasp6DLabelParams) -> np.ndarray:
    """Largest radius (multiples of the point spacing) within which every grasp point scores > 0.5 with the
    same view, rotation and depth; 0 for a grasp that does not score > 0.5 itself."""
    good = scores > 0.5
    tol = np.zeros(scores.shape, np.float32)
    tree = cKDTree(points)
    steps = np.arange(1, int(round(params.max_tolerance / params.point_spacing)) + 1) * params.point_spacing
    for n, p in enumerate(points):
        holds = good[n].copy()
        tol[n][holds] = 0.0
        for r in steps:
            near = tree.query_ball_point(p, r + 1e-9)
            holds &= good[near].all(axis=0)
            if not holds.any():
                break
            tol[n][holds] = r
    return tol
