"""Training configs: key-path errors, list shapes, cross-key checks, defaults, and the paper recipes."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from grasp_perception.config import ConfigError, config_from_dict, load_config
from grasp_perception.data_setup import make_source
from grasp_perception.datasets import GraspDataset, GraspSample
from grasp_perception.grasp import ImageGrasp
from grasp_perception.maps import DEFAULT_SIGMA
from grasp_perception.networks import build_network
from grasp_perception.training import card_for

REPO = Path(__file__).resolve().parents[3]
TRAIN = REPO / "config" / "train"


def test_every_shipped_training_config_loads_and_builds_its_network():
    files = sorted(TRAIN.glob("*.yaml"))
    assert len(files) >= 6
    names = set()
    for f in files:
        cfg = load_config(f)
        card = card_for(cfg)
        net = build_network(cfg.model.architecture, in_channels=card.in_channels, n_bins=cfg.model.n_bins,
                            **cfg.model.kwargs)
        assert net.in_channels == {"depth": 1, "rgb": 3, "rgbd": 4}[cfg.model.inputs]
        assert cfg.name not in names, f"{f.name}: run name {cfg.name!r} is used twice"
        names.add(cfg.name)


def test_every_point_cloud_training_config_loads_and_builds_its_network():
    from grasp_perception.pointcloud.model_card import PointCloudCard
    from grasp_perception.pointcloud.train import load_config as load_6d
    files = sorted((TRAIN / "pointcloud").glob("*.yaml"))
    assert files
    for f in files:
        cfg = load_6d(f)
        card = PointCloudCard(cfg.name, "graspnet6dof", cfg.data.n_points, dict(cfg.arch_kwargs), cfg.operation_seeds)
        assert sum(p.numel() for p in card.build().parameters()) == 1_015_806   # the paper's sizes


@pytest.mark.parametrize("name", ["ggcnn2_jacquard", "grconvnet_jacquard", "unet_jacquard"])
def test_gaussian_maps_paper_recipes_are_the_papers_setting(name):
    cfg = load_config(TRAIN / f"{name}.yaml")
    # Prew et al. IV-D: RGB-D 320x320, no augmentation, 3 bins + positional loss in every compared model.
    assert (cfg.model.inputs, cfg.data.input_size, cfg.data.crop) == ("rgbd", 320, "resize")
    assert cfg.data.augment.enabled is False
    assert cfg.model.n_bins == 3 and cfg.loss.positional
    assert cfg.data.split.fractions == [0.8, 0.1, 0.1]  # the authors' split file: 43,588 / 5,449 / 5,448
    assert (cfg.targets.map, cfg.targets.sigma) == ("strong", 0.5)


def test_efficient_fcn_recipe_uses_the_papers_weighted_mse():
    cfg = load_config(TRAIN / "efficient_fcn_cornell.yaml")
    w = cfg.loss.weights
    assert (w.quality, w.angle, w.width) == (5.0, 3.0, 4.0)
    assert (cfg.data.input_size, cfg.optim.batch_size, cfg.train.epochs, cfg.data.split.k_folds) == (400, 32, 100, 5)


def test_missing_keys_take_the_documented_defaults():
    cfg = config_from_dict({})
    assert cfg.loss.weights.quality == cfg.loss.weights.angle == cfg.loss.weights.width == 1.0
    assert cfg.targets.sigma is None  # = the map's own default
    assert config_from_dict({"targets": {"map": "soft"}}).targets.resolved_sigma() == DEFAULT_SIGMA["soft"] == 2.0
    assert config_from_dict({"targets": {"map": "strong"}}).targets.resolved_sigma() == 0.5
    assert config_from_dict({"targets": {"map": "soft", "sigma": 1}}).targets.resolved_sigma() == 1.0


@pytest.mark.parametrize("values, match", [
    ({"data": {"augment": {"zoom": [0.8]}}}, r"data\.augment\.zoom must be a list of 2 numbers"),
    ({"data": {"augment": {"zoom": [0.8, "x"]}}}, r"data\.augment\.zoom"),
    ({"data": {"augment": {"zoom": [1.0, 0.8]}}}, r"data\.augment\.zoom must be \[min, max\]"),
    ({"data": {"split": {"fractions": [0.9, 0.1]}}}, r"data\.split\.fractions must be a list of 3"),
    ({"data": {"split": {"fractions": [0.8, 0.1, 0.2]}}}, r"data\.split\.fractions must be >= 0 and sum to 1"),
    ({"loss": {"kind": "focal"}}, r"quality_activation: sigmoid"),
    ({"loss": {"weights": {"quality": -1}}}, r"loss\.weights\.quality"),
    ({"loss": {"weights": {"angel": 1}}}, r"loss\.weights\.angel"),
    ({"targets": {"sigma": 0}}, r"targets\.sigma must be > 0"),
    ({"targets": {"sigma": "wide"}}, r"targets\.sigma must be float"),
    ({"data": {"input_sise": 300}}, r"data\.input_sise"),
    ({"targets": {"map": "gaussian"}}, r"targets\.map must be one of"),
    ({"optim": {"batch_size": "8"}}, r"optim\.batch_size must be int"),
])
def test_bad_values_name_the_key_path(values, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(values, source="my.yaml")


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"data": {"augment": {"zoom": [0.8]}}}))
    with pytest.raises(ConfigError, match=r"bad\.yaml: data\.augment\.zoom"):
        load_config(path)


def test_overrides_apply_and_parse_as_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\n")
    cfg = load_config(path, ["train.epochs=3", "data.augment.flip=false", "optim.lr=0.01", "targets.sigma=2"])
    assert cfg.train.epochs == 3 and cfg.data.augment.flip is False and cfg.optim.lr == 0.01
    assert cfg.targets.sigma == 2.0


def test_empty_data_root_is_an_error_not_the_current_directory():
    with pytest.raises(ValueError, match="data.root"):
        make_source("jacquard", "")
    with pytest.raises(ValueError, match="data.root"):
        make_source("jacquard", "  ")


class _OneScene:
    def __init__(self, n_grasps):
        rng = np.random.default_rng(0)
        self.grasps = [ImageGrasp(u=rng.uniform(20, 44), v=rng.uniform(20, 44), angle=0.1, width=20, jaw=10)
                       for _ in range(n_grasps)]

    def __len__(self):
        return 1

    def load(self, i):
        return GraspSample(rgb=None, depth=np.full((64, 64), 0.6, np.float32), mask=None, grasps=self.grasps)


@pytest.mark.parametrize("augment", [False, True])
def test_max_train_grasps_applies_with_and_without_augmentation(augment):
    from grasp_perception.datasets import Augment
    seen = []

    def target_fn(grasps, shape):
        seen.append(len(grasps))
        return {"quality": np.zeros((1, *shape), np.float32)}

    aug = Augment(rotation_deg=0.0, zoom=(1.0, 1.0), flip=False, translation_px=0.0) if augment else None
    ds = GraspDataset(_OneScene(50), input_size=64, augment=aug, target_fn=target_fn, max_train_grasps=7)
    item = ds[0]
    assert seen == [7]
    if not augment:
        assert len(item["grasps"]) == 50  # evaluation still sees every ground-truth grasp
