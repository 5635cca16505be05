"""PointNet++ operations against brute-force references, and GraspNet-1Billion's 6-DoF network: frames, sizes,
the loss against a hand computation, decoding of hand-made outputs, a tiny overfit run."""
import math

import numpy as np
import pytest
import torch

from grasp_perception.pointcloud.graspnet6dof import (MAX_TOLERANCE, MAX_WIDTH, GraspNet6DoF, GraspNetOutputs,
                                                      GraspNetTargets, approach_frames, approach_views, decode,
                                                      graspnet_loss)
from grasp_perception.pointcloud.pointnet2 import _fps_torch, ball_query, farthest_point_sample


def brute_fps(xyz: np.ndarray, m: int) -> list[int]:
    chosen = [0]
    for _ in range(m - 1):
        d = np.min(((xyz[:, None, :] - xyz[None, chosen, :]) ** 2).sum(-1), axis=1)
        chosen.append(int(np.argmax(d)))
    return chosen


def brute_ball(xyz: np.ndarray, centre: np.ndarray, radius: float, k: int) -> list[int]:
    inside = [i for i in range(len(xyz)) if np.sum((xyz[i] - centre) ** 2) < radius ** 2]
    if not inside:
        return [int(np.argmin(((xyz - centre) ** 2).sum(-1)))] * k
    return (inside + [inside[0]] * k)[:k]


def test_farthest_point_sampling_matches_a_brute_force_reference():
    rng = np.random.default_rng(0)
    xyz = rng.random((2, 300, 3))
    got = farthest_point_sample(torch.tensor(xyz, dtype=torch.float64), 25)
    for b in range(2):
        assert got[b].tolist() == brute_fps(xyz[b], 25)
        # the tensor-op path other devices take gives the same (here on the CPU)
        assert _fps_torch(torch.tensor(xyz[b]), 25).tolist() == brute_fps(xyz[b], 25)


def test_ball_query_takes_the_first_points_of_the_ball_in_index_order_and_pads_with_the_first():
    rng = np.random.default_rng(1)
    xyz = rng.random((2, 400, 3))
    centres = np.concatenate([xyz[:, :30], rng.random((2, 2, 3)) + 5.0], axis=1)  # two far away: no ball
    got = ball_query(torch.tensor(xyz), torch.tensor(centres), 0.15, 16)
    for b in range(2):
        for m in range(centres.shape[1]):
            assert got[b, m].tolist() == brute_ball(xyz[b], centres[b, m], 0.15, 16), (b, m)


def test_approach_frames_are_rotations_about_the_approach():
    a = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.3, -0.5, 0.8]])
    a = a / a.norm(dim=-1, keepdim=True)
    for angle in (0.0, 0.7):
        R = approach_frames(a, angle)
        assert torch.allclose(R.transpose(-1, -2) @ R, torch.eye(3).expand(3, 3, 3), atol=1e-6)
        assert torch.allclose(torch.linalg.det(R), torch.ones(3), atol=1e-6)
        assert torch.allclose(R[..., 2], a, atol=1e-6)  # also for the approach along x (degenerate O_ij)
    turned = approach_frames(a, 0.7)[..., 0]
    base = approach_frames(a, 0.0)
    assert torch.allclose((turned * base[..., 0]).sum(-1), torch.full((3,), math.cos(0.7)), atol=1e-6)
    assert torch.allclose((turned * base[..., 1]).sum(-1), torch.full((3,), math.sin(0.7)), atol=1e-6)


def test_the_300_views_are_unit_and_spread_over_the_sphere():
    v = approach_views(300)
    assert v.shape == (300, 3) and torch.allclose(v.norm(dim=-1), torch.ones(300), atol=1e-6)
    cos = v @ v.T - 2 * torch.eye(300)
    nearest = torch.rad2deg(torch.arccos(cos.max(dim=1).values.clamp(-1, 1)))
    assert nearest.min() > 8 and nearest.max() < 16  # a 300-view lattice: about 12 deg between neighbours
    assert abs(float(v.mean(0).norm())) < 0.01


