import numpy as np
import pytest
import torch

from grasp_perception.losses import GraspLoss, binary_focal_loss
from grasp_perception.maps import GraspTargets

B, N, H, W = 2, 3, 8, 10


def make(seed=0):
    g = torch.Generator().manual_seed(seed)
    tq = (torch.rand(B, N, H, W, generator=g) > 0.7).float() * torch.rand(B, N, H, W, generator=g)
    target = GraspTargets(tq, torch.rand(B, N, H, W, generator=g) * 2 - 1,
                          torch.rand(B, N, H, W, generator=g) * 2 - 1, torch.rand(B, N, H, W, generator=g))
    q = torch.randn(B, N, H, W, generator=g)
    pred = (q, torch.randn(B, N, H, W, generator=g), torch.randn(B, N, H, W, generator=g),
            torch.randn(B, N, H, W, generator=g))
    return pred, target


def numpy_focal(p, t, alpha, gamma):
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    a = np.where(t > 0, alpha, 1 - alpha)
    terms = (t * np.log(p) + (1 - t) * np.log(1 - p)) * np.abs(p - t) ** gamma * a
    return -terms.sum() / p.size


def logit(p):
    return torch.log(p) - torch.log1p(-p)


@pytest.mark.parametrize("alpha, gamma", [(0.95, 2.0), (0.25, 1.0), (0.5, 0.0)])
def test_focal_matches_numpy_eq15(alpha, gamma):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.01, 0.99, size=(2, 18, 6, 7))
    t = np.where(rng.random(p.shape) > 0.8, rng.choice([0.9, 1.0], size=p.shape), 0.0)
    got = binary_focal_loss(logit(torch.tensor(p)), torch.tensor(t), alpha, gamma)
    assert float(got) == pytest.approx(numpy_focal(p, t, alpha, gamma), rel=1e-9)


def test_focal_weights_positives_with_alpha():
    # one positive and one negative with the same error: the positive costs alpha/(1-alpha) = 19x
    pos = binary_focal_loss(logit(torch.tensor([0.7], dtype=torch.float64)), torch.tensor([1.0]))
    neg = binary_focal_loss(logit(torch.tensor([0.3], dtype=torch.float64)), torch.tensor([0.0]))
    assert float(pos) / float(neg) == pytest.approx(19.0, rel=1e-6)


def test_focal_keeps_the_gradient_of_a_saturated_wrong_pixel():
    # logit 20 for a negative pixel: p rounds to 1 in float32. From probabilities (clamped) the loss was a
    # constant 0.69 with zero gradient; from logits it is (1 - alpha) * softplus(20) ~ 1.0 and pushes down.
    z = torch.tensor([20.0, -20.0], requires_grad=True)
    loss = binary_focal_loss(z, torch.tensor([0.0, 1.0]), alpha=0.95, gamma=2.0)
    assert float(loss.detach()) == pytest.approx((0.05 * 20 + 0.95 * 20) / 2, rel=1e-3)
    loss.backward()
    assert z.grad[0] > 0.01 and z.grad[1] < -0.1  # both pushed towards their targets


