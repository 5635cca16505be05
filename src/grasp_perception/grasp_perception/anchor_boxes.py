"""Oriented anchor-box grasp regression with a graspability scorer: the representation, targets, losses and
decoding (the graspability-scorer paper, ``../shared/papers/graspability-scorer-anchor-regression-jacquard.txt``,
secs. III-IV; the anchors of Zhou et al.).

**Grid and anchors.** The feature map has one cell per ``stride`` (16) input pixels. Every cell carries
``k`` (6) oriented anchors with the mean ground-truth box of the training set (``width`` = opening,
``height`` = jaw; the paper's ``w``, ``h``) and angles at the centres of ``k`` equal bins of
``[-90°, 90°)`` (-75°, -45°, ... 75° for k = 6). An anchor's centre is its cell's centre in input pixels.

**Eq. 2.** A grasp is a deformation ``δ`` of an anchor: ``x = δx·w_a + x_a``, ``y = δy·h_a + y_a``,
``w = exp(δw)·w_a``, ``h = exp(δh)·h_a``, ``θ = δθ·(180°/k) + θ_a`` (x and y scale with the anchor's
width and height, as the paper writes it).

**Targets.** Angle matching (the primary score): an anchor is positive when a ground-truth grasp is centred
in its cell within half a bin (15° at k = 6) of its angle; its regression target is that grasp's ``δ``
(the grasp nearest the cell centre when several qualify). The scorer's labels use Jaccard matching at
training time (15° and IoU ≥ 0.25 against any ground truth, the paper's setting), computed in the loss on
the ``T`` = 64 anchors with the best primary scores of each image.

**Losses** (eqs. 3-5). Softmax cross-entropy on the primary score over the ``P`` positives and ``3P``
sampled negatives of the batch; on the scorer over the ``T`` selected grasps; and the regression loss
``α/P Σ smoothL1(δ - δ̂) - 1/T Σ log p̂s`` with ``α = 2``. The scorer term reaches only the scorer and the
feature extractor (the network detaches ``δ̂`` on its way into the scorer), the regression term only the
predictor and the feature extractor (the network evaluates the scorer for it with detached weights).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .grasp import ImageGrasp, angle_to_bin, wrap_angle
from .metrics import grasp_matches

OUTPUT_NAMES = ("deltas", "primary", "score")
MAX_GT = 256          # ground-truth grasps per image kept for the scorer's Jaccard matching
TOP_T = 64            # the paper's T
ALPHA = 2.0           # eq. 5, as in Zhou et al.
MATCH_ANGLE = math.radians(15.0)
MATCH_IOU = 0.25


class AnchorTargets(NamedTuple):
    """``positive`` (k, G, G) 0/1, ``deltas`` (k, 5, G, G) regression targets where positive, ``gt``
    (MAX_GT, 5) rows of ``u, v, angle, width, jaw`` padded with NaN (for Jaccard matching)."""

    positive: np.ndarray
    deltas: np.ndarray
    gt: np.ndarray


def anchor_angles(k: int) -> np.ndarray:
    """The ``k`` anchor angles (radians): centres of ``k`` equal bins of ``[-π/2, π/2)``."""
    return -np.pi / 2 + (np.arange(k) + 0.5) * np.pi / k


def cell_centres(grid: int, stride: int) -> np.ndarray:
    """Input-pixel coordinate of each cell centre along one axis (pixel centres at integers)."""
    return (np.arange(grid) + 0.5) * stride - 0.5


def encode(fields: np.ndarray, anchor_uv: np.ndarray, anchor_angle: np.ndarray, width: float, height: float,
           k: int) -> np.ndarray:
    """Eq. 2 inverted: ``(n, 5)`` grasps ``u, v, angle, width, jaw`` -> ``(n, 5)`` deltas for their anchors."""
    u, v, angle, w, h = fields.T
    return np.stack([(u - anchor_uv[:, 0]) / width, (v - anchor_uv[:, 1]) / height,
                     np.log(np.maximum(w, 1e-3) / width), np.log(np.maximum(h, 1e-3) / height),
                     wrap_angle(angle - anchor_angle) / (np.pi / k)], axis=1)


def decode_deltas(deltas: np.ndarray, width: float, height: float, stride: int) -> np.ndarray:
    """Eq. 2 on a ``(k, 5, G, G)`` delta map -> ``(k, G, G, 5)`` grasps ``u, v, angle, width, jaw``."""
    k, _, g, _ = deltas.shape
    c = cell_centres(g, stride)
    dx, dy, dw, dh, dt = (deltas[:, i] for i in range(5))
    u = dx * width + c[None, None, :]
    v = dy * height + c[None, :, None]
    angle = wrap_angle(dt * (np.pi / k) + anchor_angles(k)[:, None, None])
    return np.stack([u, v, angle, np.exp(np.clip(dw, -10, 10)) * width, np.exp(np.clip(dh, -10, 10)) * height],
                    axis=-1)


def anchor_targets(grasps, shape, *, k: int, stride: int, width: float, height: float) -> AnchorTargets:
    """Angle-matching targets of ``grasps`` on an input of ``shape`` (see the module docstring)."""
    h_img, w_img = (int(x) for x in shape)
    if h_img != w_img or h_img % stride:
        raise ValueError(f"anchor targets need a square input that is a multiple of {stride}, got {shape!r}")
    g = h_img // stride
    positive = np.zeros((k, g, g), np.float32)
    deltas = np.zeros((k, 5, g, g), np.float32)
    gt = np.full((MAX_GT, 5), np.nan, np.float32)
    grasps = list(grasps)
    if not grasps:
        return AnchorTargets(positive, deltas, gt)
    fields = np.array([[x.u, x.v, x.angle, x.width, x.jaw] for x in grasps])
    keep = np.linspace(0, len(fields) - 1, min(len(fields), MAX_GT)).round().astype(int)  # an even subset
    gt[:len(keep)] = fields[keep]
    col = np.floor((fields[:, 0] + 0.5) / stride).astype(np.int64)
    row = np.floor((fields[:, 1] + 0.5) / stride).astype(np.int64)
    inside = (row >= 0) & (row < g) & (col >= 0) & (col < g)
    fields, row, col = fields[inside], row[inside], col[inside]
    a = angle_to_bin(fields[:, 2], k)  # the anchor whose bin holds the angle: within half a bin of it
    c = cell_centres(g, stride)
    uv = np.stack([c[col], c[row]], axis=1)
    # Per (anchor, cell), the grasp nearest the cell centre.
    dist = np.hypot(*(fields[:, :2] - uv).T)
    cell = (a * g + row) * g + col
    order = np.lexsort((dist, cell))
    first = np.ones(len(order), bool)
    first[1:] = cell[order][1:] != cell[order][:-1]
    pick = order[first]
    d = encode(fields[pick], uv[pick], anchor_angles(k)[a[pick]], width, height, k)
    positive.reshape(-1)[cell[pick]] = 1.0
    deltas[a[pick], :, row[pick], col[pick]] = d
    return AnchorTargets(positive, deltas, gt)


def _grasps_of(rows: np.ndarray) -> list[ImageGrasp]:
    return [ImageGrasp(u=float(r[0]), v=float(r[1]), angle=float(r[2]), width=float(r[3]), jaw=float(r[4]))
            for r in rows]


def jaccard_labels(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """1 where a predicted ``(n, 5)`` grasp matches any ground truth (15°, IoU ≥ 0.25), else 0."""
    gt = gt[~np.isnan(gt[:, 0])]
    labels = np.zeros(len(pred), np.float32)
    if not len(gt) or not len(pred):
        return labels
    gts = _grasps_of(gt)
    for i, p in enumerate(pred):
        if not np.all(np.isfinite(p)):
            continue
        # Only ground truths near enough to overlap can match: the IoU test is the expensive part.
        near = np.hypot(gt[:, 0] - p[0], gt[:, 1] - p[1]) < 0.5 * (gt[:, 3] + p[3]) + 0.5 * (gt[:, 4] + p[4])
        if near.any():
            labels[i] = float(grasp_matches(_grasps_of(p[None])[0], [gts[j] for j in np.flatnonzero(near)],
                                            MATCH_IOU, max_angle=MATCH_ANGLE))
    return labels


class AnchorLoss:
    """Eqs. 3-5; call as ``loss(pred, target) -> (total, parts)``.

    ``pred`` is the network's training output (``network(x, logits=True)``): ``deltas`` (B, k, 5, G, G),
    ``primary`` logits (B, k, 2, G, G), ``score`` logits with ``δ̂`` detached (B, k, 2, G, G; the scorer's
    own loss) and ``score_fixed`` logits from detached scorer weights (the regression loss's term). With
    ``scorer=False`` only eq. 3 and the smooth-L1 part of eq. 5 are used (the paper's baseline).
    """

    needs_logits = True

    def __init__(self, width: float, height: float, stride: int, scorer: bool = True, top_t: int = TOP_T,
                 alpha: float = ALPHA, seed: int = 0):
        self.width, self.height, self.stride = float(width), float(height), int(stride)
        self.scorer, self.top_t, self.alpha = bool(scorer), int(top_t), float(alpha)
        self.generator = torch.Generator().manual_seed(seed)   # negative sampling, reproducible

    def __call__(self, pred, target) -> tuple[torch.Tensor, dict[str, float]]:
        deltas, primary, score, score_fixed = pred
        positive, delta_t, gt = (torch.as_tensor(t, device=deltas.device) for t in target)
        pos = positive.flatten() > 0
        p_logits = primary.permute(0, 1, 3, 4, 2).reshape(-1, 2)
        # Eq. 3: P positives and 3P negatives drawn from the rest of the batch.
        n_pos = int(pos.sum())
        neg_idx = torch.nonzero(~pos).flatten()
        n_neg = min(len(neg_idx), 3 * max(n_pos, 1))
        neg_idx = neg_idx[torch.randperm(len(neg_idx), generator=self.generator)[:n_neg].to(neg_idx.device)]
        idx = torch.cat([torch.nonzero(pos).flatten(), neg_idx])
        loss_inter = F.cross_entropy(p_logits[idx], pos[idx].long())
        # Eq. 5, first term: smooth L1 summed over the five parameters, averaged over the positives.
        d_pred = deltas.permute(0, 1, 3, 4, 2).reshape(-1, 5)[pos]
        d_true = delta_t.permute(0, 1, 3, 4, 2).reshape(-1, 5)[pos].to(d_pred.dtype)
        loss_l1 = self.alpha * F.smooth_l1_loss(d_pred, d_true, reduction="sum") / max(n_pos, 1)
        parts = {"primary": float(loss_inter.detach()), "regression": float(loss_l1.detach())}
        total = loss_inter + loss_l1
        if self.scorer:
            loss_scorer, loss_guide = self._scorer_terms(deltas, primary, score, score_fixed, gt)
            total = total + loss_scorer + loss_guide
            parts.update(scorer=float(loss_scorer.detach()), guide=float(loss_guide.detach()))
        parts["total"] = float(total.detach())
        return total, parts

    def _scorer_terms(self, deltas, primary, score, score_fixed, gt):
        b, k, _, g, _ = deltas.shape
        t = min(self.top_t, k * g * g)
        # The T anchors of each image with the best primary scores, by the PGP's own (visual) judgement.
        p_good = primary.detach().softmax(2)[:, :, 1].reshape(b, -1)
        top = p_good.topk(t, dim=1).indices                                                  # (B, T)
        grasps = decode_deltas_torch(deltas.detach(), self.width, self.height, self.stride)  # (B, k*G*G, 5)
        labels = torch.stack([torch.from_numpy(jaccard_labels(grasps[i, top[i]].cpu().numpy().astype(np.float64),
                                                              gt[i].cpu().numpy().astype(np.float64)))
                              for i in range(b)]).to(deltas.device).long()                   # (B, T)

        def at_top(s):
            s = s.permute(0, 1, 3, 4, 2).reshape(b, -1, 2)
            return torch.gather(s, 1, top[..., None].expand(-1, -1, 2))

        loss_scorer = F.cross_entropy(at_top(score).reshape(-1, 2), labels.reshape(-1))
        loss_guide = -F.log_softmax(at_top(score_fixed), dim=-1)[..., 1].mean()   # eq. 5's second term
        return loss_scorer, loss_guide


def decode_deltas_torch(deltas: torch.Tensor, width: float, height: float, stride: int) -> torch.Tensor:
    """:func:`decode_deltas` for a batch of torch deltas ``(B, k, 5, G, G)`` -> ``(B, k*G*G, 5)``."""
    return torch.from_numpy(np.stack([decode_deltas(d, width, height, stride).reshape(-1, 5)
                                      for d in deltas.cpu().numpy()]))


def detect_anchor_grasps(deltas, primary, score, *, width: float, height: float, stride: int, top_k: int | None = 1,
                         min_distance: int = 0, threshold: float | None = None, max_width: float | None = None,
                         jaw_ratio: float | None = None, quality_sigma: float = 0.0, angle_sigma: float = 0.0,
                         width_sigma: float = 0.0) -> list[ImageGrasp]:
    """Ranked grasps from one image's ``deltas`` (k, 5, G, G) and ``score`` (k, G, G): every anchor decoded by
    eq. 2, ranked by the scorer's likelihood (the primary score where the network has no scorer), greedily
    spaced by more than ``min_distance`` px. The regression gives width and jaw, so ``max_width``,
    ``jaw_ratio`` and the smoothing sigmas of a card's post-processing are accepted and not used."""
    deltas, score = (np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, np.float64) for x in (deltas, score))
    grasps = decode_deltas(deltas, width, height, stride).reshape(-1, 5)
    s = score.reshape(-1)
    order = np.argsort(-s, kind="stable")
    if threshold is not None:
        order = order[s[order] > threshold]
    kept: list[int] = []
    for i in order:
        if not np.all(np.isfinite(grasps[i])):
            continue
        if min_distance and any(max(abs(grasps[i, 0] - grasps[j, 0]), abs(grasps[i, 1] - grasps[j, 1])) <= min_distance
                                for j in kept):
            continue
        kept.append(int(i))
        if top_k is not None and len(kept) >= top_k:
            break
    k = deltas.shape[0]
    return [ImageGrasp(u=float(grasps[i, 0]), v=float(grasps[i, 1]), angle=float(grasps[i, 2]),
                       width=float(grasps[i, 3]), jaw=float(grasps[i, 4]), quality=float(s[i]),
                       angle_bin=int(i // (s.size // k))) for i in kept]
