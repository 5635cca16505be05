"""PointNet++ (Qi et al. 2017) in plain PyTorch: farthest-point sampling, ball query, set abstraction and
feature propagation, without the custom CUDA ops of the reference code (none can be built here).

Shapes: points ``xyz`` are ``(B, N, 3)``, features ``(B, C, N)``; index tensors are ``int64``.

Ball query keeps the reference op's rule (the first ``k`` points of the ball in index order), so clouds
should come in random order, as a random sample of a depth image does. Work is done in chunks of centres so
the distance matrix of a 20k-point cloud fits in memory.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["farthest_point_sample", "ball_query", "gather_points", "group", "SetAbstraction",
           "FeaturePropagation", "three_nn_interpolate", "shared_mlp_last"]

CHUNK = 512  # centres per distance-matrix chunk


def farthest_point_sample(xyz: Tensor, m: int) -> Tensor:
    """``(B, m)`` indices of ``m`` points of ``xyz`` (B, N, 3) chosen by farthest-point sampling, starting at
    point 0 (as the reference op does): each next point is the one farthest from those already chosen.

    The loop of ``m`` dependent steps is the cost, so each step must be cheap: on the CPU it runs in NumPy,
    whose small-array calls cost a fraction of PyTorch's (2048 steps on 20k points: ~4x faster); other devices
    run the same steps as tensor ops."""
    B, N, _ = xyz.shape
    if not 1 <= m <= N:
        raise ValueError(f"farthest_point_sample: m must be in 1..{N} (the number of points), got {m}")
    if xyz.device.type == "cpu":
        return torch.from_numpy(np.stack([_fps_numpy(xyz[b].detach().numpy(), m) for b in range(B)]))
    return torch.stack([_fps_torch(xyz[b], m) for b in range(B)])


def _fps_torch(pts: Tensor, m: int) -> Tensor:
    """:func:`farthest_point_sample` of one cloud (N, 3) as tensor ops (any device)."""
    nearest = torch.full((len(pts),), float("inf"), dtype=pts.dtype, device=pts.device)
    idx = torch.zeros(m, dtype=torch.long, device=pts.device)
    far = 0
    for i in range(m):
        idx[i] = far
        torch.minimum(nearest, ((pts - pts[far]) ** 2).sum(-1), out=nearest)
        far = int(nearest.argmax())
    return idx


def _fps_numpy(pts: np.ndarray, m: int) -> np.ndarray:
    """:func:`farthest_point_sample` of one cloud (N, 3): squared distances by coordinate, into reused buffers."""
    x, y, z = (np.ascontiguousarray(pts[:, k]) for k in range(3))
    nearest = np.full(len(pts), np.inf, pts.dtype)
    d, t = np.empty_like(nearest), np.empty_like(nearest)
    idx = np.zeros(m, np.int64)
    far = 0
    for i in range(m):
        idx[i] = far
        np.subtract(x, x[far], out=d)
        d *= d
        for c in (y, z):
            np.subtract(c, c[far], out=t)
            t *= t
            d += t
        np.minimum(nearest, d, out=nearest)
        far = int(nearest.argmax())
    return idx


LOCAL_MIN_POINTS = 8192  # clouds at least this large are queried block by block (see ball_query)
LOCAL_MAX_K = 128
LOCAL_BLOCK = 64         # centres per block


def ball_query(xyz: Tensor, centres: Tensor, radius: float, k: int) -> Tensor:
    """``(B, M, k)`` indices into ``xyz`` (B, N, 3): for each of ``centres`` (B, M, 3), the first ``k`` points
    (in index order) within ``radius``, padded with the first of them, as the reference CUDA op does. With
    the cloud in random order (a random sample of a depth image) that is a uniform sample of the ball. A
    centre with no point in its ball gets its nearest point.

    A large cloud with small groups (the first set abstraction: 2048 balls of 4 cm in 20k points) is queried
    in blocks of nearby centres (Morton order) against only the points in the block's box grown by the
    radius, which keeps their index order, so the result is the same as the full query's at a third of its
    cost."""
    B, N, _ = xyz.shape
    if N >= 2 ** 24:
        raise ValueError(f"ball_query: at most 2**24 points (float32 index keys), got {N}")
    if N >= LOCAL_MIN_POINTS and k <= LOCAL_MAX_K:
        return torch.stack([_ball_query_blocks(xyz[b], centres[b], radius, k) for b in range(B)])
    out = [_first_in_ball(xyz, c, radius, k) for c in centres.split(CHUNK, dim=1)]
    return torch.cat(out, dim=1)


def _first_in_ball(xyz: Tensor, c: Tensor, radius: float, k: int) -> Tensor:
    """The full query of centres ``c`` (B, M, 3) against every point of ``xyz`` (B, N, 3)."""
    N = xyz.shape[1]
    k_eff = min(k, N)
    order = torch.arange(N, device=xyz.device, dtype=torch.float32)
    # in place on one buffer: squared distance -> 1 outside the ball / 0 inside -> index + N * outside
    key = torch.cdist(c, xyz).square_().gt_(radius * radius).mul_(N).add_(order)
    first = torch.topk(key, k_eff, dim=-1, largest=False).values.long()  # inside first, by index
    found = first < N
    first = torch.where(found, first, first[..., :1])
    empty = ~found[..., 0]
    if empty.any():  # no point in the ball: the nearest one
        nearest = torch.cdist(c, xyz).argmin(dim=-1)
        first = torch.where(empty[..., None], nearest[..., None], first)
    if k_eff < k:
        first = torch.cat([first, first[..., :1].expand(-1, -1, k - k_eff)], dim=-1)
    return first


def _spread_bits(v: Tensor) -> Tensor:
    """10-bit integers with two zero bits after each bit (one axis of a 3-D Morton code)."""
    v = (v | (v << 16)) & 0x030000FF
    v = (v | (v << 8)) & 0x0300F00F
    v = (v | (v << 4)) & 0x030C30C3
    return (v | (v << 2)) & 0x09249249


def _ball_query_blocks(pts: Tensor, centres: Tensor, radius: float, k: int) -> Tensor:
    """:func:`ball_query` of one cloud ``pts`` (N, 3), block by block of nearby centres."""
    lo, hi = centres.min(0).values, centres.max(0).values
    q = ((centres - lo) / (hi - lo).clamp_min(1e-9) * 1023).long()
    order = torch.argsort(_spread_bits(q[:, 0]) | (_spread_bits(q[:, 1]) << 1) | (_spread_bits(q[:, 2]) << 2))
    out = torch.empty(len(centres), k, dtype=torch.long, device=pts.device)
    for rows in order.split(LOCAL_BLOCK):
        c = centres[rows]
        box_lo, box_hi = c.min(0).values - radius, c.max(0).values + radius
        sub = torch.nonzero(((pts >= box_lo) & (pts <= box_hi)).all(1)).squeeze(1)  # ascending: index order
        if len(sub) == 0:
            out[rows] = torch.cdist(c, pts).argmin(1)[:, None]
            continue
        first = sub[_first_in_ball(pts[sub][None], c[None], radius, k)[0]]
        # a ball without points falls back to the nearest point, which may lie outside the box
        empty = ((pts[first[:, 0]] - c) ** 2).sum(-1) > radius * radius
        if empty.any():
            first[empty] = torch.cdist(c[empty], pts).argmin(1)[:, None]
        out[rows] = first
    return out


def gather_points(xyz: Tensor, idx: Tensor) -> Tensor:
    """``xyz`` (B, N, 3) at ``idx`` (B, ...) -> (B, ..., 3)."""
    B = xyz.shape[0]
    return xyz[torch.arange(B, device=xyz.device).view(B, *([1] * (idx.dim() - 1))), idx]


def group(features: Tensor, idx: Tensor) -> Tensor:
    """``features`` (B, C, N) at ``idx`` (B, M, k) -> (B, C, M, k)."""
    B, C, _ = features.shape
    M, k = idx.shape[1:]
    flat = idx.reshape(B, 1, M * k).expand(-1, C, -1)
    return torch.gather(features, 2, flat).view(B, C, M, k)


def mlp2d(channels: Sequence[int]) -> nn.Sequential:
    """Shared MLP on (B, C, M, k): 1x1 convolutions with batch norm and ReLU."""
    layers = []
    for cin, cout in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def shared_mlp_last(mlp: nn.Sequential, x: Tensor) -> Tensor:
    """A shared MLP of :func:`mlp2d` (its own weights, the same result as ``mlp`` on (B, C, M, k)) on a
    channels-last ``x`` (..., C): one matrix product per layer over every point of every group.

    Why not ``mlp(x)`` on (B, C, M, k): on a CPU a 1x1 convolution of this layout runs at a fraction of the
    matrix product's speed (``_slow_conv2d``), and each batch norm is one more pass over the largest tensors
    of the network. In eval mode every batch norm is folded into the layer before it (the same affine map);
    in training it runs on the flattened points, over the same statistics as ``BatchNorm2d``'s."""
    layers = list(mlp)
    i = 0
    while i < len(layers):
        conv = layers[i]
        w, b = conv.weight.flatten(1), conv.bias
        bn = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], nn.modules.batchnorm._BatchNorm) else None
        if bn is not None and not bn.training:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w, b = w * scale[:, None], bn.bias + scale * ((0.0 if b is None else b) - bn.running_mean)
            bn = None
        x = F.linear(x, w, b)
        i += 1
        if bn is not None:  # training: the batch's statistics, and the running ones updated as the module does
            if bn.num_batches_tracked is not None:
                bn.num_batches_tracked.add_(1)
            momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
            shape = x.shape
            x = F.batch_norm(x.reshape(-1, shape[-1]), bn.running_mean, bn.running_var, bn.weight, bn.bias,
                             True, momentum, bn.eps).view(shape)
        if i < len(layers) and isinstance(layers[i], nn.modules.batchnorm._BatchNorm):
            i += 1
        if i < len(layers) and isinstance(layers[i], nn.ReLU):
            x = torch.relu_(x) if not x.requires_grad else torch.relu(x)
            i += 1
    return x