def test_focal_rejects_bad_targets_and_shapes():
    with pytest.raises(ValueError, match="targets in"):
        binary_focal_loss(torch.zeros(2), torch.tensor([1.5, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        binary_focal_loss(torch.rand(3), torch.rand(4))


def test_per_term_weights_scale_each_term():
    pred, target = make(7)
    plain_total, plain = GraspLoss("mse")(pred, target)
    total, parts = GraspLoss("mse", weights={"quality": 5, "angle": 3, "width": 4})(pred, target)
    assert parts["quality"] == pytest.approx(plain["quality"])  # unscaled L(Q) is reported
    for name, w in (("cos", 3), ("sin", 3), ("width", 4)):
        assert parts[name] == pytest.approx(w * plain[name], rel=1e-6)
    expect = 5 * N * plain["quality"] + 3 * (plain["cos"] + plain["sin"]) + 4 * plain["width"]
    assert float(total) == pytest.approx(expect, rel=1e-6)
    with pytest.raises(ValueError, match="unknown term"):
        GraspLoss(weights={"angel": 1.0})
    with pytest.raises(ValueError, match="width"):
        GraspLoss(weights={"width": -1})


@pytest.mark.parametrize("kind", ["mse", "smooth_l1"])
def test_eq8_total_scales_quality_by_bins(kind):
    pred, target = make()
    total, parts = GraspLoss(kind)(pred, target)

    def el(p, t):
        d = (p - t).abs()
        return d ** 2 if kind == "mse" else torch.where(d < 1, 0.5 * d ** 2, d - 0.5)

    expect = N * el(pred[0], target.quality).mean() + sum(
        el(p, t).mean() for p, t in zip(pred[1:], target[1:]))
    assert float(total) == pytest.approx(float(expect), rel=1e-6)
    assert parts["total"] == pytest.approx(float(total))
    assert parts["quality"] == pytest.approx(float(el(pred[0], target.quality).mean()), rel=1e-6)
    assert set(parts) == {"quality", "cos", "sin", "width", "total"}
    assert all(isinstance(v, float) for v in parts.values())


def test_positional_ignores_errors_where_gt_quality_is_zero():
    pred, target = make(2)
    zero = target.quality == 0
    assert zero.any() and (~zero).any()
    changed = tuple([pred[0]] + [torch.where(zero, p + 5.0, p) for p in pred[1:]])
    for kind in ("mse", "smooth_l1"):
        loss = GraspLoss(kind, positional=True)
        assert float(loss(changed, target)[0]) == pytest.approx(float(loss(pred, target)[0]), rel=1e-6)
        # without positional weighting those errors do count
        plain = GraspLoss(kind)
        assert float(plain(changed, target)[0]) > float(plain(pred, target)[0]) + 1
    # errors where Q̂ > 0 still count, weighted by Q̂
    moved = tuple([pred[0]] + [torch.where(zero, p, p + 1.0) for p in pred[1:]])
    loss = GraspLoss("mse", positional=True)
    assert float(loss(moved, target)[0]) != pytest.approx(float(loss(pred, target)[0]))


def test_positional_equals_weighted_mean():
    pred, target = make(3)
    total, parts = GraspLoss("mse", positional=True)(pred, target)
    tq = target.quality
    reg = (tq * sum((p - t) ** 2 for p, t in zip(pred[1:], target[1:]))).mean()
    assert float(total) == pytest.approx(float(N * ((pred[0] - tq) ** 2).mean() + reg), rel=1e-6)
    assert parts["cos"] == pytest.approx(float((tq * (pred[1] - target.cos) ** 2).mean()), rel=1e-6)


def test_focal_kind_uses_focal_quality_and_mse_regression():
    pred, target = make(4)  # quality as logits
    loss = GraspLoss("focal")
    assert loss.needs_logits and not GraspLoss("mse").needs_logits
    total, parts = loss(pred, target)
    fq = binary_focal_loss(pred[0], target.quality, 0.95, 2.0)
    mse = sum(((p - t) ** 2).mean() for p, t in zip(pred[1:], target[1:]))
    assert float(total) == pytest.approx(float(N * fq + mse), rel=1e-6)


def test_gradients_flow_to_all_heads():
    pred, target = make(5)
    pred = tuple(p.clone().requires_grad_(True) for p in pred)
    total, _ = GraspLoss("focal", positional=True)(pred, target)
    total.backward()
    for p in pred:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_accepts_tuple_and_numpy_targets():
    pred, target = make(6)
    a = GraspLoss()(pred, target)[0]
    b = GraspLoss()(pred, tuple(t.numpy() for t in target))[0]
    assert float(a) == pytest.approx(float(b))


def test_shape_mismatch_names_both_shapes():
    pred, target = make()
    bad = GraspTargets(target.quality[:, :1], *target[1:])
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 10\).*\(2, 1, 8, 10\)"):
        GraspLoss()(pred, bad)
    with pytest.raises(ValueError, match="B, N, H, W"):
        GraspLoss()(tuple(p[0] for p in pred), target)
    with pytest.raises(ValueError, match="kind"):
        GraspLoss("l1")
    with pytest.raises(ValueError, match="pred"):
        GraspLoss()(pred[:3], target)
