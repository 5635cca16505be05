"""From one RGB-D frame to ranked robot-frame grasps, with every check a user needs a clear answer for.

``GraspPlanner.plan`` is what ``/plan_grasp`` runs: network (``GraspPredictor``, preprocessing exactly
as in training) -> image grasps -> workspace ROI -> 6-DoF pose in the camera frame (``geometry``) ->
hand-eye transform -> workspace box in the base frame. ``PointCloudPlanner`` does the same for a 6-DoF
point-cloud model (cloud from the aligned depth -> 6-DoF poses -> the same filters); ``make_planner`` picks
the one a model folder needs. It never raises on bad input: a
:class:`PlanResult` with ``success=False`` says which check failed (no frame, stale frame, size or
unit mismatch, no valid depth, nothing above ``min_quality``, nothing inside the workspace).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .geometry import APPROACH_MODES, CameraIntrinsics, GraspPose6D, camera_poses, is_rigid
from .grasp import ImageGrasp


@dataclass(frozen=True)
class CameraFrame:
    """One synchronised RGB-D frame: depth in metres (NaN = no return), aligned to the colour image."""

    depth: np.ndarray
    intrinsics: CameraIntrinsics
    stamp_ns: int
    frame_id: str
    rgb: np.ndarray | None = None


@dataclass(frozen=True)
class Workspace:
    """Where grasps may be: an image ROI ``(u_min, v_min, u_max, v_max)`` px and/or a base-frame box."""

    roi: tuple[float, float, float, float] | None = None
    box_min: tuple[float, float, float] | None = None
    box_max: tuple[float, float, float] | None = None

    def __post_init__(self):
        if self.roi is not None and (len(self.roi) != 4 or self.roi[0] >= self.roi[2] or self.roi[1] >= self.roi[3]):
            raise ValueError(f"workspace roi must be [u_min, v_min, u_max, v_max] with min < max, got {self.roi}")
        if (self.box_min is None) != (self.box_max is None):
            raise ValueError("workspace box_min and box_max must be given together")
        if self.box_min is not None and (len(self.box_min) != 3 or len(self.box_max) != 3
                                         or any(a >= b for a, b in zip(self.box_min, self.box_max))):
            raise ValueError(f"workspace box must be 3 mins below 3 maxes, got {self.box_min} / {self.box_max}")

    def contains_pixel(self, u: float, v: float) -> bool:
        return bool(self.contains_pixels(np.asarray(u), np.asarray(v)))

    def contains_point(self, p: np.ndarray) -> bool:
        return bool(self.contains_points(np.asarray(p, float)))

    def contains_pixels(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """:meth:`contains_pixel` of arrays of pixels."""
        if self.roi is None:
            return np.ones(np.broadcast(u, v).shape, bool)
        return (u >= self.roi[0]) & (u <= self.roi[2]) & (v >= self.roi[1]) & (v <= self.roi[3])

    def contains_points(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Which of the ``(..., 3)`` base-frame ``points`` lie in the box grown by ``margin`` m (NaN: no)."""
        if self.box_min is None:
            return np.ones(points.shape[:-1], bool)
        lo, hi = np.asarray(self.box_min) - margin, np.asarray(self.box_max) + margin
        with np.errstate(invalid="ignore"):
            return np.all((points >= lo) & (points <= hi), axis=-1)


@dataclass(frozen=True)
class PlannerConfig:
    workspace: Workspace = Workspace()
    max_image_age_s: float = 1.0      # older frames are refused as stale (0 = no limit)
    depth_window: int = 5             # median window for the grasp depth, px
    approach: str = "optical_axis"    # optical_axis | viewing_ray (see geometry.image_grasp_to_camera_pose)
    candidates: int = 20              # network grasps considered before filtering
    depth_range_m: tuple[float, float] = (0.1, 3.0)   # plausible median scene depth: catches unit mistakes
    level_table: bool = True          # remove the support plane's slope from the network input (tilted cameras:
                                      # see frame_input.support_plane_slope)

    def __post_init__(self):
        if self.approach not in APPROACH_MODES:
            raise ValueError(f"approach must be one of {APPROACH_MODES}, got {self.approach!r}")
        if self.candidates < 1 or self.depth_window < 1 or self.max_image_age_s < 0:
            raise ValueError("candidates and depth_window must be >= 1 and max_image_age_s >= 0")


@dataclass(frozen=True)
class PlannedGrasp:
    image: ImageGrasp          # in the original image's pixels
    camera_pose: GraspPose6D   # in the camera optical frame
    pose: GraspPose6D          # in the planning (base) frame