def test_the_paper_network_has_its_layer_sizes_and_output_shapes():
    net = GraspNet6DoF().eval()
    n_params = sum(p.numel() for p in net.parameters())
    print(f"GraspNet6DoF: {n_params:,} parameters")
    assert n_params == 1_015_806
    cloud = torch.rand(1, 2500, 3) * 0.3 + torch.tensor([0.0, 0.0, 0.5])
    with torch.no_grad():
        out = net(cloud)
        few = net(cloud, operation_seeds=100)
    assert out.seeds.shape == (1, 1024, 3) and out.objectness.shape == (1, 2, 1024)
    assert torch.equal(cloud[0, out.seed_index[0]], out.seeds[0])   # seeds are cloud points, and say which
    assert out.view_scores.shape == (1, 300, 1024) and out.views.shape == (1, 1024)
    for x in (out.angle_logits, out.scores, out.widths, out.tolerances):
        assert x.shape == (1, 12, 1024, 4)
    assert few.scores.shape == (1, 12, 100, 4) and few.seeds.shape == (1, 100, 3)
    with pytest.raises(ValueError, match="fewer than the first set abstraction"):
        net(cloud[:, :2000])


def one_seed_case():
    """Two seeds (the second ignored), one view, one rotation bin, one depth."""
    out = GraspNetOutputs(seeds=torch.zeros(1, 2, 3), seed_index=torch.arange(2)[None], objectness=torch.tensor([[[0.0, 0.0], [0.0, 5.0]]]),
                          view_scores=torch.tensor([[[0.3, 9.0]]]), views=torch.zeros(1, 2, dtype=torch.long),
                          angle_logits=torch.zeros(1, 1, 2, 1), scores=torch.full((1, 1, 2, 1), 0.5),
                          widths=torch.full((1, 1, 2, 1), 0.03), tolerances=torch.full((1, 1, 2, 1), 0.01))
    tgt = GraspNetTargets(objectness=torch.tensor([[1, -1]]), view_scores=torch.tensor([[[0.8, 0.0]]]),
                          view_mask=torch.tensor([[[True, False]]]), views=torch.zeros(1, 2, dtype=torch.long),
                          valid=torch.ones(1, 1, 2, 1, dtype=torch.bool), scores=torch.full((1, 1, 2, 1), 0.5),
                          widths=torch.full((1, 1, 2, 1), 0.05), tolerances=torch.full((1, 1, 2, 1), 0.02))
    return out, tgt


def test_the_loss_matches_a_hand_computation():
    losses = graspnet_loss(*one_seed_case())
    ln2 = math.log(2)
    hand = {"objectness": ln2,                     # softmax of (0, 0) against class 1; seed 2 ignored
            "view": 0.5 * 0.5 ** 2,                # smooth L1 of 0.3 vs 0.8
            "rotation": ln2,                       # sigmoid cross-entropy of logit 0 against 1
            "score": 0.0,
            "width": 0.5 * ((0.05 - 0.03) / MAX_WIDTH) ** 2,
            "tolerance": 0.5 * ((0.02 - 0.01) / MAX_TOLERANCE) ** 2}
    for k, v in hand.items():
        assert float(losses[k]) == pytest.approx(v, rel=1e-5), k
    total = (hand["objectness"] + 0.5 * hand["view"]) + 0.5 * (hand["rotation"] + 1.0 * hand["score"]
                                                              + 0.2 * hand["width"]) + 0.1 * hand["tolerance"]
    assert float(losses["total"]) == pytest.approx(total, rel=1e-5)


