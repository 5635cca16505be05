"""6-DoF grasps from a depth image: the cloud (aligned depth + intrinsics, a random sample of its valid
pixels), the network, the paper's ranked decoding.

    python -m grasp_perception.pointcloud.predict --benchmark     # CPU ms per plan, random weights

prints a Markdown table of the time one plan takes on a 20k-point cloud of a synthetic tabletop, for the whole
seed set (the paper) and for OperationNet on the most graspable seeds only.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ..geometry import CameraIntrinsics, GraspPose6D, PosedImageGrasp, camera_pose_to_image_grasp
from ..memory import keep_freed_memory
from .graspnet6dof import GraspNet6DoF, Grasps6D, decode
from .model_card import PointCloudCard

__all__ = ["depth_to_cloud", "GraspPredictor6D", "untrained"]


def depth_to_cloud(depth: np.ndarray, intrinsics: CameraIntrinsics, n_points: int, rng: np.random.Generator,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(cloud (n_points, 3) float32 in the optical frame, the flat pixel index of each point): ``n_points``
    of the valid (finite, > 0) depth pixels drawn at random, so the cloud is in random order (see
    :func:`.pointnet2.ball_query`). Raises ValueError for an image without valid depth."""
    xyz = intrinsics.deproject_image(np.where(depth > 0, depth, np.nan)).reshape(-1, 3)
    valid = np.flatnonzero(np.isfinite(xyz).all(1))
    if not len(valid):
        raise ValueError("depth_to_cloud: the depth image has no valid pixel")
    pick = rng.choice(valid, size=n_points, replace=len(valid) < n_points)
    return xyz[pick].astype(np.float32), pick


class GraspPredictor6D:
    """A point-cloud model on a depth image: ranked 6-DoF grasps in the camera's optical frame.

    ``model``: a model folder (card ``kind: point_cloud``), its card or weights file, or a ``(network, card)``
    pair. The card gives the cloud size and how many seeds OperationNet runs on (``operation_seeds``, the
    most graspable ones; None: all M, as the paper)."""

    def __init__(self, model: str | Path | tuple[GraspNet6DoF, PointCloudCard], seed: int = 0):
        from ..model_io import ModelFileError, load_model
        net, card = model if isinstance(model, tuple) else load_model(model)
        if not isinstance(card, PointCloudCard):
            raise ModelFileError(f"{model}: an image model ({card.architecture}); GraspPredictor6D runs point-cloud "
                                 f"models (card kind: point_cloud): use inference.GraspPredictor")
        self.net, self.card = net.eval(), card
        self.n_points, self.operation_seeds = card.n_points, card.operation_seeds
        keep_freed_memory()  # a plan's large temporaries stay mapped between plans (see grasp_perception.memory)
        self.rng = np.random.default_rng(seed)

    @torch.no_grad()
    def predict(self, depth: np.ndarray, intrinsics: CameraIntrinsics, top_k: int | None = None) -> Grasps6D:
        cloud, _ = depth_to_cloud(depth, intrinsics, self.n_points, self.rng)
        out = self.net(torch.from_numpy(cloud)[None], operation_seeds=self.operation_seeds)
        g = decode(out, self.net)
        if top_k is not None:
            g = Grasps6D(*(x[:top_k] for x in (g.R, g.t, g.width, g.depth, g.score, g.tolerance)))
        return g

    def image_grasps(self, depth: np.ndarray, intrinsics: CameraIntrinsics, top_k: int | None = None
                     ) -> list[PosedImageGrasp]:
        """:meth:`predict` as image grasps that carry their 6-DoF pose (the projections stand for them in
        overlays and messages; the quality is the predicted grasp score)."""
        g = self.predict(depth, intrinsics, top_k)
        return [camera_pose_to_image_grasp(p, intrinsics, float(q)) for p, q in zip(self.poses(g), g.score.numpy())]

    @staticmethod
    def poses(g: Grasps6D) -> list[GraspPose6D]:
        """The grasps as :class:`GraspPose6D` (optical frame; ``depth_m`` = the grasp point's camera z,
        ``approach_depth_m`` = the predicted fingertip depth past it)."""
        out = []
        for R, t, w, d in zip(g.R.numpy(), g.t.numpy(), g.width.numpy(), g.depth.numpy()):
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = R, t
            out.append(GraspPose6D(T, float(w), float(t[2]), float(d)))
        return out


def untrained(sample_sizes=(2048, 1024, 512, 256), n_points: int = 20000, operation_seeds: int | None = 256
              ) -> tuple[GraspNet6DoF, PointCloudCard]:
    """A randomly initialised network and its card (timings, tests)."""
    card = PointCloudCard("graspnet6dof-untrained", "graspnet6dof", n_points,
                          {"sample_sizes": list(sample_sizes)}, operation_seeds, notes="random weights")
    return card.build(), card


def synthetic_tabletop(K: CameraIntrinsics, height: float = 0.6, seed: int = 0) -> np.ndarray:
    """A depth image of a table ``height`` below the camera with a few boxes on it (for timing only)."""
    rng = np.random.default_rng(seed)
    depth = np.full((K.height, K.width), height, np.float32)
    hu, hv = max(2, K.width // 32), max(2, K.height // 16)   # boxes of about 4 x 8 cm at 0.6 m
    for _ in range(5):
        u, v = rng.integers(K.width // 5, K.width - K.width // 5), rng.integers(K.height // 5, K.height - K.height // 5)
        depth[v - hv:v + hv, u - hu:u + hu] = height - rng.uniform(0.02, 0.08)
    return depth


def benchmark(runs: int = 3, threads: int | None = None) -> str:
    if threads:
        torch.set_num_threads(threads)
    K = CameraIntrinsics(640, 480, 615.0, 615.0, 320.0, 240.0)
    depth = synthetic_tabletop(K)
    net, card = untrained()
    lines = [f"GraspNet6DoF, random weights, 20,000-point cloud, torch fp32, {torch.get_num_threads()} threads, "
             f"median of {runs} after one warm-up", "", "| OperationNet on | ms per plan |", "|---|---|"]
    for seeds in (None, 256):
        pred = GraspPredictor6D((net, dataclasses.replace(card, operation_seeds=seeds)))
        pred.predict(depth, K)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            pred.predict(depth, K)
            times.append(1000 * (time.perf_counter() - t0))
        lines.append(f"| {'all 1024 seeds (the paper)' if seeds is None else f'the {seeds} most graspable seeds'} "
                     f"| {statistics.median(times):.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grasp_perception.pointcloud.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--benchmark", action="store_true", help="print CPU ms per plan")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    if not a.benchmark:
        p.error("nothing to do: give --benchmark")
    print(benchmark(a.runs, a.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