@dataclass
class PlanResult:
    success: bool
    message: str
    grasps: list[PlannedGrasp] = field(default_factory=list)
    stamp_ns: int = 0
    timings_ms: dict = field(default_factory=dict)
    image_grasps: list[ImageGrasp] = field(default_factory=list)   # all network candidates (for overlays)


class GraspPlanner:
    nothing_found = "the network found no grasp peak"   # why a plan with no candidate at all failed

    def __init__(self, predictor, config: PlannerConfig = PlannerConfig()):
        self.predictor = predictor
        self.config = config

    def check_frame(self, frame: CameraFrame | None, now_ns: int) -> str | None:
        """Why ``frame`` cannot be planned on, or None."""
        if frame is None:
            return "no synchronised colour + depth + camera_info received yet"
        age = (now_ns - frame.stamp_ns) / 1e9
        if self.config.max_image_age_s and age > self.config.max_image_age_s:
            return f"stale images: the latest frame is {age:.2f} s old (max_image_age_s = {self.config.max_image_age_s})"
        K = frame.intrinsics
        if frame.depth.shape != (K.height, K.width):
            return (f"camera_info is {K.width}x{K.height} but the depth image is "
                    f"{frame.depth.shape[1]}x{frame.depth.shape[0]}")
        if frame.rgb is not None and frame.rgb.shape[:2] != frame.depth.shape:
            return (f"colour image {frame.rgb.shape[1]}x{frame.rgb.shape[0]} is not aligned to the depth image "
                    f"{frame.depth.shape[1]}x{frame.depth.shape[0]} (use depth aligned to colour)")
        if self.predictor.card.inputs in ("rgb", "rgbd") and frame.rgb is None:
            return f"model {self.predictor.card.name!r} needs a colour image ({self.predictor.card.inputs})"
        # A unit check needs no exact median: every 4th pixel each way (1/16 of the frame) is plenty.
        sub = frame.depth[::4, ::4]
        with np.errstate(invalid="ignore"):
            valid = sub[np.isfinite(sub) & (sub > 0)]
            if valid.size == 0:
                valid = frame.depth[np.isfinite(frame.depth) & (frame.depth > 0)]
        if valid.size == 0:
            return "the depth image has no valid pixels (all zero or NaN)"
        med = float(np.median(valid))
        lo, hi = self.config.depth_range_m
        if not lo <= med <= hi:
            return (f"median depth {med:.4g} m is outside the plausible {lo}-{hi} m: is the depth in the units its "
                    f"encoding declares (16UC1 = millimetres, 32FC1 = metres)?")
        return None

    def plan(self, frame: CameraFrame | None, base_T_camera: np.ndarray, *, now_ns: int, max_grasps: int = 1,
             min_quality: float = 0.0) -> PlanResult:
        t_start = time.perf_counter()
        problem = self.check_frame(frame, now_ns)
        if problem:
            return PlanResult(False, problem, stamp_ns=frame.stamp_ns if frame else 0)
        if not is_rigid(base_T_camera):
            return PlanResult(False, "the camera -> base transform is not a rigid 4x4 transform", stamp_ns=frame.stamp_ns)
        t0 = time.perf_counter()
        try:
            image_grasps, poses, stage_ms = self.candidates(frame, base_T_camera)
        except ValueError as exc:  # e.g. no valid depth inside the workspace ROI
            return PlanResult(False, f"cannot plan on this frame: {exc}", stamp_ns=frame.stamp_ns)
        t1 = time.perf_counter()
        dropped: Counter = Counter()
        kept: list[PlannedGrasp] = []
        for g, cam in zip(image_grasps, poses):
            if len(kept) >= max(1, max_grasps):
                break
            if g.quality < min_quality:
                dropped[f"below min_quality {min_quality:g}"] += 1
                continue
            if not self.config.workspace.contains_pixel(g.u, g.v):
                dropped["outside the workspace ROI"] += 1
                continue
            if cam is None:
                dropped["without valid depth at the grasp pixel"] += 1
                continue
            base = cam.transformed(base_T_camera)
            if not self.config.workspace.contains_point(base.position):
                dropped["outside the workspace box"] += 1
                continue
            kept.append(PlannedGrasp(g, cam, base))
        t2 = time.perf_counter()
        # Stages in ms: check (frame checks), preprocess (levelling included), network, postprocess, poses
        # (lifting the candidates to 6-DoF, the hand-eye transform and the filters); total = all of them.
        lift_ms = stage_ms.pop("lift", 0.0)
        timings = {"check": 1e3 * (t0 - t_start), **stage_ms,
                   "poses": lift_ms + 1e3 * (t2 - t1), "total": 1e3 * (t2 - t_start)}
        if not kept:
            why = ", ".join(f"{n} {k}" for k, n in dropped.most_common()) or (
                self.nothing_found + (f" in its window on the workspace ROI {self.config.workspace.roi}"
                                                     if self.config.workspace.roi else ""))
            return PlanResult(False, f"no grasp left of {len(image_grasps)} candidates: {why}", stamp_ns=frame.stamp_ns,
                              timings_ms=timings, image_grasps=image_grasps)
        return PlanResult(True, f"{len(kept)} grasp(s), best quality {kept[0].image.quality:.3f}", kept,
                          frame.stamp_ns, timings, image_grasps)

    def candidates(self, frame: CameraFrame, base_T_camera: np.ndarray
                   ) -> tuple[list[ImageGrasp], list[GraspPose6D | None], dict]:
        """The network's ranked grasps on ``frame``: in the image, as optical-frame poses (None where the
        grasp pixel has no valid depth), and the stage timings (ms; ``lift``: the poses)."""
        pred = self.predictor.predict(frame.depth, rgb=frame.rgb, top_k=self.config.candidates,
                                      level_table=self.config.level_table, intrinsics=frame.intrinsics,
                                      region=self.config.workspace.roi)
        grasps = pred.grasps
        t0 = time.perf_counter()
        # Every candidate's pose in one batch (a few tens of rows).
        cam_T, width_m, z = camera_poses([g.u for g in grasps], [g.v for g in grasps], [g.angle for g in grasps],
                                         [g.width for g in grasps], frame.depth, frame.intrinsics,
                                         window=self.config.depth_window, approach=self.config.approach)
        poses = [None if np.isnan(z[i]) else GraspPose6D(cam_T[i], float(width_m[i]), float(z[i]))
                 for i in range(len(grasps))]
        return grasps, poses, {**pred.timings_ms, "lift": 1e3 * (time.perf_counter() - t0)}