def test_decoding_picks_the_best_bin_then_depth_and_ranks_by_score_bin_then_tolerance():
    net = GraspNet6DoF(n_views=300)
    A, M, K = 12, 3, 4
    angle_logits = torch.full((1, A, M, K), -5.0)
    angle_logits[0, 3, :, 1] = 5.0                                  # every seed: bin 3 (45 deg)
    scores = torch.full((1, A, M, K), 0.1)
    scores[0, 3, 0, 2], scores[0, 3, 1, 0], scores[0, 3, 2, 3] = 0.82, 0.85, 0.95
    widths = torch.full((1, A, M, K), 0.04)
    widths[0, 3, 0, 2] = 0.061
    tol = torch.zeros(1, A, M, K)
    tol[0, 3, 0, 2], tol[0, 3, 1, 0] = 0.03, 0.01                   # seeds 0 and 1 share score bin 8
    out = GraspNetOutputs(seeds=torch.tensor([[[0.0, 0, 0.5], [0.1, 0, 0.5], [0.2, 0, 0.5]]]), seed_index=torch.arange(3)[None],
                          objectness=torch.tensor([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]]),
                          view_scores=torch.zeros(1, 300, M), views=torch.tensor([[0, 0, 0]]),
                          angle_logits=angle_logits, scores=scores, widths=widths, tolerances=tol)
    g = decode(out, net)
    assert g.t[:, 0].tolist() == pytest.approx([0.2, 0.0, 0.1])     # bin 9 first, then tolerance 0.03 > 0.01
    assert g.depth.tolist() == pytest.approx([0.04, 0.03, 0.01])
    assert float(g.width[1]) == pytest.approx(0.061)
    expected = approach_frames(net.view_dirs[0], math.pi / 4)
    assert torch.allclose(g.R[0], expected, atol=1e-6)
    out.objectness[0, 0, 2] = 5.0                                   # seed 2 not graspable any more
    assert decode(out, net).t[:, 0].tolist() == pytest.approx([0.0, 0.1])


def test_a_tiny_network_overfits_one_scene():
    torch.manual_seed(0)
    net = GraspNet6DoF(n_views=30, sample_sizes=(64, 32, 16, 8))
    cloud = torch.rand(1, 200, 3) * 0.2 + torch.tensor([0.0, 0.0, 0.5])
    M, V, A, K = 32, 30, 12, 4
    g = torch.Generator().manual_seed(1)
    tgt = GraspNetTargets(objectness=(torch.rand(1, M, generator=g) > 0.5).long(),
                          view_scores=torch.rand(1, V, M, generator=g), view_mask=torch.ones(1, V, M, dtype=torch.bool),
                          views=torch.randint(0, V, (1, M), generator=g),
                          valid=torch.rand(1, A, M, K, generator=g) > 0.7, scores=torch.rand(1, A, M, K, generator=g),
                          widths=torch.rand(1, A, M, K, generator=g) * 0.08,
                          tolerances=torch.rand(1, A, M, K, generator=g) * 0.04)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    history = []
    for _ in range(40):
        loss = graspnet_loss(net(cloud, views=tgt.views), tgt)["total"]
        history.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # still in training mode: batch statistics of this one scene, as it was fitted
        out = net(cloud, views=tgt.views)
        final = float(graspnet_loss(out, tgt)["total"])
    assert final < 0.5 * history[0], history
    graspable = out.objectness.argmax(1) == 1
    assert (graspable == (tgt.objectness == 1)).float().mean() > 0.9


# ----------------------------------------------------------------------------- targets from object labels
from grasp_perception.pointcloud.targets import ObjectLabels, scene_targets, to_tensors, view_map  # noqa: E402


def rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_view_map_is_the_identity_for_an_unturned_object_and_shifts_bins_for_a_turned_one():
    nearest, angle, shift = view_map(np.eye(3), 300, 12)
    assert nearest.tolist() == list(range(300)) and np.allclose(angle, 0, atol=0.1) and not shift.any()
    pole = int(np.argmax(approach_views().numpy()[:, 2]))          # the view nearest the camera's z axis
    nearest, angle, shift = view_map(rot_z(-30.0), 300, 12)         # object turned 30 deg about z
    assert nearest[pole] == pole and angle[pole] < 3.0
    assert shift[pole] == 10                                        # -30 deg = -2 bins of 15 deg


def labelled_object(cam_T_obj, every_view=False):
    V, A, D = 300, 12, 4
    scores = np.zeros((2, V, A, D), np.float32)
    view = int(np.argmax(approach_views().numpy()[:, 2]))
    scores[0, slice(None) if every_view else view, 3, 1] = 0.8     # point 0: bin 3, depth 2 cm
    widths = np.where(scores > 0, 0.05, 0.0).astype(np.float32)
    return ObjectLabels(points=np.array([[0.0, 0.0, 0.0], [0.03, 0.0, 0.0]]), scores=scores, widths=widths,
                        tolerances=np.where(scores > 0, 0.01, 0.0).astype(np.float32), cam_T_obj=cam_T_obj,
                        segment=4), view


