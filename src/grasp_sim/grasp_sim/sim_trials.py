"""The simulated arena of the trial protocols: what one trial or one cluttered scene does in the cell.

- :class:`SimTrialExecutor` is the :class:`grasp_sim.protocol.TrialExecutor` of the per-object (EGAD)
  protocol: reset re-drops the object, attempt renders, predicts, maps the best grasp into the world
  (hand-eye error, label approach depth) and executes it with the cell's gripper.
- :func:`run_clutter_scene` runs PLGP's bin-picking procedure on one scene and returns the counts that
  :func:`grasp_sim.metrics.clutter_measures` turns into SR, PC and AP.

Both report an attempt whose physics broke (MuJoCo warnings, a non-finite state) or whose scene never
came to rest as *invalid*: it is kept in the record (``invalid_runs``), re-run from a fresh drop up to
``protocol.invalid_retries`` times, and never counted (:func:`grasp_sim.metrics.valid`).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from grasp_perception.geometry import GraspPose6D, camera_poses
from grasp_perception.planning import PlannerConfig

from .camera import DepthNoise, perturbed_pose, random_viewpoint
from .cell import SimCell
from .executors import make_cell, run_grasp
from .executors.common import executed_geometry
from .label_depth import label_approach_depths, label_gripper
from .objects import ObjectSpec
from .scene_geometry import scene_points, score_grasps, select_grasps
from .seeds import DROP, HAND_EYE, VIEW, scene_seed, trial_seed
from .settings import SimSettings
from .world_grasp import executable_grasp, image_grasp_to_world

# The network sees what the perception node gives it: the table's slope removed (tilted views), as the
# node's default (grasp_perception.planning.PlannerConfig.level_table).
LEVEL_TABLE = PlannerConfig().level_table


def make_predictor(model: str, random_weights: int | None = None, backend: str = "torch", precision: str = "fp32"):
    """A GraspPredictor for the model file (a :class:`PointCloudSimPredictor` for a 6-DoF point-cloud model);
    with ``random_weights`` the same network, untrained (a floor)."""
    from grasp_perception.pointcloud.predict import GraspPredictor6D
    from grasp_perception.predictors import load_predictor

    predictor = load_predictor(model, random_weights, device="cpu", backend=backend, precision=precision)
    return PointCloudSimPredictor(predictor) if isinstance(predictor, GraspPredictor6D) else predictor


class PointCloudSimPredictor:
    """A 6-DoF point-cloud model behind the image predictor's ``predict``, the call the trials make: its
    grasps come as ``PosedImageGrasp`` (projection + pose), best first. ``dense`` changes nothing (the network
    gives one grasp per graspable seed), nor ``level_table`` (a cloud keeps its geometry); ``rgb`` is unused."""

    def __init__(self, predictor):
        self.predictor, self.card = predictor, predictor.card

    def predict(self, depth, rgb=None, top_k: int = 1, level_table: bool = False, dense: bool = False,
                intrinsics=None, **_):
        from grasp_perception.inference import Prediction
        if intrinsics is None:
            raise ValueError("a point-cloud model needs the camera intrinsics to build its cloud")
        t0 = time.perf_counter()
        grasps = self.predictor.image_grasps(depth, intrinsics, top_k)
        return Prediction(grasps, [], (), timings_ms={"network": 1e3 * (time.perf_counter() - t0)})


def make_trial_cell(objects: list[ObjectSpec], gripper: str, settings: SimSettings, seed: int) -> SimCell:
    """The trials' cell: ``gripper``, ``settings``, the settings' depth noise (if enabled)."""
    noise = settings.camera.depth_noise
    return make_cell(objects, gripper, seed=seed, settings=settings,
                     depth_noise=DepthNoise.from_settings(noise, seed) if noise.enabled else None)


def world_grasp(obs, g, camera_pose: np.ndarray | None = None, approach: str = "camera"):
    """The world pose of image grasp ``g`` seen in observation ``obs`` (ValueError if it has none), mapped
    with ``camera_pose`` (the calibration the robot believes; default the exact pose), approaching along the
    camera axis or vertically (``protocol.approach``)."""
    pose = obs.camera_pose if camera_pose is None else camera_pose
    if getattr(g, "camera_pose", None) is not None:  # a 6-DoF model's grasp: its own pose and approach
        return executable_grasp(g.camera_pose.transformed(pose), approach)
    return image_grasp_to_world(g.u, g.v, g.angle, g.width, obs.depth, obs.intrinsics, pose, approach=approach)


def world_grasps(obs, grasps, approach: str = "camera") -> list:
    """:func:`world_grasp` of many grasps with the exact camera pose, the image grasps' poses in one batch
    (:func:`grasp_perception.geometry.camera_poses`); None for a grasp without one."""
    image = [k for k, g in enumerate(grasps) if getattr(g, "camera_pose", None) is None]
    T, width, z = camera_poses([grasps[k].u for k in image], [grasps[k].v for k in image],
                               [grasps[k].angle for k in image], [grasps[k].width for k in image],
                               obs.depth, obs.intrinsics)
    cam = {k: None if np.isnan(z[i]) else GraspPose6D(T[i], float(width[i]), float(z[i])) for i, k in enumerate(image)}
    out = []
    for k, g in enumerate(grasps):
        pose = cam[k] if k in cam else g.camera_pose
        try:
            out.append(None if pose is None else executable_grasp(pose.transformed(obs.camera_pose), approach))
        except ValueError:  # not a grasp from above
            out.append(None)
    return out


def set_viewpoint(cell: SimCell, seed: int) -> None:
    """With ``camera.viewpoints.random``, move the camera to PLGP's random viewpoint for ``seed``; else keep
    the cell's fixed camera."""
    vp, cam = cell.settings.camera.viewpoints, cell.settings.camera
    if vp.random:
        cell.set_camera_pose(random_viewpoint(cam.height, vp.max_offset, np.random.default_rng(seed)))


