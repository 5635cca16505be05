"""The simulated scene as GraspNet's analytic evaluation sees it: object and table points, and the contacts a
closing finger makes with one object (MuJoCo ray casts with surface normals).

Object points are sampled on each object's true shape (its primitives, or its visual mesh for mesh
objects: not the convex parts MuJoCo collides with) and thinned to one per voxel, as graspnetAPI voxel-
samples its models; static boxes (table, tray floor, walls) are filled with a grid, as graspnetAPI builds
its table. Everything is in the world frame of the cell's current state.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh
from scipy.spatial import cKDTree

from .cell import SimCell
from .graspnet_ap import INVALID, GripperBox, gripper_checks, pose_nms, required_friction, top_per_object
from .settings import GraspNetAPSettings

__all__ = ["ScenePoints", "scene_points", "shape_geoms", "object_mesh", "voxel_thin", "closing_contact", "select_grasps", "score_grasps"]

RAY_GROUP = 5  # geom group an object's shape is moved to while rays look for it alone
STATIC_BODY = 0


@dataclass
class ScenePoints:
    points: np.ndarray   # (N, 3) world
    owner: np.ndarray    # (N,) object index into cell.objects, -1 for the static scene


def voxel_thin(points: np.ndarray, voxel: float) -> np.ndarray:
    """The first point of each ``voxel``-sized cell, in their order."""
    _, first = np.unique(np.floor(points / voxel).astype(np.int64), axis=0, return_index=True)
    return points[np.sort(first)]


def _geom_mesh(m: mujoco.MjModel, g: int) -> trimesh.Trimesh:
    """Geom ``g``'s surface in its own frame."""
    kind, s = mujoco.mjtGeom(int(m.geom_type[g])), m.geom_size[g]
    if kind == mujoco.mjtGeom.mjGEOM_MESH:
        mid = m.geom_dataid[g]
        v0, nv = m.mesh_vertadr[mid], m.mesh_vertnum[mid]
        f0, nf = m.mesh_faceadr[mid], m.mesh_facenum[mid]
        return trimesh.Trimesh(m.mesh_vert[v0:v0 + nv], m.mesh_face[f0:f0 + nf], process=False)
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return trimesh.creation.box(extents=2 * s)
    if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        return trimesh.creation.cylinder(radius=s[0], height=2 * s[1], sections=48)
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return trimesh.creation.capsule(height=2 * s[1], radius=s[0])
    if kind in (mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_ELLIPSOID):
        ball = trimesh.creation.icosphere(subdivisions=3)
        ball.vertices *= s if kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID else s[0]
        return ball
    raise ValueError(f"scene_geometry: geom {g} has type {kind}, which has no surface sampler")


def shape_geoms(cell: SimCell, i: int) -> list[int]:
    """The geoms that are object ``i``'s true shape: its visual mesh (group 1) if it has one, else its
    primitives."""
    m = cell.model
    body = cell.object_body(i)
    mine = [g for g in range(m.ngeom) if m.geom_bodyid[g] == body]
    visual = [g for g in mine if m.geom_group[g] == 1 and m.geom_contype[g] == 0]
    return visual or [g for g in mine if m.geom_contype[g] != 0]


def object_mesh(cell: SimCell, i: int) -> trimesh.Trimesh:
    """Object ``i``'s true shape (:func:`shape_geoms`) as one mesh in its body frame."""
    m = cell.model
    parts = []
    for g in shape_geoms(cell, i):
        mesh = _geom_mesh(m, g)
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, m.geom_quat[g])
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R.reshape(3, 3), m.geom_pos[g]
        parts.append(mesh.apply_transform(T))
    return trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0]


def scene_points(cell: SimCell, object_voxel_m: float, table_voxel_m: float, table_margin_m: float = 0.05,
                 seed: int = 0) -> ScenePoints:
    """Points of the active objects (surface, one per ``object_voxel_m`` voxel) and of the static boxes
    within ``table_margin_m`` of the tray (a grid of ``table_voxel_m``)."""
    m, d = cell.model, cell.data
    rng = np.random.default_rng(seed)
    pts, owner = [], []
    for i in cell.active:
        mesh = object_mesh(cell, i)
        count = max(64, int(4 * mesh.area / object_voxel_m ** 2))
        local, _ = trimesh.sample.sample_surface(mesh, count, seed=rng)
        T = cell.object_transform(i)
        world = voxel_thin(local @ T[:3, :3].T + T[:3, 3], object_voxel_m)
        pts.append(world)
        owner.append(np.full(len(world), i))
    reach = cell.tray_half_size + table_margin_m
    for g in range(m.ngeom):
        if m.geom_bodyid[g] != STATIC_BODY or int(m.geom_type[g]) != int(mujoco.mjtGeom.mjGEOM_BOX):
            continue
        R, c, s = d.geom_xmat[g].reshape(3, 3), d.geom_xpos[g], m.geom_size[g]
        axes = [np.arange(-h, h + 1e-9, table_voxel_m) if h > table_voxel_m / 2 else np.zeros(1) for h in s]
        local = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        world = local @ R.T + c
        world = world[(np.abs(world[:, 0]) <= reach) & (np.abs(world[:, 1]) <= reach)]
        pts.append(world)
        owner.append(np.full(len(world), -1))
    return ScenePoints(np.concatenate(pts), np.concatenate(owner).astype(np.int64))


