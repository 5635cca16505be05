"""The 6-DoF training data: a tiny run writes object labels, a scene with its collision masks and a view's cloud,
the cloud agrees with the poses, the network's targets come out of it, and a resume keeps its settings."""
import numpy as np
import pytest

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import torch
from grasp_perception.pointcloud.dataset import GraspDataset6D, train_step
from grasp_perception.pointcloud.graspnet6dof import GraspNet6DoF
from grasp_perception.pointcloud.targets import scene_targets
from grasp_sim.generate_6dof import generate, load_object_labels
from grasp_sim.labels_6dof import Grasp6DLabelParams

PARAMS = Grasp6DLabelParams(point_spacing=0.03)  # a few grasp points per object: seconds, not minutes


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("g6")
    status = generate(out=out, scenes=2, max_objects=3, pool_size=3, seed=0, views=1, n_points=3000, params=PARAMS)
    return out, status


def test_a_tiny_run_writes_labels_a_scene_and_a_view(dataset):
    out, status = dataset
    assert status["status"] == "done" and status["scenes_done"] == 2
    scene = np.load(out / "scene_00000" / "scene.npz")
    names = [str(n) for n in scene["names"]]
    assert 1 <= len(names) <= 3 and scene["world_T_obj"].shape == (len(names), 4, 4)
    for name in names:
        lab = load_object_labels(out / "objects" / f"{name}.npz")
        P = len(lab.points)
        assert lab.scores.shape == (P, 300, 12, 4) and (lab.scores > 0).any()
        bad = np.unpackbits(scene[f"collision_{name}"])[:lab.scores.size].reshape(lab.scores.shape).astype(bool)
        assert bad.any() and not bad.all()                 # the table stops some grasps, not every one
        assert not (bad & (lab.scores == 0)).any()         # only grasps that score are checked
    view = np.load(out / "scene_00000" / "view_00.npz")
    assert view["cloud"].shape == (3000, 3) and view["segment"].shape == (3000,)
    # a point of an object lies within its size of that object's position, once moved into the world
    T = view["world_T_cam"]
    world = view["cloud"] @ T[:3, :3].T + T[:3, 3]
    for k, seg in enumerate(scene["segments"]):
        on = view["segment"] == seg
        if on.any():
            assert np.linalg.norm(world[on] - scene["world_T_obj"][k][:3, 3], axis=1).max() < 0.15


def test_targets_come_out_of_a_view(dataset):
    out, _ = dataset
    sample = GraspDataset6D(out, n_points=3000)[0]
    objects = sample["objects"]
    # seeds: the label points themselves, seen from this camera, and some table points
    seeds = np.concatenate([o.points @ o.cam_T_obj[:3, :3].T + o.cam_T_obj[:3, 3] for o in objects])
    segs = np.concatenate([np.full(len(o.points), o.segment) for o in objects])
    table = sample["cloud"][sample["segment"] < 0][:20]
    t = scene_targets(np.concatenate([seeds, table]), np.concatenate([segs, np.full(len(table), -1)]), objects, 300)
    assert (t["objectness"][:len(seeds)] == 1).any() and (t["objectness"][len(seeds):] == 0).all()
    assert t["valid"].any()


def test_the_network_trains_on_the_views(dataset):
    out, _ = dataset
    data = GraspDataset6D(out, n_points=512)
    torch.manual_seed(0)
    net = GraspNet6DoF(sample_sizes=(128, 64, 32, 16))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sample = data[0]
    history = [train_step(net, [sample], opt) for _ in range(8)]
    assert all(np.isfinite(h["total"]) for h in history)
    assert history[-1]["objectness"] < history[0]["objectness"]  # it learns where the graspable points are


def test_training_writes_a_model_folder_the_perception_planner_runs(dataset, tmp_path):
    """The training CLI's loop on the tiny set: a model folder (card kind point_cloud + safetensors) that the
    one loader reads, and that make_planner turns into 6-DoF grasps in the base frame."""
    from grasp_perception.geometry import CameraIntrinsics
    from grasp_perception.model_io import load_model
    from grasp_perception.planning import CameraFrame, PlannerConfig, PointCloudPlanner, make_planner
    from grasp_perception.pointcloud.model_card import PointCloudCard
    from grasp_perception.pointcloud.train import Config6D, Data6D, Train6D, train
    out, _ = dataset
    cfg = Config6D("tiny-6dof", str(tmp_path / "run"), {"sample_sizes": [128, 64, 32, 16]}, operation_seeds=16,
                   data=Data6D(str(out), n_points=512, val_scenes=1), train=Train6D(epochs=2))
    state = train(cfg, progress=False)
    assert state["epoch"] == 2 and len(state["history"]) == 2 and np.isfinite(state["best"])
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0
    net, card = load_model(tmp_path / "run" / "model")
    assert isinstance(card, PointCloudCard) and card.n_points == 512 and net.sample_sizes == (128, 64, 32, 16)
    planner = make_planner(tmp_path / "run" / "model", PlannerConfig(candidates=5))
    assert isinstance(planner, PointCloudPlanner)
    view = np.load(out / "scene_00000" / "view_00.npz")
    fx, fy, cx, cy, w, h = view["intrinsics"]
    K = CameraIntrinsics(int(w), int(h), fx, fy, cx, cy)
    # the view's cloud back into a depth image (every point lands on its own pixel)
    uv = np.rint(K.project(view["cloud"])).astype(int)
    depth = np.full((K.height, K.width), np.nan, np.float32)
    depth[uv[:, 1], uv[:, 0]] = view["cloud"][:, 2]
    base_T_cam = view["world_T_cam"]
    result = planner.plan(CameraFrame(depth, K, 0, "cam"), base_T_cam, now_ns=0, max_grasps=3)
    if not result.success:  # a two-step network may call no seed graspable, and says so
        assert "no seed point graspable" in result.message
    with torch.no_grad():   # make every seed graspable: the rest of the path is the trained network's
        planner.predictor.net.approach[-1].bias[1] += 100.0
    result = planner.plan(CameraFrame(depth, K, 0, "cam"), base_T_cam, now_ns=0, max_grasps=3,
                          min_quality=-np.inf)   # a two-step network's scores may be below 0
    assert result.success and len(result.grasps) == 3, result.message
    for g in result.grasps:
        assert np.allclose(g.pose.T, base_T_cam @ g.camera_pose.T)
        assert np.isclose(g.pose.approach_depth_m, planner.predictor.net.depths).any()
        assert np.allclose(K.project(g.camera_pose.position), (g.image.u, g.image.v), atol=1e-6)
        assert 0 <= g.pose.width_m <= 0.1


def test_a_resume_with_other_settings_is_refused(dataset):
    out, _ = dataset
    with pytest.raises(FileExistsError, match="--resume"):
        generate(out=out, scenes=2, max_objects=3, pool_size=3, seed=0, views=1, n_points=3000, params=PARAMS)
    with pytest.raises(ValueError, match="other settings"):
        generate(out=out, scenes=2, max_objects=3, pool_size=3, seed=0, views=2, n_points=3000, params=PARAMS,
                 resume=True)
    again = generate(out=out, scenes=2, max_objects=3, pool_size=3, seed=0, views=1, n_points=3000, params=PARAMS,
                     resume=True)
    assert again["scenes_done"] == 2  # the finished scenes are kept, not redone