def calibrated_camera_pose(cell: SimCell, obs, seed: int) -> np.ndarray:
    """The camera pose the robot believes: the true one with the settings' hand-eye error (seeded)."""
    he = cell.settings.camera.hand_eye
    return perturbed_pose(obs.camera_pose, he.translation_sigma, he.rotation_sigma_deg, np.random.default_rng(seed))


def planned_grasp(cell: SimCell, obs, g, gripper: str, seed: int):
    """(world GraspPose with its approach depth, how the depth was chosen) for image grasp ``g``.

    ``protocol.approach_depth: label`` runs the label search at the grasp's pixel on the observed depth
    with ``gripper``'s geometry (:func:`grasp_sim.label_depth.label_approach_depths`); a grasp the search
    rejects, and ``fixed``, get ``protocol.default_grasp_depth``. Raises ValueError for a grasp without
    a world pose."""
    world = world_grasp(obs, g, calibrated_camera_pose(cell, obs, seed), cell.settings.protocol.approach)
    depth, how = approach_depth(cell, obs, g, gripper)
    return (world if depth is None else dataclasses.replace(world, depth_m=depth)), how


def approach_depth(cell: SimCell, obs, g, gripper: str) -> tuple[float | None, str]:
    """(fingertip depth past the grasp point, or None for ``protocol.default_grasp_depth``; how it was
    chosen) for image grasp ``g`` under ``protocol.approach_depth``."""
    return approach_depths(cell, obs, [g], gripper)[0]