def closing_contact(cell: SimCell, geoms: list[int], start: np.ndarray, direction: np.ndarray, reach: float
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """(point, outward normal) where a finger moving from ``start`` along unit ``direction`` first touches
    the object whose shape is ``geoms`` (:func:`shape_geoms`), within ``reach`` metres; None if it does not."""
    m, d = cell.model, cell.data
    groups = m.geom_group[geoms].copy()
    mask = np.zeros(6, np.uint8)
    mask[RAY_GROUP] = 1
    normal, hit = np.zeros(3), np.array([-1], np.int32)
    try:
        m.geom_group[geoms] = RAY_GROUP
        dist = mujoco.mj_ray(m, d, np.asarray(start, float), np.asarray(direction, float), mask, 0, -1, hit, normal)
    finally:
        m.geom_group[geoms] = groups
    if dist < 0 or dist > reach:
        return None
    return np.asarray(start, float) + dist * np.asarray(direction, float), normal.copy()


def gripper_box(cfg: GraspNetAPSettings) -> GripperBox:
    g = cfg.gripper
    return GripperBox(g.height, g.finger_width, g.base_depth, g.empty_points)


def select_grasps(R: np.ndarray, t: np.ndarray, scores: np.ndarray, cfg: GraspNetAPSettings,
                  points: ScenePoints) -> tuple[np.ndarray, np.ndarray, int]:
    """graspnetAPI's choice of the grasps it scores: pose-NMS of the G grasps (``R`` (G, 3, 3), ``t`` (G, 3),
    ``scores`` (G,) the model's ranking), each assigned to the object with the nearest point, the
    ``per_object`` best of each object, the ``top_k`` best of those. (indices best first, their objects,
    how many survived NMS)."""
    keep = pose_nms(R, t, scores, cfg.nms_translation, cfg.nms_rotation_deg)
    if len(keep) == 0 or not (points.owner >= 0).any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), len(keep)
    objects = points.owner >= 0
    owner = points.owner[objects][cKDTree(points.points[objects]).query(t[keep])[1]]
    rows = top_per_object(owner, scores[keep], cfg.per_object, cfg.top_k)
    return keep[rows], owner[rows], len(keep)


def score_grasps(cell: SimCell, R: np.ndarray, t: np.ndarray, width: np.ndarray, depth: np.ndarray,
                 owner: np.ndarray, cfg: GraspNetAPSettings, points: ScenePoints, crop_margin_m: float = 0.05
                 ) -> tuple[np.ndarray, dict]:
    """The friction each grasp needs (:data:`INVALID` when it fails a check) and why grasps failed.

    Grasp ``k`` (``R``, ``t``, opening ``width``, fingertip ``depth`` past ``t``, all world, metres) is
    checked for collision and emptiness against the points near its object ``owner[k]`` (its bounding box
    + ``crop_margin_m``, as graspnetAPI crops), then its fingers close along the closing axis at fingertip
    depth and the two contacts they make with that object give its required friction."""
    required = np.full(len(t), INVALID)
    why = {"collision": 0, "empty": 0, "no_contact": 0}
    box = gripper_box(cfg)
    for obj in np.unique(owner):
        rows = np.flatnonzero(owner == obj)
        own = points.points[points.owner == obj]
        lo, hi = own.min(axis=0) - crop_margin_m, own.max(axis=0) + crop_margin_m
        near = points.points[np.all((points.points > lo) & (points.points < hi), axis=1)]
        collides, empty = gripper_checks(near, R[rows], t[rows], width[rows], depth[rows], box)
        geoms = shape_geoms(cell, int(obj))
        for k, col, emp in zip(rows, collides, empty):
            if col or emp:
                why["collision" if col else "empty"] += 1
                continue
            closing, approach = R[k][:, 0], R[k][:, 2]
            centre = t[k] + depth[k] * approach
            half = width[k] / 2
            c1 = closing_contact(cell, geoms, centre - half * closing, closing, width[k])
            c2 = closing_contact(cell, geoms, centre + half * closing, -closing, width[k])
            if c1 is None or c2 is None:
                why["no_contact"] += 1
                continue
            mu = required_friction(c1[0], c1[1], c2[0], c2[1])
            required[k] = mu if np.isfinite(mu) else INVALID
    return required, why