def mlp1d(channels: Sequence[int]) -> nn.Sequential:
    layers = []
    for cin, cout in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class SetAbstraction(nn.Module):
    """Sample ``npoint`` centres (FPS), group ``nsample`` neighbours within ``radius``, run a shared MLP on
    (relative xyz / radius, features) and max-pool each group. ``mlp`` lists the output widths; the input
    width is ``in_channels + 3``."""

    def __init__(self, npoint: int, radius: float, nsample: int, in_channels: int, mlp: Sequence[int]):
        super().__init__()
        self.npoint, self.radius, self.nsample = npoint, float(radius), nsample
        self.mlp = mlp2d([in_channels + 3, *mlp])
        self.out_channels = mlp[-1]

    def forward(self, xyz: Tensor, features: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """(centres (B, npoint, 3), features (B, C', npoint), indices of the centres in ``xyz``)."""
        with torch.no_grad():
            centre_idx = farthest_point_sample(xyz, self.npoint)
            centres = gather_points(xyz, centre_idx)
            idx = ball_query(xyz, centres, self.radius, self.nsample)
        rel = (gather_points(xyz, idx) - centres[:, :, None, :]) / self.radius   # (B, M, k, 3)
        if features is not None:  # channels last: (B, M, k, 3 + C), see shared_mlp_last
            rel = torch.cat([rel, gather_points(features.transpose(1, 2), idx)], dim=-1)
        pooled = shared_mlp_last(self.mlp, rel).amax(dim=2)                        # (B, M, C')
        return centres, pooled.transpose(1, 2).contiguous(), centre_idx


def three_nn_interpolate(xyz: Tensor, known: Tensor, known_features: Tensor) -> Tensor:
    """Features of ``known`` (B, S, 3) carried to ``xyz`` (B, N, 3) by inverse-distance weights of the three
    nearest known points: (B, C, N)."""
    d2 = torch.cdist(xyz, known).square_()
    near, idx = torch.topk(d2, min(3, known.shape[1]), dim=-1, largest=False)
    w = 1.0 / (near + 1e-8)
    w = w / w.sum(-1, keepdim=True)
    return (group(known_features, idx) * w[:, None]).sum(-1)


class FeaturePropagation(nn.Module):
    """Up-sample coarse features to finer points (:func:`three_nn_interpolate`), concatenate the finer
    points' own features, shared MLP."""

    def __init__(self, in_channels: int, mlp: Sequence[int]):
        super().__init__()
        self.mlp = mlp1d([in_channels, *mlp])
        self.out_channels = mlp[-1]

    def forward(self, xyz: Tensor, known: Tensor, features: Tensor | None, known_features: Tensor) -> Tensor:
        up = three_nn_interpolate(xyz, known, known_features)
        return self.mlp(up if features is None else torch.cat([up, features], dim=1))