def approach_depths(cell: SimCell, obs, grasps, gripper: str) -> list[tuple[float | None, str]]:
    """:func:`approach_depth` of many image grasps, with one label search. A 6-DoF model's grasp keeps the
    depth it predicted (``predicted``), as the perception node passes it on."""
    posed = [getattr(g, "camera_pose", None) for g in grasps]
    if any(p is not None for p in posed):
        return [(p.approach_depth_m, "predicted") for p in posed]
    if cell.settings.protocol.approach_depth != "label":
        return [(None, "fixed")] * len(grasps)
    found = label_approach_depths(obs.depth, obs.intrinsics, [g.u for g in grasps], [g.v for g in grasps],
                                  [g.angle for g in grasps], label_gripper(cell.settings, gripper))
    return [(None, f"default (label search rejects it: flags {flags})") if depth is None else (depth, "label")
            for depth, flags in found]


def graspnet_scene(cell: SimCell, obs, predictor, gripper: str) -> dict:
    """GraspNet's analytic AP inputs for the scene as it is (``protocol.clutter.graspnet_ap``): the top
    ``candidates`` dense grasps of ``obs``, lifted to world 6-DoF poses with the true camera pose (it scores
    perception, not calibration), with the approach, fingertip depth and opening the executor would carry
    out (:func:`grasp_sim.executors.common.executed_geometry`); then :mod:`grasp_sim.scene_geometry`'s
    ``select_grasps`` and ``score_grasps``. Returns the required friction of the chosen grasps, best first,
    and the counts behind it."""
    cfg = cell.settings.protocol.clutter.graspnet_ap
    t0 = time.perf_counter()
    cands = predictor.predict(obs.depth, rgb=obs.rgb, top_k=cfg.candidates, dense=True, level_table=LEVEL_TABLE,
                              intrinsics=obs.intrinsics).grasps
    lifted, R, t, scores = [], [], [], []
    for g, pose in zip(cands, world_grasps(obs, cands, cell.settings.protocol.approach)):
        if pose is None:
            continue  # no depth under it, or not a grasp from above: graspnetAPI never sees it either
        z = np.asarray(pose.approach)
        R.append(np.stack([pose.closing, np.cross(z, pose.closing), z], axis=1))
        t.append(pose.position)
        scores.append(g.quality)
        lifted.append((g, pose))
    out = {"frictions": list(cfg.frictions), "top_k": cfg.top_k, "candidates": len(cands), "lifted": len(lifted),
           "after_nms": 0}
    required, why = np.zeros(0), {"collision": 0, "empty": 0, "no_contact": 0}
    if lifted:
        R, t, scores = np.asarray(R), np.asarray(t), np.asarray(scores, float)
        points = scene_points(cell, cfg.object_voxel, cfg.table_voxel)
        chosen, owner, out["after_nms"] = select_grasps(R, t, scores, cfg, points)
        depths = approach_depths(cell, obs, [lifted[k][0] for k in chosen], gripper)
        depth, width = np.zeros(len(chosen)), np.zeros(len(chosen))
        for n, (k, (d, _)) in enumerate(zip(chosen, depths)):
            depth[n], width[n] = executed_geometry(cell, dataclasses.replace(lifted[k][1], depth_m=d))
        required, why = score_grasps(cell, R[chosen], t[chosen], width, depth, owner, cfg, points)
    out.update(why, required_mu=[round(float(x), 4) for x in required], seconds=round(time.perf_counter() - t0, 2))
    return out


def _until_valid(run, retries: int) -> dict:
    """``run(retry)`` for retry 0, 1, ... until its record is not ``invalid`` (at most ``retries`` re-runs); the
    last record, with the reasons of the invalid runs under ``invalid_runs``."""
    invalid_runs = []
    for retry in range(retries + 1):
        record = run(retry)
        if not record.get("invalid"):
            break
        invalid_runs.append({"retry": retry, "reason": record["invalid"]})
    if invalid_runs:
        record["invalid_runs"] = invalid_runs
    return record


def _invalid_reason(cell: SimCell, settled: bool) -> str | None:
    problems = cell.physics_problems()
    if not settled:
        problems.insert(0, f"scene still moving after {cell.settings.physics.settle_max_time} s")
    return "; ".join(problems) or None


