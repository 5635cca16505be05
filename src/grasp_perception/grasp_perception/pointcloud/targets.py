"""Training targets of the 6-DoF network from object-frame grasp labels (GraspNet-1Billion, sections 3.3, 4.2).

Labels live in each object's frame (``grasp_sim.labels_6dof``): grasp points, and per point a score, width and
tolerance for each of the V views x A rotations x D depths of :mod:`.graspnet6dof`. A scene puts objects at
poses in the camera frame. For the network's seed points this finds:

- each seed's label grasp point: the nearest one of any object, within ``match_radius`` (5 mm, the paper's);
  a seed on no object is negative, a seed on an object with no label point that near is ignored, a matched
  seed is graspable when any of its grasps scores;
- for each camera-frame template view j, the label view nearest to it once turned into the object's frame
  (:func:`view_map`), with the in-plane rotation between the two frames in rotation bins; the view target
  is that view's best score, counted where the two views are within ``view_tolerance_deg`` (5 deg, the paper's);
- the operation targets (valid, score, width, tolerance per rotation bin and depth) along each seed's best
  template view, its rotation bins shifted into the template's frame.

Everything is numpy; :func:`to_tensors` makes a batch for :func:`.graspnet6dof.graspnet_loss`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from .graspnet6dof import GraspNetTargets, approach_frames, approach_views

__all__ = ["ObjectLabels", "view_map", "scene_targets", "to_tensors"]


@dataclass
class ObjectLabels:
    """One object's labels (object frame) and its pose in the camera frame (``cam_T_obj``, 4x4); ``scores``
    (P, V, A, D) already zeroed where the grasp collides with the rest of the scene."""

    points: np.ndarray
    scores: np.ndarray
    widths: np.ndarray
    tolerances: np.ndarray
    cam_T_obj: np.ndarray
    segment: int            # the object's id in the cloud's segmentation


def view_map(obj_R_cam: np.ndarray, n_views: int, n_angles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each template view j (camera frame): (the nearest label view i in the object frame, the angle
    between them in degrees, the rotation-bin shift k so that template bin a is label bin (a + k) mod A)."""
    views = approach_views(n_views).double().numpy()
    in_obj = views @ obj_R_cam.T                                         # template approaches, object frame
    cos = in_obj @ views.T
    nearest = cos.argmax(axis=1)
    angle = np.degrees(np.arccos(np.clip(cos[np.arange(n_views), nearest], -1, 1)))
    template0 = approach_frames(torch.from_numpy(views)).numpy()[:, :, 0] @ obj_R_cam.T  # closing at bin 0
    label0 = approach_frames(torch.from_numpy(views[nearest])).numpy()
    phi = np.arctan2(np.sum(template0 * label0[:, :, 1], -1), np.sum(template0 * label0[:, :, 0], -1))
    shift = np.rint(phi / (np.pi / n_angles)).astype(np.int64) % n_angles  # half turns are the same grasp
    return nearest, angle, shift


def scene_targets(seeds: np.ndarray, seed_segments: np.ndarray, objects: list[ObjectLabels], n_views: int,
                  match_radius: float = 0.005, view_tolerance_deg: float = 5.0) -> dict:
    """Targets for ``seeds`` (M, 3) camera frame, ``seed_segments`` (M,) (-1: not an object), as numpy arrays
    shaped like :class:`GraspNetTargets` without the batch axis."""
    M = len(seeds)
    _, V, A, D = objects[0].scores.shape if objects else (0, n_views, 1, 1)
    objectness = np.where(seed_segments >= 0, -1, 0).astype(np.int64)
    view_scores = np.zeros((V, M), np.float32)
    view_mask = np.zeros((V, M), bool)
    best_view = np.zeros(M, np.int64)
    valid = np.zeros((A, M, D), bool)
    scores, widths, tols = (np.zeros((A, M, D), np.float32) for _ in range(3))
    # every object's label points in the camera frame, and which object / point each is
    cam_points = [o.points @ o.cam_T_obj[:3, :3].T + o.cam_T_obj[:3, 3] for o in objects]
    matched = np.zeros(0, np.int64)
    if sum(len(p) for p in cam_points):
        owner = np.concatenate([np.full(len(p), n) for n, p in enumerate(cam_points)])
        index = np.concatenate([np.arange(len(p)) for p in cam_points])
        dist, nearest = cKDTree(np.concatenate(cam_points)).query(seeds)
        maps = [view_map(o.cam_T_obj[:3, :3].T, V, A) for o in objects]
        matched = np.flatnonzero((dist <= match_radius) & (seed_segments >= 0))
    for m in matched:
        o, p = owner[nearest[m]], index[nearest[m]]
        obj = objects[o]
        if obj.segment != seed_segments[m]:
            continue  # the nearest label belongs to another object than the seed's own: leave it ignored
        label_view, angle, shift = maps[o]
        per_view = obj.scores[p].max(axis=(1, 2))[label_view]            # (V,) best score along each template
        objectness[m] = int(per_view.max() > 0)
        view_scores[:, m] = per_view
        view_mask[:, m] = angle < view_tolerance_deg
        j = int(per_view.argmax())
        best_view[m] = j
        bins = (np.arange(A) + shift[j]) % A                             # template bin a -> label bin
        s = obj.scores[p, label_view[j]][bins]                           # (A, D)
        valid[:, m] = s > 0
        scores[:, m] = s
        widths[:, m] = obj.widths[p, label_view[j]][bins]
        tols[:, m] = obj.tolerances[p, label_view[j]][bins]
    return dict(objectness=objectness, view_scores=view_scores, view_mask=view_mask, views=best_view,
                valid=valid, scores=scores, widths=widths, tolerances=tols)


def to_tensors(batch: list[dict]) -> GraspNetTargets:
    """Stack per-scene :func:`scene_targets` into a batch."""
    stack = {k: torch.from_numpy(np.stack([b[k] for b in batch])) for k in batch[0]}
    return GraspNetTargets(**stack)
