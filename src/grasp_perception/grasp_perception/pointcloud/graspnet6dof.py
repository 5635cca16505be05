"""GraspNet-1Billion's baseline 6-DoF grasp network (Fang et al., CVPR 2020, section 4), in plain PyTorch.

A scene point cloud ``(B, N, 3)`` (camera frame, metres) goes through a PointNet++ backbone (four set
abstractions to 2048/1024/512/256 points, radii 0.04/0.1/0.2/0.3 m, groups of 64/32/16/16; two feature
propagations back to M = 1024 seed points x 256 features). ApproachNet scores each seed as graspable or not
and each of V = 300 approach directions (MLP 256-302-302). For each seed's approach, the points in a cylinder
along it (radius 5 cm, from 2 cm behind the seed to each of the K = 4 approach depths 0.01-0.04 m) are turned
into the approach frame and pooled (MLP 64-128-256); OperationNet gives, per depth and each of A = 12 in-plane
rotation bins over 0-180 deg, a rotation-bin score, a grasp score and a width (MLP 128-128-36), and
ToleranceNet the perturbation each can resist (MLP 128-64-12). :func:`decode` turns the outputs into ranked
6-DoF grasps (:class:`Grasps6D`).

Where the paper leaves a choice open, this follows the authors' released baseline as far as its facts go
(the feature widths of the backbone are VoteNet's, which it reuses; the cylinder's radius and extent) and
says so here:
- the cylinder takes the first 64 of its points among a uniform sample of 512 points of the ball that
  holds it (the CUDA op scans the whole cloud); an emptier cylinder is padded with the seed itself;
- in training, OperationNet and ToleranceNet look along each seed's ground-truth best approach (teacher
  forcing); at inference along its best predicted one;
- grasp frame is ``grasp_perception.geometry``'s (x closing, y along the jaw, z approach); the seed point
  is the grasp point and the fingertips reach ``depth`` past it along z.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .pointnet2 import FeaturePropagation, SetAbstraction, ball_query, gather_points, mlp1d, mlp2d, shared_mlp_last

__all__ = ["GraspNet6DoF", "Proposal", "GraspNetOutputs", "GraspNetTargets", "Grasps6D", "graspnet_loss", "decode",
           "approach_views", "approach_frames", "DEPTHS", "N_ANGLES", "N_VIEWS"]

N_VIEWS = 300
N_ANGLES = 12
DEPTHS = (0.01, 0.02, 0.03, 0.04)
CYLINDER_RADIUS = 0.05
CYLINDER_BACK = 0.02     # the cylinder starts this far behind the seed, along the approach
CYLINDER_POINTS = 64
CYLINDER_CANDIDATES = 512  # nearest points tried for each cylinder (a ball of radius hypot(0.05, 0.04) m)
LOSS_WEIGHTS = {"lambda1": 0.5, "lambda2": 1.0, "lambda3": 0.2, "alpha": 0.5, "beta": 0.1}
MAX_WIDTH = 0.1            # widths are predicted in units of 10 cm (graspnetAPI clips widths at 0.1 m)
MAX_TOLERANCE = 0.05       # tolerances in units of 5 cm


def approach_views(n: int = N_VIEWS) -> Tensor:
    """``(n, 3)`` unit approach directions spread evenly over the sphere (a Fibonacci lattice)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * k / n
    r = torch.sqrt(1.0 - z * z)
    phi = math.pi * (3.0 - math.sqrt(5.0)) * k
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=-1).float()