class SimTrialExecutor:
    """The protocol's TrialExecutor in simulation: reset re-drops the object, attempt grasps it.

    Seeds are keyed by object name (:mod:`grasp_sim.seeds`). After each attempt, ``last`` holds the
    observation and prediction (for overlays).
    """

    def __init__(self, cell: SimCell, predictor, gripper: str, seed: int):
        self.cell, self.predictor, self.gripper, self.seed = cell, predictor, gripper, seed
        self.last: dict = {}
        self._reset_ms = float("nan")

    def reset(self, object_index: int, trial: int, retry: int = 0) -> None:
        """Drop object ``object_index`` at a random pose seeded by (seed, object name, trial, retry), seen from
        that trial's viewpoint (``camera.viewpoints``)."""
        t0 = time.perf_counter()
        name = self.cell.objects[object_index].name
        set_viewpoint(self.cell, trial_seed(self.seed, name, trial, VIEW, retry))
        self.cell.reset(object_index, seed=trial_seed(self.seed, name, trial, DROP, retry))
        self._reset_ms = 1e3 * (time.perf_counter() - t0)

    def attempt(self, object_index: int, trial: int) -> dict:
        """One valid attempt if the physics allows: an invalid one is re-run from a fresh drop (up to
        ``protocol.invalid_retries`` times) and kept under ``invalid_runs``; if none is valid the record
        has ``invalid`` set and is never counted."""
        def once(retry: int) -> dict:
            if retry:
                self.reset(object_index, trial, retry)
            return self._attempt_once(object_index, trial, retry)
        return _until_valid(once, self.cell.settings.protocol.invalid_retries)

    def _attempt_once(self, object_index: int, trial: int, retry: int) -> dict:
        """Render, predict the best grasp, map it into the world (calibration error, label depth), execute it."""
        cell = self.cell
        name = cell.objects[object_index].name
        settled = cell.last_settled
        t1 = time.perf_counter()
        obs = cell.render()
        t2 = time.perf_counter()
        pred = self.predictor.predict(obs.depth, rgb=obs.rgb, top_k=1, level_table=LEVEL_TABLE, intrinsics=obs.intrinsics)
        t3 = time.perf_counter()
        record = {"success": False}
        if not pred.grasps:
            record["reason"] = "no grasp predicted"
        else:
            g = pred.grasps[0]
            record.update(u=g.u, v=g.v, angle=g.angle, width_px=g.width, quality=g.quality)
            try:
                world, depth_source = planned_grasp(cell, obs, g, self.gripper,
                                                    trial_seed(self.seed, name, trial, HAND_EYE, retry))
            except ValueError as exc:
                record["reason"] = f"invalid grasp: {exc}"
            else:
                result = run_grasp(cell, world, self.gripper)
                record.update(success=bool(result.success), reason=result.reason, lift_m=result.lift_height,
                              position=list(world.position), yaw=world.yaw, approach=list(world.approach),
                              width_m=world.width_m,
                              depth_m=world.depth_m, depth_source=depth_source, fingertip_z=result.fingertip_z)
        invalid = _invalid_reason(cell, settled)
        if invalid:
            record.update(success=False, invalid=invalid)
        record["contact_mu"] = cell.contact_mu
        t4 = time.perf_counter()
        record["ms"] = {"reset": self._reset_ms, "render": 1e3 * (t2 - t1), "inference": 1e3 * (t3 - t2),
                        "grasp": 1e3 * (t4 - t3)}
        self.last = {"obs": obs, "pred": pred}
        return record


def _try(cell: SimCell, obs, g, gripper: str, seed: int):
    """Execute image grasp ``g``; the TrialResult, or None when it has no world pose."""
    try:
        world, _ = planned_grasp(cell, obs, g, gripper, seed)
    except ValueError:
        return None
    return run_grasp(cell, world, gripper)


