"""Training losses for generative grasp networks (quality, cos 2θ, sin 2θ, width heads).

* Eq. 8 of Prew et al. (after ORANGE): ``L = N * L(Q) + L(cos) + L(sin) + L(W)``, with ``N``
  the number of angle bins (channel dimension) and ``L`` MSE or smooth L1 (GR-ConvNet's
  choice, ``beta = 1``), each a mean over all elements.
* Positional loss (eq. 9): ``L_P = N * L(Q) + mean_pixels(Q̂ * (l(cos) + l(sin) + l(W)))``,
  the per-pixel regression loss weighted by the *ground-truth* quality map ``Q̂``, so angle and
  width errors where no grasp is annotated cost nothing. (The authors' code computes
  ``l(Q̂·pred, Q̂·target)`` instead, which for MSE weights by ``Q̂^2``; we follow the equation.)
* ``kind="focal"``: binary focal loss (PLGP eq. 15, ``gamma = 2``, ``alpha = 0.95``) on the
  quality map, which must then be a probability (sigmoid head); regression terms use MSE.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

KINDS = ("mse", "smooth_l1", "focal")
FIELDS = ("quality", "cos", "sin", "width")


def binary_focal_loss(p: torch.Tensor, target: torch.Tensor, alpha: float = 0.95,
                      gamma: float = 2.0, eps: float = 1e-6) -> torch.Tensor:
    """PLGP eq. 15, averaged over all elements (the paper's ``1/N``).

    ``-mean((t log p + (1 - t) log(1 - p)) * |p - t|^gamma * alpha_t)`` with
    ``alpha_t = alpha`` where ``t > 0`` and ``1 - alpha`` elsewhere. Soft targets in ``[0, 1]``
    are allowed (the weight uses ``t > 0`` as in the paper). ``p`` is clamped to
    ``[eps, 1 - eps]`` so the logs stay finite; values outside ``[0, 1]`` by more than ``eps``
    are rejected because they mean the network's quality head is not a probability.
    """
    if p.shape != target.shape:
        raise ValueError(f"focal loss: prediction shape {tuple(p.shape)} does not match "
                         f"target shape {tuple(target.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"focal_alpha must be in [0, 1], got {alpha}")
    if gamma < 0:
        raise ValueError(f"focal_gamma must be >= 0, got {gamma}")
    if p.numel() == 0:
        raise ValueError("focal loss: prediction is empty")
    with torch.no_grad():
        lo, hi = float(p.min()), float(p.max())
        tlo, thi = float(target.min()), float(target.max())
    if lo < -eps or hi > 1 + eps or lo != lo or hi != hi:
        raise ValueError(f"focal loss needs quality predictions in [0, 1], got range [{lo:.4g}, "
                         f"{hi:.4g}]; build the network with quality_activation=\"sigmoid\"")
    if tlo < 0 or thi > 1:
        raise ValueError(f"focal loss needs quality targets in [0, 1], got range [{tlo:.4g}, {thi:.4g}]")
    p = p.clamp(eps, 1 - eps)
    target = target.to(p.dtype)
    bce = target * torch.log(p) + (1 - target) * torch.log1p(-p)
    weight = torch.where(target > 0, torch.full_like(p, alpha), torch.full_like(p, 1 - alpha))
    return -(bce * (p - target).abs().pow(gamma) * weight).mean()


def _as_four(x, name: str) -> list:
    if all(hasattr(x, f) for f in FIELDS):
        items = [getattr(x, f) for f in FIELDS]
    elif isinstance(x, Sequence) and len(x) == 4:
        items = list(x)
    else:
        raise ValueError(f"{name} must be (quality, cos, sin, width) tensors or have those fields, "
                         f"got {type(x).__name__}")
    return items


class GraspLoss:
    """Grasp-map loss; call as ``loss(pred, target) -> (total, parts)``.

    ``pred`` is ``(q, cos, sin, width)``; ``target`` a :class:`~grasp_perception.maps.GraspTargets`
    (or any 4-sequence / object with those fields) of tensors. All eight are ``(B, N, H, W)``.
    ``parts`` holds plain floats: ``quality`` (unscaled ``L(Q)``), ``cos``, ``sin``, ``width``
    (their contributions to the total) and ``total``.
    """

    def __init__(self, kind: str = "mse", positional: bool = False, focal_alpha: float = 0.95,
                 focal_gamma: float = 2.0):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not 0.0 <= focal_alpha <= 1.0:
            raise ValueError(f"focal_alpha must be in [0, 1], got {focal_alpha}")
        if focal_gamma < 0:
            raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
        self.kind = kind
        self.positional = bool(positional)
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)

    def _elementwise(self, p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.kind == "smooth_l1":
            return F.smooth_l1_loss(p, t, reduction="none")
        return (p - t) ** 2  # mse, and the regression heads of "focal"

    def __call__(self, pred, target) -> tuple[torch.Tensor, dict[str, float]]:
        preds = _as_four(pred, "pred")
        targets = _as_four(target, "target")
        for field, p in zip(FIELDS, preds):
            if not isinstance(p, torch.Tensor):
                raise ValueError(f"pred {field} must be a torch.Tensor, got {type(p).__name__}")
            if p.dim() != 4:
                raise ValueError(f"pred {field} must be (B, N, H, W), got shape {tuple(p.shape)}")
        ref = preds[0]
        targets = [torch.as_tensor(t, dtype=ref.dtype, device=ref.device) for t in targets]
        for field, p, t in zip(FIELDS, preds, targets):
            if p.shape != ref.shape:
                raise ValueError(f"pred {field} shape {tuple(p.shape)} does not match pred quality "
                                 f"shape {tuple(ref.shape)}")
            if t.shape != p.shape:
                raise ValueError(f"pred {field} shape {tuple(p.shape)} does not match target "
                                 f"{field} shape {tuple(t.shape)}")

        n_bins = ref.shape[1]
        (q, c, s, w), (tq, tc, ts, tw) = preds, targets
        if self.kind == "focal":
            loss_q = binary_focal_loss(q, tq, self.focal_alpha, self.focal_gamma)
        else:
            loss_q = self._elementwise(q, tq).mean()
        terms = {}
        for name, p, t in (("cos", c, tc), ("sin", s, ts), ("width", w, tw)):
            per_pixel = self._elementwise(p, t)
            if self.positional:
                per_pixel = per_pixel * tq  # GT quality as attention (eq. 9)
            terms[name] = per_pixel.mean()
        total = n_bins * loss_q + terms["cos"] + terms["sin"] + terms["width"]
        parts = {"quality": float(loss_q.detach()), **{k: float(v.detach()) for k, v in terms.items()},
                 "total": float(total.detach())}
        return total, parts
