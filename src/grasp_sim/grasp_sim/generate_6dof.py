"""Training data for the 6-DoF grasp network: GraspNet-style labels per object, scenes, and point clouds.

    python -m grasp_sim.generate_6dof --out DIR --scenes N [--max-objects K] [--pool-size P] [--views V]

Each pool object is labelled once in its own frame (:func:`grasp_sim.labels_6dof.object_grasp_labels`). Each
scene drops 1..K pool objects into the tray (the same seeds as ``grasp_sim.generate``), checks every labelled
grasp of every object against the rest of the scene (GraspNet's simplified gripper against the scene points
of :func:`grasp_sim.scene_geometry.scene_points`: the other objects, the table and the tray), and renders V
views from PLGP's random viewpoints with the realistic profile's depth noise. A view is stored as the
camera-frame point cloud of its noisy depth, ``--points`` points drawn at random (so in random order, as the
network's ball query expects), with each point's object segment.

Layout (every array file is written whole, then renamed into place; ``--resume`` skips finished scenes)::

    DIR/objects/<name>.npz     points (P, 3) float32, scores / widths / tolerances (P, V, A, D) float16, in the
                               object's body frame (V views x A rotations x D depths of the network)
    DIR/scene_<i:05d>/scene.npz    names (K,), segments (K,) pool index = segment id in the views,
                               world_T_obj (K, 4, 4), collision_<name>: packbits of the (P, V, A, D) grasps
                               that collide in this scene (or enclose nothing)
    DIR/scene_<i:05d>/view_<j:02d>.npz  cloud (N, 3) float32 camera frame, segment (N,) int16 (-1 = no
                               object), world_T_cam (4, 4), intrinsics [fx, fy, cx, cy, width, height]
    DIR/generation.json        arguments, label parameters, counts and timings

``grasp_perception.pointcloud.dataset`` reads it (one sample per view).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
from grasp_perception.pointcloud.dataset import read_object_labels
from grasp_perception.pointcloud.predict import depth_to_cloud
from tqdm import tqdm

from .camera import DepthNoise, random_viewpoint
from .cell import SimCell
from .generate import load_pool, scene_objects
from .graspnet_ap import gripper_checks
from .labels_6dof import Grasp6DLabelParams, ObjectGraspLabels, label_frames, object_grasp_labels
from .scene_geometry import object_mesh, scene_points
from .settings import load_sim_settings

STATUS_FILE = "generation.json"
CHUNK = 2048  # grasps per collision check (bounds the grasps x points array)


def _save(path: Path, **arrays) -> None:
    part = path.with_name(path.name + ".part.npz")
    np.savez_compressed(part, **arrays)
    os.replace(part, path)


def load_object_labels(path: Path) -> ObjectGraspLabels:
    return ObjectGraspLabels(**read_object_labels(path))


def label_objects(cell: SimCell, out: Path, params: Grasp6DLabelParams, indices: list[int]) -> dict[str, Path]:
    """Labels of the pool objects at ``indices``, computed once into ``out/objects``; their paths by name."""
    folder = out / "objects"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i in tqdm(indices, desc="object labels", unit="object"):
        name = cell.objects[i].name
        path = folder / f"{name}.npz"
        if not path.exists():
            lab = object_grasp_labels(object_mesh(cell, i), params)
            _save(path, points=lab.points.astype(np.float32), scores=lab.scores.astype(np.float16),
                  widths=lab.widths.astype(np.float16), tolerances=lab.tolerances.astype(np.float16))
        paths[name] = path
    return paths


def world_grasps(labels: ObjectGraspLabels, world_T_obj: np.ndarray, params: Grasp6DLabelParams):
    """(indices (G, 4) into (P, V, A, D), R (G, 3, 3), t (G, 3), width, depth) of the scoring grasps in
    the world."""
    idx = np.argwhere(labels.scores > 0)
    R = world_T_obj[:3, :3] @ label_frames(params)[idx[:, 1], idx[:, 2]]
    t = labels.points[idx[:, 0]] @ world_T_obj[:3, :3].T + world_T_obj[:3, 3]
    depth = np.asarray(params.depths, float)[idx[:, 3]]
    return idx, R, t, labels.widths[tuple(idx.T)], depth


def scene_collisions(cell: SimCell, labels: ObjectGraspLabels, world_T_obj: np.ndarray,
                     params: Grasp6DLabelParams, points: np.ndarray) -> np.ndarray:
    """(P, V, A, D) bool: the object's scoring grasps that collide with ``points`` (the scene) or enclose
    none of it."""
    bad = np.zeros(labels.scores.shape, bool)
    idx, R, t, width, depth = world_grasps(labels, world_T_obj, params)
    g = params.gripper
    # a finger deeper than 2 cm into the table has met its upper layers already
    points = points[points[:, 2] > cell.table_z - 0.02]
    # Grasps come point by point (argwhere order): each grasp point's grasps meet only the scene points within
    # the gripper's reach of it, a sphere about a tenth of the box around a chunk of points.
    starts = np.flatnonzero(np.r_[True, idx[1:, 0] != idx[:-1, 0]]) if len(idx) else np.zeros(0, int)
    for s, e in zip(starts, np.r_[starts[1:], len(idx)]):
        reach = math.hypot(width[s:e].max() / 2 + g.finger_width_m, g.height_m / 2,
                           max(depth[s:e].max(), g.base_depth_m + g.finger_width_m))
        near = points[np.sum((points - t[s]) ** 2, axis=1) < reach ** 2]
        for c in range(s, e, CHUNK):
            sl = slice(c, min(c + CHUNK, e))
            collides, empty = gripper_checks(near, R[sl], t[sl], width[sl], depth[sl], g)
            bad[tuple(idx[sl][collides | empty].T)] = True
    return bad


def view_cloud(obs, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(cloud (N, 3) camera frame, segment (N,)) of ``n_points`` valid depth pixels drawn at random, as the
    predictor draws them (:func:`grasp_perception.pointcloud.predict.depth_to_cloud`)."""
    cloud, pick = depth_to_cloud(obs.depth, obs.intrinsics, n_points, rng)
    seg = obs.segmentation.reshape(-1)[pick]
    return cloud, np.where(seg >= 0, seg, -1).astype(np.int16)


