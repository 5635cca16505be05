"""Reading the 6-DoF training data (the layout ``grasp_sim.generate_6dof`` writes, described there), and one
training step of the 6-DoF network on it.

A sample is one view: its cloud (``n_points`` drawn at random, so in random order), the segment of each point,
and the labels of the scene's objects with the scene's collisions removed, posed in the camera frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .graspnet6dof import GraspNet6DoF, graspnet_loss
from .targets import ObjectLabels, scene_targets, to_tensors

__all__ = ["read_object_labels", "scene_collision", "GraspDataset6D", "loss_terms", "train_step"]


def read_object_labels(path: str | Path) -> dict[str, np.ndarray]:
    """points (P, 3), scores / widths / tolerances (P, V, A, D) as float32."""
    with np.load(path) as z:
        return {k: z[k].astype(np.float32) for k in ("points", "scores", "widths", "tolerances")}


def scene_collision(scene: np.lib.npyio.NpzFile, name: str, shape: tuple) -> np.ndarray:
    """The (P, V, A, D) bool mask of ``name``'s grasps that collide in ``scene``."""
    bits = scene[f"collision_{name}"]
    return np.unpackbits(bits)[:int(np.prod(shape))].reshape(shape).astype(bool)


class GraspDataset6D:
    def __init__(self, root: str | Path, n_points: int = 20000, seed: int = 0):
        self.root = Path(root)
        self.views = sorted(p for p in self.root.glob("scene_*/view_*.npz") if (p.parent / "scene.npz").exists())
        if not self.views:
            raise ValueError(f"{self.root}: no finished scene (scene_*/scene.npz with view_*.npz); "
                             f"write one with python -m grasp_sim.generate_6dof")
        self.n_points = n_points
        self.rng = np.random.default_rng(seed)
        self._labels: dict[str, dict] = {}

    def __len__(self) -> int:
        return len(self.views)

    def labels(self, name: str) -> dict:
        if name not in self._labels:
            self._labels[name] = read_object_labels(self.root / "objects" / f"{name}.npz")
        return self._labels[name]

    def __getitem__(self, i: int) -> dict:
        path = self.views[i]
        with np.load(path) as view, np.load(path.parent / "scene.npz") as scene:
            cloud, segment = view["cloud"], view["segment"].astype(np.int64)
            cam_T_world = np.linalg.inv(view["world_T_cam"])
            objects = []
            for k, name in enumerate(str(n) for n in scene["names"]):
                lab = self.labels(name)
                scores = np.where(scene_collision(scene, name, lab["scores"].shape), 0.0, lab["scores"])
                objects.append(ObjectLabels(lab["points"], scores, lab["widths"], lab["tolerances"],
                                            cam_T_world @ scene["world_T_obj"][k], int(scene["segments"][k])))
        pick = self.rng.choice(len(cloud), size=self.n_points, replace=len(cloud) < self.n_points)
        return {"cloud": cloud[pick], "segment": segment[pick], "objects": objects, "path": str(path)}


def _losses(net: GraspNet6DoF, samples: list[dict]) -> dict:
    """Propose, targets for the proposed seeds, operate along the targets' best views (teacher forcing), eq. 8."""
    points = torch.from_numpy(np.stack([s["cloud"] for s in samples])).float()
    proposal = net.propose(points)
    seeds, index = proposal.seeds.detach().numpy(), proposal.seed_index.numpy()
    targets = to_tensors([scene_targets(seeds[b], s["segment"][index[b]], s["objects"], net.n_views)
                          for b, s in enumerate(samples)])
    return graspnet_loss(net.operate(points, proposal, views=targets.views), targets)


def loss_terms(net: GraspNet6DoF, samples: list[dict]) -> dict:
    """The loss terms of a batch as floats, without a step (validation)."""
    return {k: float(v.detach()) for k, v in _losses(net, samples).items()}


def train_step(net: GraspNet6DoF, samples: list[dict], optimiser: torch.optim.Optimizer) -> dict:
    """One step on a batch of samples (eq. 8, backward, step). Returns the loss terms as floats."""
    losses = _losses(net, samples)
    optimiser.zero_grad()
    losses["total"].backward()
    optimiser.step()
    return {k: float(v.detach()) for k, v in losses.items()}
