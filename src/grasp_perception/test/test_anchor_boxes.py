"""Anchor-box regression with a graspability scorer: eq. 2, angle-matching targets, Jaccard labels, the three
losses by hand, the gradient routing, decoding, the network's size, a tiny overfit, and a model folder."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grasp_perception.anchor_boxes import (MAX_GT, AnchorLoss, AnchorTargets, anchor_angles, anchor_targets,
                                           decode_deltas, detect_anchor_grasps, encode, jaccard_labels)
from grasp_perception.grasp import ImageGrasp
from grasp_perception.metrics import grasp_matches
from grasp_perception.networks import build_network, count_parameters

K, STRIDE, W, H = 6, 16, 54.0, 27.0


def test_anchors_and_eq2_round_trip():
    np.testing.assert_allclose(np.degrees(anchor_angles(K)), [-75, -45, -15, 15, 45, 75])
    grasps = np.array([[40.0, 23.0, 0.2, 70.0, 20.0], [7.0, 9.0, -1.5, 30.0, 35.0]])
    anchor_uv, anchor_angle = np.array([[39.5, 23.5], [7.5, 7.5]]), anchor_angles(K)[[3, 0]]
    d = encode(grasps, anchor_uv, anchor_angle, W, H, K)
    assert d[0] == pytest.approx([0.5 / W, -0.5 / H, math.log(70 / W), math.log(20 / H),
                                  (0.2 - math.radians(15)) / (math.pi / K)])
    # Decoding the deltas placed at those anchors' cells gives the grasps back.
    grid = np.zeros((K, 5, 3, 3))
    grid[3, :, 1, 2], grid[0, :, 0, 0] = d[0], d[1]
    back = decode_deltas(grid, W, H, STRIDE)
    np.testing.assert_allclose(back[3, 1, 2], grasps[0], atol=1e-9)
    np.testing.assert_allclose(back[0, 0, 0], grasps[1], atol=1e-9)
    # Zero deltas are the anchors themselves: cell centres, anchor angles, the mean box.
    zero = decode_deltas(np.zeros((K, 5, 2, 2)), W, H, STRIDE)
    np.testing.assert_allclose(zero[2, 1, 0], [7.5, 23.5, math.radians(-15), W, H])


def test_angle_matching_targets_on_hand_made_labels():
    labels = [ImageGrasp(u=40.0, v=23.0, angle=math.radians(20), width=70.0, jaw=20.0),   # cell (1, 2), anchor 15°
              ImageGrasp(u=42.0, v=25.0, angle=math.radians(10), width=60.0, jaw=20.0),   # same cell+anchor, farther
              ImageGrasp(u=8.0, v=8.0, angle=math.radians(-80), width=30.0, jaw=10.0),    # cell (0, 0), anchor -75°
              ImageGrasp(u=60.0, v=60.0, angle=0.0, width=30.0, jaw=10.0)]                # outside a 48x48 input
    t = anchor_targets(labels, (48, 48), k=K, stride=STRIDE, width=W, height=H)
    assert t.positive.shape == (K, 3, 3) and t.deltas.shape == (K, 5, 3, 3) and t.gt.shape == (MAX_GT, 5)
    assert np.argwhere(t.positive).tolist() == [[0, 0, 0], [3, 1, 2]]
    expected = encode(np.array([[40.0, 23.0, math.radians(20), 70.0, 20.0]]), np.array([[39.5, 23.5]]),
                      anchor_angles(K)[[3]], W, H, K)[0]
    np.testing.assert_allclose(t.deltas[3, :, 1, 2], expected, rtol=1e-6)   # the grasp nearest the centre
    assert np.isfinite(t.gt[:4]).all() and np.isnan(t.gt[4:]).all()
    with pytest.raises(ValueError, match="multiple of 16"):
        anchor_targets(labels, (50, 50), k=K, stride=STRIDE, width=W, height=H)


def test_jaccard_labels_use_15_degrees_and_iou_025():
    gt = np.full((MAX_GT, 5), np.nan)
    gt[0] = [50.0, 50.0, 0.0, 60.0, 20.0]
    pred = np.array([[50.0, 50.0, 0.0, 60.0, 20.0],                    # the ground truth itself
                     [52.0, 50.0, math.radians(10), 60.0, 20.0],       # close and within 15°
                     [50.0, 50.0, math.radians(20), 60.0, 20.0],       # beyond 15° (the 30° test would pass it)
                     [150.0, 50.0, 0.0, 60.0, 20.0]])                  # elsewhere
    np.testing.assert_array_equal(jaccard_labels(pred, gt), [1, 1, 0, 0])
    g = ImageGrasp(*pred[2])
    assert grasp_matches(g, [ImageGrasp(*gt[0])], 0.25)   # the evaluation's 30° criterion would call it a match


def _batch(seed=0):
    """Logits and targets on a 2x2 grid with 6 positives of 24 anchors, so the 3P negatives are all the rest."""
    rng = np.random.default_rng(seed)
    positive = np.zeros((1, K, 2, 2), np.float32)
    positive.reshape(-1)[[0, 5, 9, 14, 19, 23]] = 1
    deltas_t = rng.normal(size=(1, K, 5, 2, 2)).astype(np.float32) * positive[:, :, None]
    gt = np.full((1, MAX_GT, 5), np.nan, np.float32)
    gt[0, 0] = [7.5, 7.5, math.radians(-75), W, H]      # anchor 0 of cell (0, 0) itself
    pred = (torch.tensor(rng.normal(size=(1, K, 5, 2, 2)) * 0.3, dtype=torch.float64),
            torch.tensor(rng.normal(size=(1, K, 2, 2, 2)), dtype=torch.float64),
            torch.tensor(rng.normal(size=(1, K, 2, 2, 2)), dtype=torch.float64),
            torch.tensor(rng.normal(size=(1, K, 2, 2, 2)), dtype=torch.float64))
    return pred, AnchorTargets(*(torch.from_numpy(a) for a in (positive, deltas_t, gt)))


def _ce(logits, labels):
    logits = np.asarray(logits, np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


def test_the_three_losses_by_hand():
    pred, target = _batch()
    total, parts = AnchorLoss(W, H, STRIDE, top_t=64)(pred, target)
    deltas, primary, score, fixed = (p.numpy() for p in pred)
    pos = target.positive.numpy().reshape(-1).astype(int)
    flat = lambda x: x.transpose(0, 1, 3, 4, 2).reshape(-1, x.shape[2])   # noqa: E731 (anchor-major rows)
    assert parts["primary"] == pytest.approx(_ce(flat(primary), pos))   # 6 positives + all 18 negatives (3P)
    d, t = flat(deltas)[pos == 1], flat(target.deltas.numpy())[pos == 1]
    diff = np.abs(d - t)
    l1 = np.where(diff < 1, 0.5 * diff ** 2, diff - 0.5).sum() / 6
    assert parts["regression"] == pytest.approx(2.0 * l1)
    # Scorer: T = 64 > 24 anchors, so every anchor; its label is Jaccard matching of the decoded grasp.
    grasps = decode_deltas(deltas[0], W, H, STRIDE).reshape(-1, 5)
    labels = jaccard_labels(grasps, target.gt.numpy()[0].astype(np.float64)).astype(int)
    order = np.argsort(-(np.exp(flat(primary)) / np.exp(flat(primary)).sum(-1, keepdims=True))[:, 1], kind="stable")
    assert parts["scorer"] == pytest.approx(_ce(flat(score)[order], labels[order]))
    logp_fixed = flat(fixed) - np.log(np.exp(flat(fixed)).sum(-1, keepdims=True))
    assert parts["guide"] == pytest.approx(-logp_fixed[:, 1].mean())
    assert float(total) == pytest.approx(parts["primary"] + parts["regression"] + parts["scorer"] + parts["guide"])
    base = AnchorLoss(W, H, STRIDE, scorer=False)(pred, target)[1]
    assert set(base) == {"primary", "regression", "total"}


def test_gradients_are_routed_as_the_paper_says():
    torch.manual_seed(0)
    net = build_network("anchor_scorer", in_channels=1, n_bins=K)
    x = torch.randn(2, 1, 32, 32)
    labels = [ImageGrasp(u=10.0, v=12.0, angle=0.3, width=50.0, jaw=25.0)]
    t = anchor_targets(labels, (32, 32), k=K, stride=STRIDE, width=W, height=H)
    target = AnchorTargets(*(torch.from_numpy(np.stack([a, a])) for a in t))
    loss = AnchorLoss(W, H, STRIDE)

    def grads(term):
        net.zero_grad()
        deltas, primary, score, fixed = net(x, logits=True)
        value = {"scorer": lambda: loss._scorer_terms(deltas, primary, score, fixed, target.gt)[0],
                 "guide": lambda: loss._scorer_terms(deltas, primary, score, fixed, target.gt)[1]}[term]()
        value.backward()
        return {n: (p.grad is not None and float(p.grad.abs().sum()) > 0) for n, p in net.named_parameters()}

    scorer_loss, guide = grads("scorer"), grads("guide")
    assert scorer_loss["fc1.weight"] and scorer_loss["encoder.stem.0.weight"] and not scorer_loss["regression.weight"]
    assert guide["regression.weight"] and guide["encoder.stem.0.weight"] and not guide["fc1.weight"]
    assert not guide["scorer_conv.weight"] and not guide["grasp_fc.weight"]


def test_decoding_a_hand_made_output():
    deltas = np.zeros((K, 5, 3, 3))
    deltas[4, :, 2, 1] = [0.1, -0.2, math.log(1.5), 0.0, 0.25]
    score = np.full((K, 3, 3), 0.1)
    score[4, 2, 1], score[1, 0, 0] = 0.9, 0.6
    grasps = detect_anchor_grasps(deltas, score, score, width=W, height=H, stride=STRIDE, top_k=2, threshold=0.5)
    assert len(grasps) == 2
    g = grasps[0]
    assert (g.u, g.v) == pytest.approx((23.5 + 0.1 * W, 39.5 - 0.2 * H))
    assert g.angle == pytest.approx(math.radians(45 + 0.25 * 30)) and g.width == pytest.approx(1.5 * W)
    assert g.jaw == pytest.approx(H) and g.quality == pytest.approx(0.9) and g.angle_bin == 4
    assert (grasps[1].u, grasps[1].v, grasps[1].angle_bin) == (7.5, 7.5, 1)
    # Through the model's decoder: a card's spacing applies to peaks, never to the dense ranking.
    from grasp_perception.heads import make_decoder
    score[4, 2, 2] = 0.85                                   # the next cell: 16 px from the best
    decode = make_decoder("anchor", arch_kwargs={"anchor_width": W, "anchor_height": H})
    spaced = decode((deltas, score, score), max_width=100.0, top_k=2, min_distance=20, threshold=0.5)
    dense = decode((deltas, score, score), max_width=100.0, top_k=2, dense=True, min_distance=20, threshold=0.5)
    assert [g.quality for g in spaced] == pytest.approx([0.9, 0.6])
    assert [g.quality for g in dense] == pytest.approx([0.9, 0.85])


def test_network_size_and_outputs():
    net = build_network("anchor_scorer", in_channels=3, n_bins=K)
    n, encoder = count_parameters(net), sum(p.numel() for p in net.encoder.parameters())
    print(f"anchor network (RGB, k={K}): {n:,} parameters, ResNet-50 to layer3 {encoder:,}")
    assert encoder == 8_543_296                          # torchvision's ResNet-50 through layer3 (no classifier)
    scorer = 1024 * 1024 + 1024 + (5 * K * 512 + 512) + (9728 * 512 + 512) + (512 * 2 + 2)
    assert n == encoder + (1024 * 5 * K + 5 * K) + (1024 * 2 * K + 2 * K) + scorer
    assert count_parameters(build_network("anchor_scorer", in_channels=3, n_bins=K, scorer=False)) == n - scorer \
        == 8_586_346
    net.eval()
    with torch.no_grad():
        deltas, primary, score = net(torch.zeros(1, 3, 320, 320))
    assert tuple(deltas.shape) == (1, K, 5, 20, 20) and tuple(primary.shape) == tuple(score.shape) == (1, K, 20, 20)
    with pytest.raises(ValueError, match="anchor"):
        build_network("ggcnn2", in_channels=1, n_bins=K, head="anchor")


@pytest.mark.slow
def test_tiny_overfit_finds_the_labelled_grasp(fit_one_image):
    torch.manual_seed(0)
    net = build_network("anchor_scorer", in_channels=1, n_bins=K)
    depth = np.zeros((1, 1, 64, 64), np.float32)
    depth[..., 20:44, 28:36] = -0.05
    labels = [ImageGrasp(u=32.0, v=float(v), angle=0.0, width=20.0, jaw=8.0) for v in range(24, 41, 4)]
    t = anchor_targets(labels, (64, 64), k=K, stride=STRIDE, width=20.0, height=8.0)
    target = AnchorTargets(*(torch.from_numpy(a)[None] for a in t))
    losses = fit_one_image(net, AnchorLoss(20.0, 8.0, STRIDE, top_t=16), torch.from_numpy(depth), target, steps=40)
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        deltas, _, score = net(torch.from_numpy(depth))
    best = detect_anchor_grasps(deltas[0], score[0], score[0], width=20.0, height=8.0, stride=STRIDE, top_k=1)[0]
    assert grasp_matches(best, labels, 0.25), best


def test_trains_into_a_model_folder_that_the_predictor_and_onnx_run(tiny_training, jacquard_root):
    from grasp_perception.datasets import JacquardSource
    from grasp_perception.model_io import load_model
    result, model, predictors = tiny_training("anchor_scorer_sim_clutter.yaml", batches=1)
    assert result["labels"]["anchor_width"] > 0 and np.isfinite(result["history"][0]["val"]["loss"])
    network, card = load_model(model)
    assert card.arch_kwargs["anchor_width"] == result["labels"]["anchor_width"] and network.head == "anchor"
    sample = JacquardSource(jacquard_root).load(0)
    torch_pred = predictors["torch"].predict(sample.depth, sample.rgb, top_k=3)
    assert len(torch_pred.grasps) == 3 and [m.ndim for m in torch_pred.maps] == [4, 3, 3]
    if "onnxruntime" not in predictors:
        pytest.skip("onnxruntime is not installed")
    ort_pred = predictors["onnxruntime"].predict(sample.depth, sample.rgb, top_k=3)
    for a, b in zip(ort_pred.grasps, torch_pred.grasps):
        assert (a.u, a.v, a.angle) == pytest.approx((b.u, b.v, b.angle), abs=1e-3)


def test_quality_image_spreads_cell_scores_for_overlays():
    from grasp_perception.heads import quality_image
    score = np.zeros((K, 2, 2), np.float32)
    score[3, 1, 0] = 0.8
    q = quality_image("anchor", (np.zeros((K, 5, 2, 2)), score, score), 32)
    assert q.shape == (32, 32) and q[16:, :16].min() == pytest.approx(0.8) and q[:16].max() == 0
    point = np.zeros((1, 32, 32), np.float32)
    point[0, 3, 4] = 0.5
    assert quality_image("pixel_level", (point, None, None), 32)[3, 4] == pytest.approx(0.5)