def test_scene_targets_match_seeds_to_label_points_and_carry_their_grasps():
    T = np.eye(4)
    T[:3, 3] = [0.1, 0.0, 0.5]
    obj, view = labelled_object(T)
    seeds = np.array([[0.1, 0.0, 0.5],       # on label point 0
                      [0.13, 0.002, 0.5],    # 2 mm from label point 1 (which has no grasp)
                      [0.2, 0.0, 0.5],       # on the object but 7 cm from any label point
                      [0.0, 0.0, 0.6]])      # the table
    t = scene_targets(seeds, np.array([4, 4, 4, -1]), [obj], 300)
    assert t["objectness"].tolist() == [1, 0, -1, 0]
    assert t["views"][0] == view and t["view_scores"][view, 0] == pytest.approx(0.8)
    assert t["view_mask"][:, 0].all()                                # unturned: every view matches exactly
    assert t["valid"][:, 0].sum() == 1 and t["valid"][3, 0, 1]
    assert t["widths"][3, 0, 1] == pytest.approx(0.05) and t["tolerances"][3, 0, 1] == pytest.approx(0.01)
    # turned a quarter about z: template views meet label views only to within the lattice's spacing, so
    # the grasp is labelled along every view here (as real labels are, along their neighbours)
    T[:3, :3] = rot_z(90.0)
    turned, _ = labelled_object(T, every_view=True)
    t = scene_targets(seeds[:1], np.array([4]), [turned], 300)
    assert t["objectness"].tolist() == [1]
    assert np.flatnonzero(t["valid"][:, 0, 1]).tolist() == [(3 - 6) % 12]  # 90 deg = 6 bins
    batch = to_tensors([t, t])
    assert batch.valid.shape == (2, 12, 1, 4) and batch.view_scores.shape == (2, 300, 1)


def test_the_predictor_turns_a_depth_image_into_ranked_grasps_in_the_camera_frame():
    from grasp_perception.geometry import CameraIntrinsics
    from grasp_perception.pointcloud.predict import GraspPredictor6D, depth_to_cloud, synthetic_tabletop, untrained
    K = CameraIntrinsics(160, 120, 150.0, 150.0, 80.0, 60.0)
    depth = synthetic_tabletop(K)
    depth[:10] = 0.0                                               # no return: never a point
    cloud, pick = depth_to_cloud(depth, K, 3000, np.random.default_rng(0))
    assert cloud.shape == (3000, 3) and np.all(depth.reshape(-1)[pick] > 0)
    assert np.allclose(cloud[:, 2], depth.reshape(-1)[pick])
    with pytest.raises(ValueError, match="no valid pixel"):
        depth_to_cloud(np.zeros_like(depth), K, 10, np.random.default_rng(0))
    torch.manual_seed(0)
    pred = GraspPredictor6D(untrained((256, 128, 64, 32), n_points=3000, operation_seeds=40))
    g = pred.predict(depth, K, top_k=10)
    assert len(g.t) <= 10 and torch.all(g.score[:-1] >= g.score[1:] - 0.1)   # ranked by score bins
    poses = pred.poses(g)
    for p in poses:
        assert np.allclose(p.T[:3, :3].T @ p.T[:3, :3], np.eye(3), atol=1e-5)
        assert 0.45 < p.depth_m < 0.65                              # seeds are points of this tabletop
        assert np.isclose(p.approach_depth_m, [0.01, 0.02, 0.03, 0.04]).any()   # one of the network's depths


