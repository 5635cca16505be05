"""Training losses for generative grasp networks (quality, cos 2θ, sin 2θ, width heads).

* Eq. 8 of Prew et al. (after ORANGE): ``L = N * L(Q) + L(cos) + L(sin) + L(W)``, with ``N``
  the number of angle bins (channel dimension) and ``L`` MSE or smooth L1 (GR-ConvNet's
  choice, ``beta = 1``), each a mean over all elements.
* Per-term weights (the efficient-FCN paper's weighted MSE, ``λq = 5, λangle = 3, λw = 4``):
  ``L = λq N L(Q) + λangle (L(cos) + L(sin)) + λw L(W)``; all 1 gives eq. 8. That paper regresses
  one angle map; here ``λangle`` weights both of its ``cos``/``sin`` replacements.
* Positional loss (eq. 9): ``L_P = N * L(Q) + mean_pixels(Q̂ * (l(cos) + l(sin) + l(W)))``,
  the per-pixel regression loss weighted by the *ground-truth* quality map ``Q̂``, so angle and
  width errors where no grasp is annotated cost nothing. (The authors' code computes
  ``l(Q̂·pred, Q̂·target)`` instead, which for MSE weights by ``Q̂^2``; we follow the equation.)
* ``kind="focal"``: binary focal loss (PLGP eq. 15, ``gamma = 2``, ``alpha = 0.95``) on the
  quality map, computed from its **logits** (``network(x, logits=True)``; the network's quality
  activation must be ``sigmoid`` so that inference sees the same probabilities); regression
  terms use MSE.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

KINDS = ("mse", "smooth_l1", "focal")
FIELDS = ("quality", "cos", "sin", "width")


def binary_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.95,
                      gamma: float = 2.0) -> torch.Tensor:
    """PLGP eq. 15 on ``p = sigmoid(logits)``, averaged over all elements (the paper's ``1/N``).

    ``-mean((t log p + (1 - t) log(1 - p)) * |p - t|^gamma * alpha_t)`` with
    ``alpha_t = alpha`` where ``t > 0`` and ``1 - alpha`` elsewhere. Soft targets in ``[0, 1]``
    are allowed (the weight uses ``t > 0`` as in the paper). The logs are ``logsigmoid`` of the
    logits, so a confidently wrong pixel (logit 20, target 0) costs about ``(1 - alpha) * 20`` and
    keeps its gradient; clamping probabilities would give it a constant loss and zero gradient.
    """
    if logits.shape != target.shape:
        raise ValueError(f"focal loss: prediction shape {tuple(logits.shape)} does not match "
                         f"target shape {tuple(target.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"focal_alpha must be in [0, 1], got {alpha}")
    if gamma < 0:
        raise ValueError(f"focal_gamma must be >= 0, got {gamma}")
    if logits.numel() == 0:
        raise ValueError("focal loss: prediction is empty")
    with torch.no_grad():
        tlo, thi = float(target.min()), float(target.max())
    if tlo < 0 or thi > 1:
        raise ValueError(f"focal loss needs quality targets in [0, 1], got range [{tlo:.4g}, {thi:.4g}]")
    target = target.to(logits.dtype)
    p = torch.sigmoid(logits)
    log_likelihood = target * F.logsigmoid(logits) + (1 - target) * F.logsigmoid(-logits)
    weight = torch.where(target > 0, torch.full_like(p, alpha), torch.full_like(p, 1 - alpha))
    return -(log_likelihood * (p - target).abs().pow(gamma) * weight).mean()


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

    ``pred`` is ``(q, cos, sin, width)`` (``q`` as logits for ``kind="focal"``, see :attr:`needs_logits`); ``target`` a :class:`~grasp_perception.maps.GraspTargets`
    (or any 4-sequence / object with those fields) of tensors. All eight are ``(B, N, H, W)``.
    ``parts`` holds plain floats: ``quality`` (unscaled ``L(Q)``), ``cos``, ``sin``, ``width``
    (their weighted contributions to the total) and ``total``.
    """

    def __init__(self, kind: str = "mse", positional: bool = False, focal_alpha: float = 0.95,
                 focal_gamma: float = 2.0, weights: dict[str, float] | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not 0.0 <= focal_alpha <= 1.0:
            raise ValueError(f"focal_alpha must be in [0, 1], got {focal_alpha}")
        if focal_gamma < 0:
            raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
        weights = {"quality": 1.0, "angle": 1.0, "width": 1.0, **(weights or {})}
        unknown = sorted(set(weights) - {"quality", "angle", "width"})
        if unknown:
            raise ValueError(f"loss weights: unknown term(s) {unknown}; expected quality, angle, width")
        for name, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"loss weight {name!r} must be a number >= 0, got {value!r}")
        self.weights = {k: float(v) for k, v in weights.items()}
        self.kind = kind
        self.positional = bool(positional)
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)

    @property
    def needs_logits(self) -> bool:
        """The quality prediction must be logits (``network(x, logits=True)``)."""
        return self.kind == "focal"

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
        w = self.weights
        terms = {"cos": w["angle"] * terms["cos"], "sin": w["angle"] * terms["sin"],
                 "width": w["width"] * terms["width"]}
        total = w["quality"] * n_bins * loss_q + terms["cos"] + terms["sin"] + terms["width"]
        parts = {"quality": float(loss_q.detach()), **{k: float(v.detach()) for k, v in terms.items()},
                 "total": float(total.detach())}
        return total, parts