CLOUD_MARGIN_M = 0.05  # the 6-DoF cloud keeps points this far outside the workspace box (gripper context)


class PointCloudPlanner(GraspPlanner):
    """:class:`GraspPlanner` for a 6-DoF point-cloud model (:class:`.pointcloud.predict.GraspPredictor6D`):
    the cloud comes from the aligned depth and intrinsics (only the workspace ROI's pixels, when one is set, and
    only the points within :data:`CLOUD_MARGIN_M` of the workspace box, when one is set), the network gives full 6-DoF poses with their approach depth, and their projections stand for them in
    the image (overlays, the message's pixel fields). The checks and filters are the image planner's;
    ``approach``, ``depth_window`` and ``level_table`` do not apply."""

    nothing_found = "the network called no seed point graspable"

    def candidates(self, frame: CameraFrame, base_T_camera: np.ndarray
                   ) -> tuple[list[ImageGrasp], list[GraspPose6D | None], dict]:
        t0 = time.perf_counter()
        depth, ws = frame.depth, self.config.workspace
        v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]]
        if ws.roi is not None:
            depth = np.where(ws.contains_pixels(u, v), depth, np.nan)
        if ws.box_min is not None:
            # The cloud's points are spent where grasps may be: points farther than the margin from the box
            # (far floor, walls) cannot hold a grasp inside it; the margin keeps what a gripper there touches.
            K = frame.intrinsics
            z = np.asarray(depth, np.float64)
            cam = np.stack([(u - K.cx) * z / K.fx, (v - K.cy) * z / K.fy, z], axis=-1)
            base = cam @ base_T_camera[:3, :3].T + base_T_camera[:3, 3]
            depth = np.where(ws.contains_points(base, margin=CLOUD_MARGIN_M), depth, np.nan)
        grasps = self.predictor.image_grasps(depth, frame.intrinsics, top_k=self.config.candidates)
        return grasps, [g.camera_pose for g in grasps], {"network": 1e3 * (time.perf_counter() - t0)}


def make_planner(model, config: PlannerConfig = PlannerConfig(), **predictor_options) -> GraspPlanner:
    """The planner for the model at ``model`` (a path, or ``default``): :class:`PointCloudPlanner` for a card
    of ``kind: point_cloud``, else :class:`GraspPlanner` with ``inference.GraspPredictor(model,
    **predictor_options)`` (device, backend, precision, input_size, threads)."""
    from .pointcloud.predict import GraspPredictor6D
    from .predictors import load_predictor
    predictor = load_predictor(model, **predictor_options)
    planner = PointCloudPlanner if isinstance(predictor, GraspPredictor6D) else GraspPlanner
    return planner(predictor, config)