def test_a_point_cloud_model_folder_round_trips_through_the_one_loader(tmp_path):
    import yaml
    from grasp_perception.model_io import ModelFileError, load_card, load_model, models_dir, save_model
    from grasp_perception.pointcloud.model_card import PointCloudCard
    from grasp_perception.pointcloud.predict import GraspPredictor6D, untrained
    net, card = untrained((256, 128, 64, 32), n_points=3000, operation_seeds=40)
    save_model(tmp_path / "m", net, card)
    assert yaml.safe_load((tmp_path / "m" / "card.yaml").read_text())["kind"] == "point_cloud"
    loaded, again = load_model(tmp_path / "m")
    assert isinstance(again, PointCloudCard) and again.operation_seeds == 40 and loaded.sample_sizes == (256, 128, 64, 32)
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    # bad fields name the card and the field
    values = yaml.safe_load((tmp_path / "m" / "card.yaml").read_text())
    for change, field in (({"kind": "voxels"}, "kind"), ({"n_points": 100}, "n_points"),
                          ({"arch_kwargs": {"radius": 1}}, "arch_kwargs.radius"),
                          ({"operation_seeds": 0}, "operation_seeds"), ({"architecture": "pointnet"}, "architecture")):
        (tmp_path / "m" / "card.yaml").write_text(yaml.safe_dump({**values, **change}))
        with pytest.raises(ModelFileError, match=field.replace(".", r"\.")) as err:
            load_card(tmp_path / "m")
        assert "card.yaml" in str(err.value)
    # weights of another size: the loader names both files
    (tmp_path / "m" / "card.yaml").write_text(yaml.safe_dump({**values, "arch_kwargs": {"n_views": 100}}))
    with pytest.raises(ModelFileError, match="does not match weights"):
        load_model(tmp_path / "m")
    # the 6-DoF predictor refuses an image model, saying which predictor runs it
    with pytest.raises(ModelFileError, match="GraspPredictor"):
        GraspPredictor6D(models_dir() / "ggcnn2-sim-v1")


def test_a_camera_frame_grasp_projects_back_to_the_image_grasp_it_came_from():
    from grasp_perception.geometry import CameraIntrinsics, camera_pose_to_image_grasp, image_grasp_to_camera_pose
    K = CameraIntrinsics(640, 480, 615.0, 600.0, 319.5, 239.5)
    depth = np.full((480, 640), 0.55, np.float32)
    for u, v, angle, width in ((300.0, 200.0, 0.4, 50.0), (100.0, 400.0, -1.2, 80.0), (500.0, 50.0, 1.5, 20.0)):
        g = camera_pose_to_image_grasp(image_grasp_to_camera_pose(u, v, angle, width, depth, K), K, 0.7)
        assert np.allclose((g.u, g.v, g.angle, g.width, g.quality), (u, v, angle, width, 0.7), atol=1e-6)


def test_the_block_ball_query_of_a_large_cloud_equals_the_full_query():
    """Large clouds are queried block by block against the points near each block: the same indices as the
    full query, including balls that hold fewer than k points and balls with no point (nearest point)."""
    from grasp_perception.pointcloud import pointnet2 as pn
    torch.manual_seed(0)
    xyz = torch.rand(1, pn.LOCAL_MIN_POINTS + 500, 3) * torch.tensor([0.6, 0.45, 0.1])
    centres = torch.cat([xyz[:, :300], torch.tensor([[[2.0, 2.0, 2.0], [-1.0, 0.2, 0.05]]])], dim=1)
    for radius, k in ((0.04, 64), (0.01, 16), (0.1, 128)):
        full = torch.cat([pn._first_in_ball(xyz, c, radius, k) for c in centres.split(pn.CHUNK, dim=1)], dim=1)
        assert torch.equal(pn.ball_query(xyz, centres, radius, k), full)


@pytest.mark.parametrize("training", [False, True])
def test_the_channels_last_shared_mlp_equals_the_modules_on_nchw(training):
    """shared_mlp_last (folded batch norms in eval, batch statistics in training) gives what the Conv2d / BatchNorm2d
    / ReLU stack gives on (B, C, M, k), and in training updates the running statistics the same way."""
    import copy

    from grasp_perception.pointcloud.pointnet2 import mlp2d, shared_mlp_last
    torch.manual_seed(0)
    mlp = mlp2d((7, 16, 32))
    for m in mlp:  # non-trivial statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)
    reference = copy.deepcopy(mlp)
    mlp.train(training), reference.train(training)
    x = torch.randn(2, 5, 9, 7)                                       # (B, M, k, C) channels last
    with torch.set_grad_enabled(training):
        ours = shared_mlp_last(mlp, x)
        theirs = reference(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    for a, b in zip(mlp.state_dict().values(), reference.state_dict().values()):
        torch.testing.assert_close(a, b)  # running statistics moved alike (training) or not at all (eval)
    if training:
        ours.sum().backward(), theirs.sum().backward()
        torch.testing.assert_close(mlp[0].weight.grad, reference[0].weight.grad, rtol=1e-4, atol=1e-4)


def test_keep_freed_memory_applies_once_on_glibc():
    import platform

    from grasp_perception.memory import keep_freed_memory
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent
