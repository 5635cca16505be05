from pathlib import Path
import pytest
import torch
import yaml

from grasp_perception.model_io import ModelCard, ModelFileError, load_model, save_model
from grasp_perception.networks import build_network

REPO = Path(__file__).resolve().parents[3]


def _card(**kw):
    base = dict(name="t", architecture="ggcnn2", inputs="depth", n_bins=3, input_size=96, crop="resize",
                max_width_px=150.0)
    base.update(kw)
    return ModelCard(**base)


def test_save_load_round_trip_reproduces_outputs(tmp_path):
    card = _card()
    net = build_network("ggcnn2", in_channels=1, n_bins=3)
    save_model(tmp_path / "m", net, card)
    loaded, loaded_card = load_model(tmp_path / "m")
    assert loaded_card == card
    x = torch.randn(1, 1, 96, 96)
    net.eval()
    for a, b in zip(net(x), loaded(x)):
        assert torch.equal(a, b)
    # Any of the three paths works.
    load_model(tmp_path / "m" / "model.safetensors")
    load_model(tmp_path / "m" / "card.yaml")


def test_card_that_does_not_match_weights_is_an_error(tmp_path):
    save_model(tmp_path / "m", build_network("ggcnn2", in_channels=1, n_bins=3), _card())
    card_path = tmp_path / "m" / "card.yaml"
    values = yaml.safe_load(card_path.read_text())
    values["inputs"] = "rgbd"  # the weights were trained on depth only
    card_path.write_text(yaml.safe_dump(values))
    with pytest.raises(ModelFileError, match=r"card .*card.yaml does not match weights .*model.safetensors"):
        load_model(tmp_path / "m")
    values["inputs"], values["n_bins"] = "depth", 1
    card_path.write_text(yaml.safe_dump(values))
    with pytest.raises(ModelFileError, match=r"does not match"):
        load_model(tmp_path / "m")


def test_bad_model_files_give_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="model path not found"):
        load_model(tmp_path / "nothing")
    save_model(tmp_path / "m", build_network("ggcnn2", in_channels=1, n_bins=1), _card(n_bins=1))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "card.yaml").write_text("name: x\n")
    with pytest.raises(ModelFileError, match=r"missing field\(s\)"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "card.yaml").unlink()
    with pytest.raises(ModelFileError, match="model file missing: .*card.yaml"):
        load_model(tmp_path / "m")


def test_every_way_of_naming_the_default_model_resolves_to_it():
    """`model:=default`, `model:=models/default` (the pointer file) and the folder itself are one model."""
    from grasp_perception.model_io import models_dir, resolve_model_path
    folder = models_dir() / (models_dir() / "default").read_text().strip()
    expected = resolve_model_path(folder)
    for name in ("default", models_dir() / "default", folder / "card.yaml", folder / "model.safetensors"):
        assert [p.resolve() for p in resolve_model_path(name)] == [p.resolve() for p in expected], name


def test_every_shipped_model_loads_under_its_own_name():
    """Each models/<name>/ folder is a whole model: its weights match its card, the card names the folder, and it
    records the metric scale the predictor rescales other cameras to (all shipped models are centre-crop)."""
    from grasp_perception.model_io import load_model, models_dir
    from grasp_perception.pointcloud.model_card import PointCloudCard
    folders = sorted(p for p in models_dir().iterdir() if p.is_dir())
    assert folders, f"no model folders in {models_dir()}"
    for folder in folders:
        network, card = load_model(folder)
        assert card.name == folder.name, folder
        if not isinstance(card, PointCloudCard):  # image models: a point-cloud card has no crop
            assert card.crop != "center" or card.metres_per_pixel is not None, folder
        assert sum(p.numel() for p in network.parameters()) > 0
