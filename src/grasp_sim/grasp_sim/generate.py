"""Synthetic training data: simulated scenes with pixel-level grasp labels, in the Jacquard format.

    python -m grasp_sim.generate --out DIR --scenes N --objects {procedural,PATH} --workers K

The cell, the object sizes and densities, the camera and its noise model, and the label gripper come from
``--sim-config`` (default ``config/sim/realistic.yaml``; meshes at their file's size there) and ``--gripper``
(the gripper whose geometry the labels are searched for).

Each scene drops 1..--max-objects objects from the pool into the tray, lets them settle, renders
the RGB-D camera and computes PLGP labels (``labels.generate_labels``) on the *clean*
rendered depth with the segmentation as object ids. It is written as a Jacquard scene: RGB,
perfect depth = clean depth, stereo depth = the PLGP noise model's depth, mask = object pixels,
grasps = labels (at most --max-grasps-per-scene, drawn at random). Scenes without a label are not
written; they are counted and listed in ``DIR/no_label_scenes.txt``.

With ``camera.viewpoints.random`` (the realistic profile) every dropped scene is rendered from
``views_per_scene`` random viewpoints (PLGP: 5; the camera moves in x-y at its height and looks at the tray
centre); each view is one image index, images ``k*V .. k*V+V-1`` being the views of dropped scene ``k``, and
its labels approach along that view's optical axis, as PLGP's do. ``--scenes`` counts images.
``DIR/camera_poses.jsonl`` holds the camera pose (world_T_optical) of every written image.

Cameras: by default every image comes from the sim config's camera (resolution, height). ``--camera-heights LO HI``
draws each image's camera height uniformly in [LO, HI] m (the viewpoint offsets scale with it, so the tilt
range stays PLGP's) and ``--resolutions 640x480 1280x720`` draws its frame size. Every frame is then resampled
to the dataset's one metric scale (the reference camera's, ``metres_per_pixel`` in generation.json) with the
same rule the predictor applies at run time (``grasp_perception.metric_scale``), and labelled there, so a model
trained on it learns one scale and sees the depth noise, dropout and resampling of many cameras. Each image's
camera (height, resolution, the rescale and the written image's intrinsics) is in ``camera_poses.jsonl``.

Layout (``JacquardSource(DIR)`` reads it; its object id is the folder name, so object-wise splits
work)::

    DIR/<object name>/<i>_<object name>_{RGB.png,perfect_depth.tiff,stereo_depth.tiff,mask.png,grasps.txt}
    DIR/scene<i:06d>/<i>_scene<i:06d>_*      scenes with two or more objects (clutter)
    DIR/generation.json   arguments, counts, throughput, versions ("status": "running" until done)
    DIR/preview.png       a few scenes with a random subset of their labels drawn

Scene ``i`` depends only on (--seed, i) and the pool, never on the worker count or on the other
scenes, so ``--start i --scenes 1`` regenerates it alone. Procedural objects are named
``s<seed>_proc_<k>_<shape>``: pools of different seeds never share a name (an object-wise split of
merged datasets cannot leak). A scene's grasps file is moved into place last and every file
is renamed into place whole, so a killed run never leaves a scene that looks complete but is not;
``--resume`` skips the scenes whose grasps file exists and regenerates the rest.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from grasp_perception.datasets.jacquard import parse_jacquard_grasps, write_jacquard_scene
from tqdm import tqdm

from grasp_perception.geometry import CameraIntrinsics
from grasp_perception.metric_scale import input_scale, rescale_frame

from .camera import DepthNoise, random_viewpoint
from .label_depth import label_gripper
from .labels import LabelParams, generate_labels, subsample
from .objects import FROM_SETTINGS, PROCEDURAL_FAMILIES, ObjectSpec, load_mesh_objects, procedural_objects
from .cell import SimCell
from .settings import GRIPPER_NAMES, SimSettings, load_sim_settings

STATUS_FILE = "generation.json"
NO_LABEL_FILE = "no_label_scenes.txt"
CAMERA_FILE = "camera_poses.jsonl"
PREVIEW_FILE = "preview.png"
_GRASPS_SUFFIX = "_grasps.txt"
_PART = ".part"  # in-flight files: JacquardSource only indexes names ending in _grasps.txt
# Arguments that define what scene i is: a resumed run must use the same ones.
_DATASET_ARGS = ("objects", "family", "seed", "pool_size", "max_objects", "max_extent", "max_grasps_per_scene",
                 "camera_height", "camera_heights", "resolutions", "stride", "gripper", "sim_config",
                 "sim_scene_settings")


def scene_settings(settings: SimSettings) -> dict:
    """The parts of the sim settings that change what a scene looks like (physics, camera, labels)."""
    d = settings.to_dict()
    return {k: d[k] for k in ("physics", "camera", "labels")} | {"floating": d["grippers"]["floating"]}


# ------------------------------------------------------------------------------------------- plan
def load_pool(objects: str, *, pool_size: int, seed: int, max_extent: float | None = None,
              settings: SimSettings | None = None, family: str = "wide") -> list[ObjectSpec]:
    """The object pool: ``procedural`` (seeded, of the procedural ``family``) or every mesh of a folder (shrunk to ``max_extent`` m; None:
    ``physics.mesh_max_extent`` of ``settings``, the file's size in realistic.yaml)."""
    settings = settings or load_sim_settings()
    if objects == "procedural":
        if pool_size < 1:
            raise ValueError(f"--pool-size must be >= 1, got {pool_size}")
        # The seed goes into the name: pool objects are different shapes for different seeds.
        return [dataclasses.replace(o, name=f"s{seed}_{o.name}")
                for o in procedural_objects(pool_size, seed=seed, settings=settings, family=family)]
    path = Path(objects)
    if not path.is_dir():
        raise ValueError(f"--objects must be 'procedural' or a folder of .obj/.stl meshes; {path} is neither")
    if max_extent is not None and not max_extent > 0:
        raise ValueError(f"--max-extent must be > 0 m, got {max_extent}")
    pool = load_mesh_objects(path, settings=settings, max_extent_m=FROM_SETTINGS if max_extent is None else max_extent)
    if not pool:
        raise ValueError(f"--objects {path}: no mesh fits the gripper (try a smaller --max-extent)")
    return pool


def views_per_scene(settings) -> int:
    """Images rendered of each dropped scene: ``camera.viewpoints.views_per_scene`` with random viewpoints
    (PLGP: 5), else 1 (the fixed camera would render the same image again)."""
    vp = settings.camera.viewpoints
    return vp.views_per_scene if vp.random else 1


def physical_scene(index: int, views: int) -> tuple[int, int]:
    """(dropped scene, view) of image ``index``: images ``k * views .. k * views + views - 1`` are the views of
    dropped scene ``k``, so they share its objects, its drop and (for clutter) its folder, and an object-wise
    split never puts two views of one scene on both sides."""
    return index // views, index % views


def scene_objects(seed: int, index: int, pool_size: int, max_objects: int) -> list[int]:
    """Pool indices of scene ``index``: 1..max_objects distinct objects, from (seed, index) only."""
    rng = np.random.default_rng([seed, index, 0])
    n = int(rng.integers(1, max_objects + 1))
    return [int(k) for k in rng.choice(pool_size, size=n, replace=False)]


def scene_object_id(index: int, names: list[str]) -> str:
    """Jacquard object id (= folder): the object's name alone, ``scene%06d`` for clutter."""
    return names[0] if len(names) == 1 else f"scene{index:06d}"


def grasps_path(out: Path, index: int, object_id: str) -> Path:
    return out / object_id / f"{index}_{object_id}{_GRASPS_SUFFIX}"


def reference_metres_per_pixel(settings: SimSettings, camera_height: float | None) -> float:
    """The dataset's metric scale on the tray: the sim config's camera (or ``camera_height``) over its focal
    length. Training records it in the model card so that the predictor can bring other cameras to it."""
    k = settings.camera.camera_intrinsics()
    height = settings.camera.height if camera_height is None else camera_height
    return height / (0.5 * (k.fx + k.fy))


def image_camera(seed: int, index: int, base_height: float, camera_heights, resolutions) -> tuple[float, tuple]:
    """(height m, (width, height) px) of image ``index``'s camera, from (seed, index) only: drawn from
    ``camera_heights`` (lo, hi) and ``resolutions`` where given, else ``base_height`` and None (the config's)."""
    rng = np.random.default_rng([seed, index, 4])
    height = float(rng.uniform(*camera_heights)) if camera_heights else base_height
    size = tuple(resolutions[int(rng.integers(len(resolutions)))]) if resolutions else None
    return height, size


def parse_resolution(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (640, 480)."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--resolutions: {text!r} is not WIDTHxHEIGHT (e.g. 1280x720)") from None
    if w < 64 or h < 64:
        raise ValueError(f"--resolutions: {text!r} is smaller than 64x64 px")
    return w, h


# ----------------------------------------------------------------------------------------- worker
class SceneGenerator:
    """One SimCell (built once) that turns scene indices into Jacquard scenes under ``out``."""

    def __init__(self, pool: list[ObjectSpec], out: str | Path, *, seed: int, max_objects: int,
                 max_grasps: int, camera_height: float | None, stride: int, sim_config: str | None = None,
                 gripper: str = "floating", camera_heights=None, resolutions=None):
        self.pool, self.out = pool, Path(out)
        self.seed, self.max_objects, self.max_grasps = seed, max_objects, max_grasps
        self.settings = settings = load_sim_settings(sim_config)
        self.camera_height = settings.camera.height if camera_height is None else camera_height
        self.camera_heights, self.resolutions = camera_heights, resolutions
        self.reference_mpp = reference_metres_per_pixel(settings, camera_height)
        self._cells: dict[tuple | None, SimCell] = {}
        self.cell = self._cell(None)
        self.gripper = label_gripper(settings, gripper)
        self.params = LabelParams(stride_px=stride)
        self.tmp = Path(tempfile.mkdtemp(prefix="grasp_sim_generate_"))

    def _cell(self, size: tuple | None) -> SimCell:
        """The cell rendering frames of ``size`` (None: the config's), built on first use: a cell's renderer
        has one frame size. Its physics is the same, so a scene drops the same way in every cell."""
        if size not in self._cells:
            cam = self.settings.camera
            intrinsics = None if size is None else getattr(CameraIntrinsics, cam.intrinsics)(*size)
            # seed=None: every reset below is seeded per scene, so the cell's own generator is never used
            self._cells[size] = SimCell(self.pool, intrinsics, seed=None, settings=self.settings,
                                        camera_height=self.camera_height,
                                        depth_noise=DepthNoise.from_settings(
                                            dataclasses.replace(cam.depth_noise, enabled=True)))
        return self._cells[size]

    def run(self, index: int) -> dict:
        t0 = time.perf_counter()
        scene, view = physical_scene(index, views_per_scene(self.cell.settings))
        idx = scene_objects(self.seed, scene, len(self.pool), self.max_objects)
        names = [self.pool[k].name for k in idx]
        object_id = scene_object_id(scene, names)
        height, size = image_camera(self.seed, index, self.camera_height, self.camera_heights, self.resolutions)
        cell = self._cell(size)
        vp = self.settings.camera.viewpoints
        varied = self.camera_heights is not None
        if vp.random or varied:  # PLGP's random viewpoint of this view (the same tilt range at any height)
            offset = vp.max_offset * height / self.settings.camera.height if vp.random else 0.0
            cell.set_camera_pose(random_viewpoint(height, offset, np.random.default_rng([self.seed, scene, view, 3])))
        reset_seed = int(np.random.SeedSequence([self.seed, scene, 2]).generate_state(1)[0])
        with warnings.catch_warnings():  # a slow settle is counted, not printed over the progress bar
            warnings.simplefilter("ignore")
            cell.reset(idx, seed=reset_seed)
        obs = cell.render()
        seg = obs.segmentation
        ids = np.where(seg >= 0, seg + 1, 0).astype(np.int32)  # labels want 0 = background
        rgb, depth_clean, depth, k = obs.rgb, obs.depth_clean, obs.depth, obs.intrinsics
        camera = {"height": round(height, 4), "resolution": [k.width, k.height], "rescale": 1.0}
        if varied or size is not None:
            # to the dataset's one metric scale, as the predictor would bring this camera's frames
            scale = input_scale(self.reference_mpp, depth, k.fx, k.fy)
            if scale != 1.0:
                depth_clean, rgb, ids, (w, h) = rescale_frame(scale, depth_clean, rgb, ids)
                depth = rescale_frame(scale, depth)[0]
                k = CameraIntrinsics(w, h, k.fx * scale, k.fy * scale, k.cx * scale, k.cy * scale)
                camera["rescale"] = round(scale, 5)
        camera["intrinsics"] = [round(x, 3) for x in (k.fx, k.fy, k.cx, k.cy)] + [k.width, k.height]
        result = generate_labels(depth_clean, k.fx, k.fy, k.cx, k.cy, ids, gripper=self.gripper, params=self.params)
        grasps = subsample(result.grasps, self.max_grasps, np.random.default_rng([self.seed, index, 1]))
        record = {"index": index, "scene": scene, "view": view, "object_id": object_id, "objects": names,
                  "camera_pose": np.round(obs.camera_pose, 6).tolist(), "camera": camera,
                  "dense_labels": len(result.grasps), "labels": len(grasps), "settled": bool(cell.last_settled),
                  "written": bool(grasps)}
        if grasps:
            self._write(index, object_id, rgb, depth_clean, depth, ids > 0, grasps)
        record["seconds"] = time.perf_counter() - t0
        return record

    def _write(self, index, object_id, rgb, depth_clean, depth, mask, grasps) -> None:
        staged = write_jacquard_scene(self.tmp, str(index), object_id, rgb, depth_clean, depth, mask, grasps)
        final = self.out / object_id
        final.mkdir(parents=True, exist_ok=True)
        # Images first, grasps last, each renamed into place whole: JacquardSource indexes a scene
        # by its grasps file, so a kill at any point leaves either a complete scene or none.
        files = sorted(p for p in staged.parent.iterdir() if p.name.startswith(f"{index}_{object_id}_"))
        files.sort(key=lambda p: p == staged)
        for src in files:
            part = final / (src.name + _PART)
            shutil.move(str(src), str(part))  # a copy when the temp dir is on another file system
            os.replace(part, final / src.name)

    def close(self) -> None:
        for cell in self._cells.values():
            cell.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


_WORKER: SceneGenerator | None = None


def _init_worker(pool, out, kwargs) -> None:
    global _WORKER
    _WORKER = SceneGenerator(pool, out, **kwargs)
    # runs when the pool is closed and joined (not on terminate): frees GL and the staging folder
    mp.util.Finalize(_WORKER, _WORKER.close, exitpriority=10)


def _run_scene(index: int) -> dict:
    try:
        return _WORKER.run(index)
    except Exception as exc:
        # the pool re-raises in the parent; say which scene (they are reproducible alone)
        raise RuntimeError(f"scene {index} failed: {type(exc).__name__}: {exc} "
                           f"(reproduce with --start {index} --scenes 1 --workers 1)") from None


# ------------------------------------------------------------------------------------------ output
def _versions() -> dict:
    import importlib.metadata

    import cv2
    import mujoco

    out = {"python": sys.version.split()[0], "numpy": np.__version__, "mujoco": mujoco.__version__,
           "opencv": cv2.__version__}
    for dist in ("grasp_sim", "grasp_perception"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + _PART)
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def write_preview(out: Path, n_scenes: int = 6, n_grasps: int = 12, tile: int = 320, seed: int = 0) -> Path | None:
    """A grid of the first scenes of ``out``, cropped around the objects, with random labels drawn."""
    import cv2

    from grasp_perception.visualise import draw_grasps

    rng = np.random.default_rng(seed)
    files = sorted(out.glob("*/*" + _GRASPS_SUFFIX), key=lambda p: int(p.name.split("_", 1)[0]))[:n_scenes]
    tiles = []
    for gpath in files:
        prefix = str(gpath)[:-len(_GRASPS_SUFFIX)]
        bgr = cv2.imread(prefix + "_RGB.png", cv2.IMREAD_COLOR)
        mask = cv2.imread(prefix + "_mask.png", cv2.IMREAD_GRAYSCALE)
        if bgr is None or mask is None:
            continue
        grasps = subsample(parse_jacquard_grasps(gpath), n_grasps, rng)
        # objects cover a few percent of the image: crop a square around them, scale it up, then
        # draw the labels at the tile's scale so their lines stay sharp
        vs, us = np.nonzero(mask)
        cu, cv_ = (int(us.mean()), int(vs.mean())) if us.size else (bgr.shape[1] // 2, bgr.shape[0] // 2)
        half = max(int(max(np.ptp(us), np.ptp(vs)) * 0.8) if us.size else 0, 60)
        pad = cv2.copyMakeBorder(bgr, half, half, half, half, cv2.BORDER_CONSTANT)
        crop = cv2.resize(pad[cv_:cv_ + 2 * half, cu:cu + 2 * half], (tile, tile), interpolation=cv2.INTER_LINEAR)
        s = tile / (2 * half)
        crop = draw_grasps(crop, [dataclasses.replace(g, u=(g.u - cu + half) * s, v=(g.v - cv_ + half) * s,
                                                      width=g.width * s, jaw=g.jaw * s) for g in grasps],
                           thickness=1, label=False)
        cv2.putText(crop, gpath.name[:-len(_GRASPS_SUFFIX)], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(crop)
    if not tiles:
        return None
    cols = min(3, len(tiles))
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
    grid = np.concatenate([np.concatenate(tiles[r:r + cols], axis=1) for r in range(0, len(tiles), cols)], axis=0)
    path = out / PREVIEW_FILE
    if not cv2.imwrite(str(path), grid):
        raise OSError(f"{path}: could not write the preview image")
    return path


# -------------------------------------------------------------------------------------------- run
def _check_out(out: Path, args: dict, resume: bool) -> None:
    """Refuse to mix runs: a dataset in ``out`` needs --resume, with the settings that made it."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, expected a folder")
    status = out / STATUS_FILE
    holds_dataset = status.exists() or (out.is_dir() and next(out.glob("*/*" + _GRASPS_SUFFIX), None) is not None)
    if holds_dataset and not resume:
        raise ValueError(f"--out {out} already holds a dataset; pass --resume to continue it or choose "
                         f"another folder")
    if status.exists():
        try:
            previous = json.loads(status.read_text()).get("args", {})
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{status}: unreadable ({exc}); cannot check that --resume matches it") from None
        changed = [f"--{k.replace('_', '-')} {previous.get(k)!r} -> {args[k]!r}" for k in _DATASET_ARGS
                   if k in previous and previous[k] != args[k]]
        if changed:
            raise ValueError(f"--resume {out}: the dataset was generated with other settings ({'; '.join(changed)}); "
                             f"its scenes would not match new ones")


def generate(*, out, scenes: int, objects: str = "procedural", family: str = "wide", workers: int = 1, start: int = 0,
             seed: int = 0, pool_size: int = 200, max_objects: int = 1, max_extent: float | None = None,
             max_grasps_per_scene: int = 2000, camera_height: float | None = None, stride: int = 1,
             resume: bool = False, progress: bool = True, sim_config: str | None = None,
             gripper: str = "floating", camera_heights: tuple[float, float] | None = None,
             resolutions: list[tuple[int, int]] | None = None) -> dict:
    """Generate scenes ``start .. start + scenes - 1`` into ``out``; returns the generation.json content."""
    for name, value, low in (("--scenes", scenes, 1), ("--workers", workers, 1), ("--start", start, 0),
                             ("--max-objects", max_objects, 1), ("--max-grasps-per-scene", max_grasps_per_scene, 1),
                             ("--stride", stride, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if camera_height is not None and not camera_height > 0:
        raise ValueError(f"--camera-height must be > 0 m, got {camera_height}")
    if camera_heights is not None:
        camera_heights = tuple(float(x) for x in camera_heights)
        if len(camera_heights) != 2 or not 0 < camera_heights[0] <= camera_heights[1]:
            raise ValueError(f"--camera-heights must be LO HI with 0 < LO <= HI (m), got {camera_heights}")
    if resolutions is not None:
        resolutions = [parse_resolution(r) if isinstance(r, str) else tuple(int(x) for x in r) for r in resolutions]
        if not resolutions:
            raise ValueError("--resolutions needs at least one WIDTHxHEIGHT")
    if gripper not in GRIPPER_NAMES:
        raise ValueError(f"--gripper must be one of {GRIPPER_NAMES}, got {gripper!r}")
    settings = load_sim_settings(sim_config)
    sim_config = settings.source
    out = Path(out)
    args = {"out": str(out), "scenes": scenes, "objects": str(objects), "family": family, "workers": workers, "start": start,
            "seed": seed, "pool_size": pool_size, "max_objects": max_objects, "max_extent": max_extent,
            "max_grasps_per_scene": max_grasps_per_scene, "camera_height": camera_height,
            "camera_heights": list(camera_heights) if camera_heights else None,
            "resolutions": [list(r) for r in resolutions] if resolutions else None, "stride": stride,
            "resume": resume, "gripper": gripper, "sim_config": sim_config,
            "sim_scene_settings": json.loads(json.dumps(scene_settings(settings)))}
    if objects != "procedural":  # the pool size of a mesh folder is what it holds
        args["pool_size"] = args["family"] = None
    _check_out(out, args, resume)
    pool = load_pool(objects, pool_size=pool_size, seed=seed, max_extent=max_extent, settings=settings, family=family)
    if max_objects > len(pool):
        raise ValueError(f"--max-objects {max_objects} exceeds the {len(pool)} objects of the pool ({objects})")
    out.mkdir(parents=True, exist_ok=True)
    for part in out.glob("*/*" + _PART):  # leftovers of a killed run
        part.unlink()
    names = [o.name for o in pool]
    no_label_path = out / NO_LABEL_FILE
    no_label = {int(x) for x in no_label_path.read_text().split()} if no_label_path.exists() else set()
    indices = range(start, start + scenes)
    views = views_per_scene(settings)

    def object_id(i: int) -> str:
        scene = physical_scene(i, views)[0]
        return scene_object_id(scene, [names[k] for k in scene_objects(seed, scene, len(pool), max_objects)])

    present = {i for i in indices if grasps_path(out, i, object_id(i)).exists()}
    todo = [i for i in indices if i not in present and i not in no_label]
    status = {"status": "running", "args": args, "pool": {"size": len(pool), "names": names},
              "metres_per_pixel": reference_metres_per_pixel(settings, camera_height),
              "gripper": dataclasses.asdict(label_gripper(settings, gripper)),
              "label_params": dataclasses.asdict(LabelParams(stride_px=stride)),
              "versions": _versions()}
    _write_json(out / STATUS_FILE, status)

    kwargs = dict(seed=seed, max_objects=max_objects, max_grasps=max_grasps_per_scene,
                  camera_height=camera_height, stride=stride, sim_config=sim_config, gripper=gripper,
                  camera_heights=camera_heights, resolutions=resolutions)
    counts = {"requested": scenes, "written": 0, "already_present": len(present),
              "known_no_label": len(set(indices) & no_label), "skipped_no_label": 0, "unsettled": 0}
    labels = dense = 0
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc="scenes", unit="scene", disable=not progress, dynamic_ncols=True)
    workers = min(workers, max(len(todo), 1))

    def consume(results):
        nonlocal labels, dense
        for r in results:
            dense += r["dense_labels"]
            counts["unsettled"] += int(not r["settled"])
            if r["written"]:
                counts["written"] += 1
                labels += r["labels"]
                with open(out / CAMERA_FILE, "a") as cameras:  # world_T_optical of each written image
                    cameras.write(json.dumps({k: r[k] for k in ("index", "scene", "view", "camera_pose",
                                                                "camera")}) + "\n")
            else:
                counts["skipped_no_label"] += 1
                with open(no_label_path, "a") as skipped_log:  # so --resume does not retry it
                    skipped_log.write(f"{r['index']}\n")
            bar.update(1)
            bar.set_postfix(labels_per_s=f"{labels / max(time.perf_counter() - t0, 1e-9):.0f}",
                            skipped=counts["skipped_no_label"])

    try:
        if workers == 1:  # in-process: no start-up cost, and exceptions keep their traceback
            gen = SceneGenerator(pool, out, **kwargs)
            try:
                consume(gen.run(i) for i in todo)
            finally:
                gen.close()
        elif todo:
            # spawn: a fresh interpreter per worker (MuJoCo's GL context must not be forked);
            # each builds its SimCell once in the initializer.
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(pool, str(out), kwargs)) as mpool:
                consume(mpool.imap_unordered(_run_scene, todo))
                mpool.close()  # let the workers exit normally so that their finalizers run
                mpool.join()
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    minutes = max(seconds, 1e-9) / 60
    done = counts["written"] + counts["skipped_no_label"]
    dataset_labels = sum(p.read_bytes().count(b"\n") for p in out.glob("*/*" + _GRASPS_SUFFIX))
    status.update(status="complete", counts=counts,
                  labels={"written": labels, "dense": dense, "dataset_total": dataset_labels},
                  seconds=round(seconds, 3), scenes_per_min=round(done / minutes, 2),
                  labels_per_min=round(labels / minutes, 1), dense_labels_per_min=round(dense / minutes, 1))
    preview = write_preview(out, seed=seed)
    status["preview"] = str(preview) if preview else None
    _write_json(out / STATUS_FILE, status)
    return status


def _summary(s: dict) -> str:
    c, lab, a = s["counts"], s["labels"], s["args"]
    lines = [f"{a['out']}: scenes {a['start']}..{a['start'] + a['scenes'] - 1}: {c['written']} written, "
             f"{c['already_present']} already present, {c['skipped_no_label'] + c['known_no_label']} without labels "
             f"(not written), {c['unsettled']} not settled after the step cap",
             f"labels: {lab['written']} written ({lab['dense']} before subsampling), "
             f"{lab['dataset_total']} in the dataset",
             f"{s['seconds']:.1f} s with {a['workers']} worker(s): {s['scenes_per_min']:.1f} scenes/min, "
             f"{s['labels_per_min']:.0f} labels/min ({s['dense_labels_per_min']:.0f} before subsampling)"]
    if s.get("preview"):
        lines.append(f"preview: {s['preview']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grasp_sim.generate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="dataset folder (Jacquard layout)")
    p.add_argument("--scenes", type=int, required=True, help="number of scenes to generate")
    p.add_argument("--objects", default="procedural", help="'procedural' or a folder of .obj/.stl meshes")
    p.add_argument("--family", default="wide", choices=sorted(PROCEDURAL_FAMILIES),
                   help="procedural shapes: basic (boxes, cylinders, capsules, ellipsoids, L/T) or wide (+ rods, "
                        "plates, small objects, U channels)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (each renders its own cell)")
    p.add_argument("--start", type=int, default=0, help="index of the first scene (shards, or one scene alone)")
    p.add_argument("--seed", type=int, default=0, help="seeds the procedural pool and every scene")
    p.add_argument("--pool-size", type=int, default=200, help="procedural objects in the pool")
    p.add_argument("--max-objects", type=int, default=1,
                   help="objects per scene are drawn from 1..this (1 = single-object scenes, as Jacquard)")
    p.add_argument("--max-extent", type=float, default=None,
                   help="shrink meshes to this largest extent (m); default physics.mesh_max_extent of --sim-config")
    p.add_argument("--max-grasps-per-scene", type=int, default=2000, help="labels kept per scene (random subset)")
    p.add_argument("--camera-height", type=float, default=None,
                   help="camera height above the tray (m); default camera.height of --sim-config")
    p.add_argument("--camera-heights", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="draw each image's camera height in [LO, HI] m; frames are rescaled to the reference "
                        "camera's metric scale (--camera-height or the config's)")
    p.add_argument("--resolutions", nargs="+", default=None, metavar="WxH",
                   help="draw each image's frame size from these (e.g. 640x480 1280x720); default the config's")
    p.add_argument("--sim-config", default=None, metavar="PATH",
                   help="sim settings: a YAML file or a profile of config/sim (realistic, easy); default realistic")
    p.add_argument("--gripper", default="floating", choices=GRIPPER_NAMES,
                   help="the gripper whose geometry the labels are searched for")
    p.add_argument("--stride", type=int, default=1, help="label every stride-th pixel row and column only")
    p.add_argument("--resume", action="store_true", help="continue a dataset in --out: skip finished scenes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        summary = generate(out=a.out, scenes=a.scenes, objects=a.objects, family=a.family, workers=a.workers, start=a.start,
                           seed=a.seed, pool_size=a.pool_size, max_objects=a.max_objects, max_extent=a.max_extent,
                           max_grasps_per_scene=a.max_grasps_per_scene, camera_height=a.camera_height,
                           stride=a.stride, resume=a.resume, progress=not a.no_progress, sim_config=a.sim_config,
                           gripper=a.gripper, camera_heights=a.camera_heights, resolutions=a.resolutions)
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2 and the usage line
    print(_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
