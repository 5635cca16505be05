"""PLGP's pixel-level head: angle classes, enhanced targets, the eq. 15-16 loss, decoding, networks, training."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grasp_perception.grasp import ImageGrasp, wrap_angle
from grasp_perception.heads import make_decoder, output_names
from grasp_perception.networks import available_networks, build_network, count_parameters
from grasp_perception.pixel_level import (PixelLevelLoss, PixelLevelTargets, angle_class, class_angle,
                                          dense_pixel_level, detect_pixel_level, label_balance, pixel_level_targets)

K = 18


def test_angle_classes_are_multiples_of_pi_over_k():
    angles = wrap_angle(np.arange(K) * np.pi / K)            # the PDG label angles, in the stack's range
    np.testing.assert_array_equal(angle_class(angles, K), np.arange(K))
    np.testing.assert_allclose(class_angle(np.arange(K), K), angles)
    # Just below a class edge stays in the lower class; -pi/2 (= +pi/2) is class K/2.
    assert int(angle_class(np.pi / K - 1e-6, K)) == 0 and int(angle_class(-np.pi / 2, K)) == K // 2


def test_targets_mark_the_centre_and_its_eight_neighbours():
    g = ImageGrasp(u=10.0, v=20.0, angle=3 * math.pi / K, width=50.0, jaw=10.0)
    t = pixel_level_targets([g], (40, 30), n_classes=K, max_width=100.0)
    assert t.point.shape == (1, 40, 30) and t.angle.shape == t.width.shape == (K, 40, 30)
    assert t.point[0, 20, 10] == 1.0 and t.angle[3, 20, 10] == 1.0 and t.width[3, 20, 10] == 0.5
    block = t.point[0, 19:22, 9:12]
    np.testing.assert_allclose(block, [[0.9, 0.9, 0.9], [0.9, 1.0, 0.9], [0.9, 0.9, 0.9]])
    np.testing.assert_allclose(t.angle[3, 19:22, 9:12], block)
    np.testing.assert_allclose(t.width[3, 19:22, 9:12], 0.5)
    assert t.point.sum() == pytest.approx(1 + 8 * 0.9) and np.count_nonzero(np.delete(t.angle, 3, axis=0)) == 0
    # The paper's imbalance ratio, before and after the enhancement.
    plain = pixel_level_targets([g], (40, 30), n_classes=K, max_width=100.0, enhance=False)
    assert label_balance(plain) == (1, K * 40 * 30 - 1)
    assert label_balance(t) == (9, K * 40 * 30 - 9)


def test_labelled_grasps_beat_copies_and_the_narrowest_wins():
    a = ImageGrasp(u=5.0, v=5.0, angle=0.0, width=80.0, jaw=10.0)
    b = ImageGrasp(u=6.0, v=5.0, angle=0.0, width=40.0, jaw=10.0)    # a's neighbour, same class
    c = ImageGrasp(u=5.0, v=5.0, angle=0.0, width=60.0, jaw=10.0)    # a's pixel, narrower
    t = pixel_level_targets([a, b, c], (12, 12), n_classes=K, max_width=100.0)
    assert t.width[0, 5, 5] == pytest.approx(0.6)    # labelled a and c there: the narrower; b's copy loses
    assert t.width[0, 5, 6] == pytest.approx(0.4)    # b's own pixel, though a and c's copies reach it
    assert t.width[0, 5, 7] == pytest.approx(0.4)    # only b's copy reaches it
    assert t.width[0, 5, 4] == pytest.approx(0.6)    # copies of a (0.8) and c (0.6): the narrower
    corner = pixel_level_targets([ImageGrasp(u=0.0, v=0.0, angle=0.0, width=10.0, jaw=2.0)], (4, 4),
                                 n_classes=K, max_width=100.0)
    assert np.count_nonzero(corner.point) == 4      # copies that fall outside the image are dropped


def _focal(p_logit, t, alpha=0.95, gamma=2.0):
    p = 1 / (1 + np.exp(-p_logit))
    ll = t * np.log(p) + (1 - t) * np.log(1 - p)
    w = np.where(t > 0, alpha, 1 - alpha)
    return -np.mean(ll * np.abs(p - t) ** gamma * w)


def test_loss_is_eq16_of_focal_terms_by_hand():
    rng = np.random.default_rng(0)
    logits = [rng.normal(size=(2, c, 3, 4)) for c in (1, K, K)]
    targets = [rng.choice([0.0, 0.9, 1.0], size=x.shape) for x in logits]
    targets[2] = rng.random(size=logits[2].shape) * (targets[1] > 0)   # widths where a class is labelled
    total, parts = PixelLevelLoss()(tuple(torch.tensor(x) for x in logits),
                                    PixelLevelTargets(*(torch.tensor(x) for x in targets)))
    by_hand = [_focal(x, t) for x, t in zip(logits, targets)]
    assert [parts[n] for n in ("point", "angle", "width")] == pytest.approx(by_hand, rel=1e-9)
    assert float(total) == pytest.approx(10 * by_hand[0] + 10 * by_hand[1] + 20 * by_hand[2], rel=1e-9)
    with pytest.raises(ValueError, match="point"):
        PixelLevelLoss()((torch.zeros(1, 1, 3, 3),) * 3, (torch.zeros(1, 1, 3, 4),) * 3)


def _hand_made_maps():
    point = np.zeros((1, 50, 60), np.float32)
    angle = np.zeros((K, 50, 60), np.float32)
    width = np.zeros((K, 50, 60), np.float32)
    point[0, 30, 40], angle[5, 30, 40], angle[2, 30, 40], width[5, 30, 40] = 0.8, 0.9, 0.4, 0.3
    point[0, 10, 10], angle[12, 10, 10], width[12, 10, 10] = 0.6, 0.7, 0.5
    return point, angle, width


def test_decoding_takes_the_best_point_then_its_best_class_and_width():
    grasps = detect_pixel_level(*_hand_made_maps(), max_width=100.0, top_k=2, quality_sigma=0.0, min_distance=5,
                                threshold=0.1, jaw_ratio=0.5)
    assert [(g.u, g.v, g.angle_bin) for g in grasps] == [(40.0, 30.0, 5), (10.0, 10.0, 12)]
    g = grasps[0]
    assert g.angle == pytest.approx(float(wrap_angle(5 * math.pi / K))) and g.width == pytest.approx(30.0)
    assert g.jaw == pytest.approx(15.0) and g.quality == pytest.approx(0.8)
    assert grasps[1].angle == pytest.approx(float(wrap_angle(12 * math.pi / K)))
    # Dense: every (pixel, class) by Q_p * Q_theta, no suppression: 0.72, 0.42, 0.32.
    dense = dense_pixel_level(*_hand_made_maps(), max_width=100.0, top_k=3, quality_sigma=0.0)
    assert [(g.u, g.v, g.angle_bin) for g in dense] == [(40.0, 30.0, 5), (10.0, 10.0, 12), (40.0, 30.0, 2)]
    assert [g.quality for g in dense] == pytest.approx([0.72, 0.42, 0.32])
    # The heads dispatcher reads the same maps the same way.
    assert make_decoder("pixel_level")(_hand_made_maps(), max_width=100.0, top_k=2, quality_sigma=0.0,
                                       min_distance=5, threshold=0.1) == grasps
    assert output_names("pixel_level") == ("point", "angle", "width")


@pytest.mark.parametrize("name", ["ggcnn2", "grconvnet", "unet", "efficient_fcn"])
def test_every_backbone_carries_the_pixel_level_head(name):
    generative = build_network(name, in_channels=1, n_bins=K)
    net = build_network(name, in_channels=1, n_bins=K, head="pixel_level")
    heads = generative.heads
    c, k = heads.quality.in_channels, heads.quality.kernel_size[0]
    per_map = c * k * k * K + K
    # Four K-channel heads become one 1-channel and two K-channel heads; the backbone is shared.
    assert count_parameters(net) == count_parameters(generative) - 4 * per_map + (c * k * k + 1) + 2 * per_map
    size = 64 if name != "unet" else 32
    with torch.no_grad():
        out = net(torch.randn(2, 1, size, size))
        raw = net(torch.randn(1, 1, size, size), logits=True)
    assert [tuple(o.shape) for o in out] == [(2, 1, size, size), (2, K, size, size), (2, K, size, size)]
    assert all(0 <= float(o.min()) and float(o.max()) <= 1 for o in out)
    assert float(raw[1].min()) < 0   # logits for the loss
    with pytest.raises(ValueError, match="head"):
        build_network(name, in_channels=1, n_bins=K, head="anchor")
    assert name in available_networks()


def test_tiny_overfit_finds_the_labelled_grasp(fit_one_image):
    # One 64x64 depth image with a bar; its grasps straddle the bar. A GG-CNN2 with the pixel-level head
    # fitted to it alone must put its best point on a labelled centre, in the labelled class.
    torch.manual_seed(0)
    depth = np.zeros((64, 64), np.float32)
    depth[20:44, 28:36] = -0.05                                        # a bar 5 cm above the table
    labels = [ImageGrasp(u=32.0, v=float(v), angle=0.0, width=16.0, jaw=6.0) for v in range(24, 41, 2)]
    t = pixel_level_targets(labels, (64, 64), n_classes=K, max_width=32.0)
    targets = PixelLevelTargets(*(torch.from_numpy(m)[None] for m in t))
    net = build_network("ggcnn2", in_channels=1, n_bins=K, head="pixel_level")
    x = torch.from_numpy(depth - depth.mean())[None, None]
    losses = fit_one_image(net, PixelLevelLoss(), x, targets, steps=150, lr=3e-3)
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        maps = [m[0].numpy() for m in net(x)]
    best = detect_pixel_level(*maps, max_width=32.0, top_k=1, quality_sigma=0.0, min_distance=3, threshold=None)[0]
    assert abs(best.u - 32) <= 1 and 23 <= best.v <= 41 and best.angle_bin == 0
    assert best.width == pytest.approx(16.0, abs=4.0)


def test_trains_into_a_model_folder_that_the_predictor_and_onnx_run(tiny_training, jacquard_root):
    # The whole path a user takes: a config with the pixel-level head -> train -> model folder -> predictor
    # (torch and ONNX Runtime give the same grasps) -> grasps in the original image.
    from grasp_perception.datasets import JacquardSource
    from grasp_perception.model_io import load_model
    result, model, predictors = tiny_training("plgp_ggcnn2_sim_clutter.yaml")
    assert 0 < result["history"][0]["val"]["loss"] < 100
    assert result["labels"]["negatives_per_positive_enhanced"] < result["labels"]["negatives_per_positive"]
    network, card = load_model(model)
    assert card.arch_kwargs["head"] == "pixel_level" and card.n_bins == K and network.head == "pixel_level"
    sample = JacquardSource(jacquard_root).load(0)
    torch_pred = predictors["torch"].predict(sample.depth, top_k=3)
    assert [m.shape[0] for m in torch_pred.maps] == [1, K, K]
    assert torch_pred.grasps and all(g.angle_bin < K for g in torch_pred.grasps)
    for g in torch_pred.input_grasps:   # every angle is one of the K classes
        assert g.angle == pytest.approx(float(class_angle(g.angle_bin, K)))
    if "onnxruntime" not in predictors:
        pytest.skip("onnxruntime is not installed")
    ort_pred = predictors["onnxruntime"].predict(sample.depth, top_k=3)
    assert [(g.u, g.v, g.angle_bin) for g in ort_pred.grasps] == [(g.u, g.v, g.angle_bin) for g in torch_pred.grasps]


def test_affga_net_matches_the_papers_size():
    from torch.utils.flop_counter import FlopCounterMode
    net = build_network("affga", in_channels=4, n_bins=K).eval()
    n = count_parameters(net)
    print(f"AFFGA-Net (RGB-D, K={K}): {n:,} parameters (PLGP Table II: 67.59 M)")
    assert n == 68_094_085 and abs(n / 67.59e6 - 1) < 0.02   # the paper's order, within 2 %
    assert sum(p.numel() for p in net.encoder.parameters()) == 42_503_296   # ResNet-101 without its classifier
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        out = net(torch.zeros(1, 4, 320, 320))
    print(f"AFFGA-Net at 320x320: {flops.get_total_flops() / 2e9:.1f} GMACs (PLGP Table II: 29.58 GFLOPs)")
    assert [tuple(o.shape) for o in out] == [(1, 1, 320, 320), (1, K, 320, 320), (1, K, 320, 320)]
    with pytest.raises(ValueError, match="pixel_level"):
        build_network("affga", in_channels=4, n_bins=K, head="generative")


@pytest.mark.slow
def test_affga_net_tiny_overfit(fit_one_image):
    torch.manual_seed(0)
    net = build_network("affga", in_channels=1, n_bins=K)
    t = pixel_level_targets([ImageGrasp(u=32.0, v=float(v), angle=4 * math.pi / K, width=20.0, jaw=6.0)
                             for v in (28, 30, 32, 34, 36)], (64, 64), n_classes=K, max_width=40.0)
    targets = PixelLevelTargets(*(torch.from_numpy(m)[None] for m in t))
    depth = np.zeros((1, 1, 64, 64), np.float32)
    depth[..., 26:39, 28:37] = -0.05
    x = torch.from_numpy(depth)
    losses = fit_one_image(net, PixelLevelLoss(), x, targets, steps=30)
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        maps = [m[0].numpy() for m in net(x)]
    best = detect_pixel_level(*maps, max_width=40.0, top_k=1, quality_sigma=0.0, min_distance=3, threshold=None)[0]
    assert abs(best.u - 32) <= 2 and 26 <= best.v <= 38