def approach_frames(approach: Tensor, angle: Tensor | float = 0.0) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` (columns: closing, jaw, approach) for unit ``approach`` (..., 3)
    turned ``angle`` (rad) about it. The zero angle is the paper's O_ij: jaw axis ``[0, -a_z, a_y]``
    (normalised), closing = jaw x approach; for an approach along x, where that is undefined, jaw = y."""
    a = F.normalize(approach, dim=-1)
    jaw = torch.stack([torch.zeros_like(a[..., 0]), -a[..., 2], a[..., 1]], dim=-1)
    degenerate = jaw.norm(dim=-1, keepdim=True) < 1e-6
    jaw = torch.where(degenerate, torch.tensor([0.0, 1.0, 0.0], dtype=a.dtype, device=a.device), jaw)
    jaw = F.normalize(jaw, dim=-1)
    closing = torch.cross(jaw, a, dim=-1)
    angle = torch.as_tensor(angle, dtype=a.dtype, device=a.device)
    c, s = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    closing, jaw = c * closing + s * jaw, -s * closing + c * jaw
    return torch.stack([closing, jaw, a], dim=-1)


@dataclass
class Proposal:
    seeds: Tensor          # (B, M, 3) seed points (camera frame)
    seed_index: Tensor     # (B, M) their indices in the input cloud
    objectness: Tensor     # (B, 2, M) graspable logits
    view_scores: Tensor    # (B, V, M)


@dataclass
class GraspNetOutputs(Proposal):
    """A :class:`Proposal` (possibly cut to the operated seeds) and the operation outputs."""

    views: Tensor          # (B, M) the approach used for each seed's operation outputs
    angle_logits: Tensor   # (B, A, M, K)
    scores: Tensor         # (B, A, M, K) grasp confidence
    widths: Tensor         # (B, A, M, K) metres
    tolerances: Tensor     # (B, A, M, K) metres


@dataclass
class GraspNetTargets:
    """Per seed (matched to the labels, see the training data): ``objectness`` (B, M) 1 graspable, 0 not,
    -1 ignored; ``view_scores`` (B, V, M) the best grasp score along each view, ``view_mask`` (B, V, M)
    where it counts (a label view within 5 deg); ``views`` (B, M) the best view (where the operation targets
    are); ``valid`` (B, A, M, K) which (rotation bin, depth) are grasps; ``scores``, ``widths``,
    ``tolerances`` (B, A, M, K) their values (metres)."""

    objectness: Tensor
    view_scores: Tensor
    view_mask: Tensor
    views: Tensor
    valid: Tensor
    scores: Tensor
    widths: Tensor
    tolerances: Tensor


class GraspNet6DoF(nn.Module):
    """``sample_sizes``: points kept by the four set abstractions (the second is the seed count M); the
    paper's by default, smaller ones for tests and quick runs."""

    def __init__(self, n_views: int = N_VIEWS, n_angles: int = N_ANGLES, depths=DEPTHS,
                 sample_sizes=(2048, 1024, 512, 256)):
        super().__init__()
        self.n_views, self.n_angles, self.depths = n_views, n_angles, tuple(depths)
        self.sample_sizes = tuple(int(n) for n in sample_sizes)
        self.register_buffer("view_dirs", approach_views(n_views), persistent=False)
        n1, n2, n3, n4 = self.sample_sizes
        sa = [(n1, 0.04, 64, 0, (64, 64, 128)), (n2, 0.1, 32, 128, (128, 128, 256)),
              (n3, 0.2, 16, 256, (128, 128, 256)), (n4, 0.3, 16, 256, (128, 128, 256))]
        self.sa = nn.ModuleList(SetAbstraction(n, r, k, cin, mlp) for n, r, k, cin, mlp in sa)
        self.fp1 = FeaturePropagation(256 + 256, (256, 256))
        self.fp2 = FeaturePropagation(256 + 256, (256, 256))
        self.approach = nn.Sequential(mlp1d((256, 256, 2 + n_views)), nn.Conv1d(2 + n_views, 2 + n_views, 1))
        self.crop = mlp2d((3, 64, 128, 256))
        self.operation = nn.Sequential(mlp1d((256, 128, 128)), nn.Conv1d(128, 3 * n_angles, 1))
        self.tolerance = nn.Sequential(mlp1d((256, 128, 64)), nn.Conv1d(64, n_angles, 1))

    def backbone(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(seed points (B, M, 3), their indices in ``points`` (B, M), seed features (B, 256, M))."""
        xyz, feats, levels, index = points, None, [], None
        for sa in self.sa:
            xyz, feats, idx = sa(xyz, feats)
            index = idx if index is None else torch.gather(index, 1, idx)  # indices into the input cloud
            levels.append((xyz, feats, index))
        (x2, f2, i2), (x3, f3, _), (x4, f4, _) = levels[1], levels[2], levels[3]
        f3 = self.fp1(x3, x4, f3, f4)
        return x2, i2, self.fp2(x2, x3, f2, f3)

    def cylinder_features(self, points: Tensor, seeds: Tensor, frames: Tensor) -> Tensor:
        """(B, 256, M, K): the points in each seed's cylinder, per approach depth, in its approach frame."""
        with torch.no_grad():
            # a uniform sample of the ball around the seed that holds every cylinder (see ball_query)
            reach = math.hypot(CYLINDER_RADIUS, max(max(self.depths), CYLINDER_BACK))
            idx = ball_query(points, seeds, reach, min(CYLINDER_CANDIDATES, points.shape[1]))
            local = torch.einsum("bmkc,bmcd->bmkd", gather_points(points, idx) - seeds[:, :, None], frames)
            radial = local[..., 0] ** 2 + local[..., 1] ** 2 < CYLINDER_RADIUS ** 2
            n = local.shape[2]
            slot = torch.arange(n, device=points.device)
        out = []
        for depth in self.depths:
            with torch.no_grad():
                inside = radial & (local[..., 2] > -CYLINDER_BACK) & (local[..., 2] < depth)
                # the first CYLINDER_POINTS inside; an emptier cylinder repeats the seed (the origin)
                first = torch.topk(torch.where(inside, slot, slot + n), CYLINDER_POINTS, dim=-1,
                                   largest=False).values
                found = first < n
                pts = torch.gather(local, 2, torch.where(found, first, 0)[..., None].expand(-1, -1, -1, 3))
                pts = torch.where(found[..., None], pts, torch.zeros_like(pts))           # (B, M, 64, 3)
            out.append(shared_mlp_last(self.crop, pts / CYLINDER_RADIUS).amax(dim=2))   # (B, M, 256)
        return torch.stack(out, dim=-1).transpose(1, 2)                                    # (B, 256, M, K)

    def forward(self, points: Tensor, views: Tensor | None = None, operation_seeds: int | None = None
                ) -> GraspNetOutputs:
        """``points`` (B, N, 3), in random order (see :func:`ball_query`); ``views`` (B, M): the approach index
        per seed to evaluate the operation along, default each seed's best predicted view (training passes
        the targets' best views: :meth:`propose`, then targets for its seeds, then :meth:`operate`).
        ``operation_seeds`` (inference): run OperationNet and ToleranceNet only on that many seeds, the most
        graspable ones (the outputs then hold those seeds)."""
        return self.operate(points, self.propose(points), views, operation_seeds)

    def propose(self, points: Tensor) -> Proposal:
        """Backbone and ApproachNet."""
        if points.shape[1] < self.sample_sizes[0]:
            raise ValueError(f"GraspNet6DoF: the cloud has {points.shape[1]} points, fewer than the first set "
                             f"abstraction samples ({self.sample_sizes[0]})")
        seeds, index, feats = self.backbone(points)
        a = self.approach(feats)
        return Proposal(seeds, index, a[:, :2], a[:, 2:])

    def operate(self, points: Tensor, p: Proposal, views: Tensor | None = None,
                operation_seeds: int | None = None) -> GraspNetOutputs:
        """Cylinder crops, OperationNet and ToleranceNet along ``views`` (default the best predicted)."""
        seeds, index, objectness, view_scores = p.seeds, p.seed_index, p.objectness, p.view_scores
        if views is None:
            views = view_scores.argmax(dim=1)
        if operation_seeds is not None and operation_seeds < seeds.shape[1]:
            keep = (objectness[:, 1] - objectness[:, 0]).topk(operation_seeds, dim=-1).indices     # (B, S)
            seeds, views, index = gather_points(seeds, keep), torch.gather(views, 1, keep), torch.gather(index, 1, keep)
            objectness = torch.gather(objectness, 2, keep[:, None].expand(-1, 2, -1))
            view_scores = torch.gather(view_scores, 2, keep[:, None].expand(-1, view_scores.shape[1], -1))
        frames = approach_frames(self.view_dirs[views])                         # (B, M, 3, 3)
        crop = self.cylinder_features(points, seeds, frames)                     # (B, 256, M, K)
        B, C, M, K = crop.shape
        flat = crop.reshape(B, C, M * K)
        op = self.operation(flat).view(B, 3, self.n_angles, M, K)
        tol = self.tolerance(flat).view(B, self.n_angles, M, K)
        return GraspNetOutputs(seeds, index, objectness, view_scores, views, op[:, 0], op[:, 1],
                               op[:, 2] * MAX_WIDTH, tol * MAX_TOLERANCE)


def graspnet_loss(out: GraspNetOutputs, t: GraspNetTargets, w: dict = LOSS_WEIGHTS) -> dict:
    """Eq. 8: L = L_A + alpha L_R + beta L_F with eqs. 5-7 (the terms are returned too).

    L_A: two-class softmax on graspable (ignored seeds left out) + lambda1 smooth L1 on the view scores
    where ``view_mask``; L_R, summed over the K depths: sigmoid cross-entropy on the rotation bins of
    graspable seeds + lambda2 / lambda3 smooth L1 on score and width of the valid (bin, depth) pairs; L_F:
    smooth L1 on their tolerances. Widths and tolerances are compared in the network's units."""
    known = t.objectness >= 0
    cls = F.cross_entropy(out.objectness.permute(0, 2, 1)[known], t.objectness[known].long()) if known.any() \
        else out.objectness.sum() * 0
    vm = t.view_mask.bool()
    view = F.smooth_l1_loss(out.view_scores[vm], t.view_scores[vm]) if vm.any() else out.view_scores.sum() * 0
    graspable = (t.objectness == 1)[:, None, :, None].expand_as(t.valid)         # (B, A, M, K)
    valid = t.valid.bool() & graspable
    K = t.valid.shape[-1]
    rot = score = width = tol = out.scores.sum() * 0
    for k in range(K):
        g, v = graspable[..., k], valid[..., k]
        if g.any():
            rot = rot + F.binary_cross_entropy_with_logits(out.angle_logits[..., k][g], t.valid[..., k][g].float())
        if v.any():
            score = score + F.smooth_l1_loss(out.scores[..., k][v], t.scores[..., k][v])
            width = width + F.smooth_l1_loss(out.widths[..., k][v] / MAX_WIDTH, t.widths[..., k][v] / MAX_WIDTH)
            tol = tol + F.smooth_l1_loss(out.tolerances[..., k][v] / MAX_TOLERANCE,
                                         t.tolerances[..., k][v] / MAX_TOLERANCE)
    l_a = cls + w["lambda1"] * view
    l_r = rot + w["lambda2"] * score + w["lambda3"] * width
    total = l_a + w["alpha"] * l_r + w["beta"] * tol
    return {"total": total, "objectness": cls, "view": view, "rotation": rot, "score": score, "width": width,
            "tolerance": tol}


@dataclass
class Grasps6D:
    """Ranked 6-DoF grasps in the cloud's frame: ``R`` (G, 3, 3) columns closing, jaw, approach; ``t`` (G, 3)
    grasp points; ``width``, ``depth`` (fingertips past t), ``score``, ``tolerance`` (G,)."""

    R: Tensor
    t: Tensor
    width: Tensor
    depth: Tensor
    score: Tensor
    tolerance: Tensor


def decode(out: GraspNetOutputs, net: GraspNet6DoF, batch: int = 0, graspable_only: bool = True) -> Grasps6D:
    """One grasp per seed: its approach, the rotation bin with the best bin score, the depth with the best
    grasp score at that bin; ranked as the paper's inference does: 10 score bins, and within a bin by the
    predicted tolerance. ``graspable_only`` keeps the seeds ApproachNet calls graspable."""
    b = batch
    A, M, K = out.scores.shape[1:]
    seeds = torch.arange(M, device=out.scores.device)
    angle = out.angle_logits[b].amax(dim=-1).argmax(dim=0)                    # (M,) best rotation bin
    depth = out.scores[b][angle, seeds].argmax(dim=-1)                         # (M,) best depth at that bin
    pick = lambda x: x[b][angle, seeds, depth]  # noqa: E731
    score, width, tol = pick(out.scores), pick(out.widths).clamp(0, MAX_WIDTH), pick(out.tolerances)
    R = approach_frames(net.view_dirs[out.views[b]], angle.float() * math.pi / A)
    keep = out.objectness[b].argmax(dim=0) == 1 if graspable_only else torch.ones(M, dtype=torch.bool)
    depths = torch.tensor(net.depths, device=score.device)[depth]
    rank = torch.floor(score.clamp(0, 0.999) * 10) + (tol / MAX_TOLERANCE).clamp(0, 1) * 0.999  # bin, then tolerance
    order = torch.argsort(rank[keep], descending=True)
    sel = torch.nonzero(keep).flatten()[order]
    return Grasps6D(R[sel], out.seeds[b][sel], width[sel], depths[sel], score[sel], tol[sel])