def run_clutter_scene(cell: SimCell, predictor, scene: int, *, n_objects: int, gripper: str, seed: int) -> dict:
    """PLGP's bin-picking procedure on one cluttered scene (``protocol.clutter`` of the cell's settings).

    AP: the top ``ap_top_k`` grasps of the first image (dense candidates, or peaks), each tried from the
    scene's initial state; missing candidates count as failures. SR / PC: pick with the first-ranked grasp,
    removing each lifted object and letting the rest settle before the next image, until the scene is empty
    or ``max_failures`` grasps in a row fail. Returns the counts (see :func:`grasp_sim.metrics.clutter_measures`);
    a scene whose physics broke is re-run from a new drop (``protocol.invalid_retries``) and otherwise
    returned with ``invalid`` set.
    """
    t0 = time.perf_counter()
    record = _until_valid(lambda retry: _clutter_scene_once(cell, predictor, scene, n_objects, gripper, seed, retry),
                          cell.settings.protocol.invalid_retries)
    record["seconds"] = round(time.perf_counter() - t0, 2)
    return record


def _clutter_scene_once(cell: SimCell, predictor, scene: int, n_objects: int, gripper: str, seed: int,
                        retry: int) -> dict:
    cfg = cell.settings.protocol.clutter
    rng = np.random.default_rng([seed, scene])
    chosen = sorted(rng.choice(len(cell.objects), size=n_objects, replace=False).tolist())
    set_viewpoint(cell, scene_seed(seed, scene, VIEW, retry=retry))  # one camera pose for the whole scene
    cell.reset(chosen, seed=scene_seed(seed, scene, DROP, retry=retry))
    problems = [] if cell.last_settled else ["the dropped scene never came to rest"]
    start = cell.snapshot()
    obs = cell.render()
    ranked = predictor.predict(obs.depth, rgb=obs.rgb, top_k=cfg.ap_top_k, dense=cfg.ap_candidates == "dense",
                               level_table=LEVEL_TABLE, intrinsics=obs.intrinsics).grasps
    ap_hits = 0
    for k, g in enumerate(ranked):
        cell.restore(start)
        result = _try(cell, obs, g, gripper, scene_seed(seed, scene, HAND_EYE, k, retry))
        ap_hits += int(bool(result and result.success))
        problems += cell.physics_problems()
    cell.restore(start)
    graspnet = graspnet_scene(cell, obs, predictor, gripper) if cfg.graspnet_ap.enabled else None
    attempts = picked = failures_in_row = 0
    while cell.active and failures_in_row < cfg.max_failures:
        cell.park_gripper()
        if not cell.settle():  # after a removal or a failed grasp the rest may still move
            problems.append(f"scene still moving before attempt {attempts + 1}")
        obs = cell.render()
        pred = predictor.predict(obs.depth, rgb=obs.rgb, top_k=1, level_table=LEVEL_TABLE,
                                 intrinsics=obs.intrinsics).grasps
        attempts += 1
        result = (_try(cell, obs, pred[0], gripper, scene_seed(seed, scene, HAND_EYE, 1000 + attempts, retry))
                  if pred else None)
        problems += cell.physics_problems()
        if result and result.success and result.object_index in cell.active:
            picked += 1
            failures_in_row = 0
            cell.remove_object(result.object_index)
        else:
            failures_in_row += 1
    record = {"scene": scene, "objects": [cell.objects[i].name for i in chosen], "n_objects": n_objects,
              "attempts": attempts, "picked": picked, "ap_hits": ap_hits, "ap_top_k": cfg.ap_top_k,
              "ap_candidates": cfg.ap_candidates, "ap_ranked": len(ranked), "contact_mu": cell.contact_mu}
    if graspnet is not None:
        record["graspnet"] = graspnet
    if problems:
        record["invalid"] = "; ".join(dict.fromkeys(problems))
    return record