def generate(*, out, scenes: int, max_objects: int = 5, pool_size: int = 30, seed: int = 0, views: int = 4,
             n_points: int = 20000, family: str = "wide", resume: bool = False,
             params: Grasp6DLabelParams = Grasp6DLabelParams()) -> dict:
    out = Path(out)
    settings = load_sim_settings()
    pool = load_pool("procedural", pool_size=pool_size, seed=seed, settings=settings, family=family)
    cell = SimCell(pool, seed=None, settings=settings,
                   depth_noise=DepthNoise.from_settings(dataclasses.replace(settings.camera.depth_noise, enabled=True)))
    args = {"scenes": scenes, "max_objects": max_objects, "pool_size": pool_size, "seed": seed, "views": views,
            "n_points": n_points, "family": family, "labels": {k: v for k, v in dataclasses.asdict(params).items()}}
    status_path = out / STATUS_FILE
    if status_path.exists() and not resume:
        raise FileExistsError(f"{status_path} exists: use --resume to continue it, or another --out")
    if status_path.exists() and json.loads(status_path.read_text())["args"] != json.loads(json.dumps(args)):
        raise ValueError(f"{status_path}: --resume with other settings than the run it continues")
    out.mkdir(parents=True, exist_ok=True)
    status_path.write_text(json.dumps({"args": args, "status": "running"}, indent=1) + "\n")
    t0 = time.perf_counter()
    plan = [scene_objects(seed, i, len(pool), max_objects) for i in range(scenes)]
    label_paths = label_objects(cell, out, params, sorted({k for idx in plan for k in idx}))
    t_labels = time.perf_counter() - t0
    vp = settings.camera.viewpoints
    done = 0
    for i in tqdm(range(scenes), desc="scenes", unit="scene"):
        folder = out / f"scene_{i:05d}"
        if (folder / "scene.npz").exists():
            done += 1
            continue
        folder.mkdir(exist_ok=True)
        reset_seed = int(np.random.SeedSequence([seed, i, 2]).generate_state(1)[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cell.reset(plan[i], seed=reset_seed)
        points = scene_points(cell, 0.004, 0.008).points
        arrays = {"names": np.array([pool[k].name for k in plan[i]]), "segments": np.array(plan[i])}
        poses = []
        for k in plan[i]:
            T = cell.object_transform(k)
            poses.append(T)
            bad = scene_collisions(cell, load_object_labels(label_paths[pool[k].name]), T, params, points)
            arrays[f"collision_{pool[k].name}"] = np.packbits(bad)
        arrays["world_T_obj"] = np.array(poses)
        rng = np.random.default_rng([seed, i, 5])
        for j in range(views):
            if vp.random:
                cell.set_camera_pose(random_viewpoint(settings.camera.height, vp.max_offset,
                                                      np.random.default_rng([seed, i, j, 3])))
            obs = cell.render()
            cloud, seg = view_cloud(obs, n_points, rng)
            k = obs.intrinsics
            _save(folder / f"view_{j:02d}.npz", cloud=cloud, segment=seg, world_T_cam=obs.camera_pose,
                  intrinsics=np.array([k.fx, k.fy, k.cx, k.cy, k.width, k.height], float))
        _save(folder / "scene.npz", **arrays)  # last: a scene with scene.npz is complete
        done += 1
    cell.close()
    status = {"args": args, "status": "done", "scenes_done": done, "objects_labelled": len(label_paths),
              "seconds_labels": round(t_labels, 1), "seconds_total": round(time.perf_counter() - t0, 1)}
    status_path.write_text(json.dumps(status, indent=1) + "\n")
    return status


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grasp_sim.generate_6dof", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--scenes", type=int, required=True)
    p.add_argument("--max-objects", type=int, default=5)
    p.add_argument("--pool-size", type=int, default=30)
    p.add_argument("--seed", type=int, default=0, help="procedural pool and scene seed (evaluation uses 1000)")
    p.add_argument("--views", type=int, default=4, help="random viewpoints per scene")
    p.add_argument("--points", type=int, default=20000, help="points per view's cloud (the paper's 20k)")
    p.add_argument("--family", default="wide")
    p.add_argument("--point-spacing", type=float, default=Grasp6DLabelParams.point_spacing,
                   help="grasp points: one per this many metres of surface (GraspNet: 0.005)")
    p.add_argument("--resume", action="store_true")
    return p


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    status = generate(out=a.out, scenes=a.scenes, max_objects=a.max_objects, pool_size=a.pool_size, seed=a.seed,
                      views=a.views, n_points=a.points, family=a.family, resume=a.resume,
                      params=Grasp6DLabelParams(point_spacing=a.point_spacing))
    print(json.dumps(status, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
