"""Model cards: typed fields, errors that name the card and the field, and the format-1 migration."""
import dataclasses
import shutil

import pytest
import torch
import yaml

from grasp_perception.config import PostprocessConfig
from grasp_perception.inference import GraspPredictor
from grasp_perception.model_io import FORMAT_VERSION, ModelCard, ModelFileError, load_card, load_model, save_model
from grasp_perception.networks import build_network

FORMAT_1_NORMALISATION = {"depth": "clip(depth_m - mean(depth_m), -1, 1)", "rgb": "rgb / 255 - mean(rgb / 255)"}


def _card(**kw) -> ModelCard:
    base = dict(name="t", architecture="ggcnn2", inputs="depth", n_bins=1, input_size=64, crop="resize",
                max_width_px=80.0)
    return ModelCard(**{**base, **kw})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved depth GG-CNN2 (format 2), copied by each test that edits its card."""
    torch.manual_seed(0)
    return save_model(tmp_path_factory.mktemp("m") / "m", build_network("ggcnn2", 1, n_bins=1), _card())


def _with_card(saved, tmp_path, edit) -> tuple:
    """A copy of ``saved`` whose card values went through ``edit(values)``; returns (dir, card path)."""
    out = tmp_path / "copy"
    shutil.copytree(saved, out)
    card_path = out / "card.yaml"
    values = yaml.safe_load(card_path.read_text())
    edit(values)
    card_path.write_text(yaml.safe_dump(values, sort_keys=False))
    return out, card_path


def test_written_card_is_format_2_with_plain_postprocess_and_stated_activation(saved):
    raw = yaml.safe_load((saved / "card.yaml").read_text())
    assert raw["format_version"] == FORMAT_VERSION == 2
    assert raw["arch_kwargs"] == {"quality_activation": "linear"}  # filled: the network's default, stated
    assert raw["normalisation"] == "mean_centred"
    assert raw["postprocess"] == dataclasses.asdict(PostprocessConfig())  # a plain mapping, every field


def test_postprocess_is_typed_and_missing_fields_take_the_defaults(saved, tmp_path):
    directory, _ = _with_card(saved, tmp_path, lambda v: v.update(postprocess={"min_distance": 7}))
    card = load_card(directory)
    assert isinstance(card.postprocess, PostprocessConfig)
    assert card.postprocess == dataclasses.replace(PostprocessConfig(), min_distance=7)
    # ...and the predictor runs with them.
    assert GraspPredictor(directory, device="cpu").postprocess["min_distance"] == 7


def _set(path: str, value):
    def edit(values):
        node = values
        *parents, key = path.split(".")
        for p in parents:
            node = node[p]
        node[key] = value
    return edit


BAD_FIELDS = [
    ("n_bins", "3", r"n_bins must be an integer >= 1, got '3'"),
    ("input_size", 0, r"input_size must be an integer >= 1, got 0"),
    ("inputs", "rgbx", r"inputs must be one of \['depth', 'rgb', 'rgbd'\], got 'rgbx'"),
    ("crop", "pad", r"crop must be one of \['resize', 'center'\], got 'pad'"),
    ("architecture", "resnet", r"architecture must be one of \[.*'ggcnn2'.*\], got 'resnet'"),
    ("max_width_px", "wide", r"max_width_px must be a number > 0"),
    ("max_width_px", -5, r"max_width_px must be a number > 0"),
    ("inpaint", "yes", r"inpaint must be true or false, got 'yes'"),
    ("name", 3, r"name must be a string"),
    ("normalisation", "zscore", r"normalisation must be one of \['mean_centred'\], got 'zscore'"),
    ("normalisation", FORMAT_1_NORMALISATION, r"normalisation must be one of \['mean_centred'\]"),
    ("postprocess", [1, 2], r"postprocess must be a mapping of PostprocessConfig fields"),
    ("postprocess.min_distance", "x", r"postprocess\.min_distance must be int, got 'x'"),
    ("postprocess.min_distance", 2.5, r"postprocess\.min_distance must be int"),
    ("postprocess.min_distance", -1, r"postprocess\.min_distance must be an integer >= 0, got -1"),
    ("postprocess.threshold", "low", r"postprocess\.threshold must be float, got 'low'"),
    ("postprocess.quality_sigma", -1.0, r"postprocess\.quality_sigma must be a finite number >= 0"),
    ("postprocess.min_dist", 5, r"unknown key\(s\) postprocess\.min_dist; expected one of"),
    ("arch_kwargs", [], r"arch_kwargs must be a mapping of network options"),
    ("arch_kwargs.channel_size", 32, r"arch_kwargs\.channel_size is not an option of network 'ggcnn2'; "
                                     r"expected some of \[.*'filter_sizes'.*\]"),
    ("arch_kwargs.l3_k_size", "5", r"arch_kwargs\.l3_k_size must be an integer, got '5'"),
    ("arch_kwargs.filter_sizes", [16, 16], r"arch_kwargs\.filter_sizes must be a list of 4 integers, got \[16, 16\]"),
    ("arch_kwargs.quality_activation", "relu", r"arch_kwargs\.quality_activation must be one of "
                                               r"\['linear', 'sigmoid'\], got 'relu'"),
    ("format_version", 3, r"format_version 3 is newer than this code understands \(2\)"),
    ("format_version", "2", r"format_version must be an integer >= 1, got '2'"),
    ("format_version", 0, r"format_version must be an integer >= 1, got 0"),
    ("colour", "red", r"unknown field\(s\) \['colour'\]"),
]


@pytest.mark.parametrize("field,value,message", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v, _ in BAD_FIELDS])
def test_every_bad_field_is_an_error_naming_the_card_the_field_and_what_was_expected(saved, tmp_path, field, value,
                                                                                        message):
    directory, card_path = _with_card(saved, tmp_path, _set(field, value))
    for load in (load_card, load_model, lambda p: GraspPredictor(p, device="cpu")):
        with pytest.raises(ModelFileError, match=message) as info:  # never a TypeError from deeper down
            load(directory)
        assert str(info.value).startswith(f"{card_path}: ")


def test_format_2_card_must_state_the_quality_activation(saved, tmp_path):
    directory, card_path = _with_card(saved, tmp_path, lambda v: v.update(arch_kwargs={}))
    with pytest.raises(ModelFileError, match=r"card.yaml: arch_kwargs\.quality_activation is missing"):
        load_card(directory)


def test_cards_built_in_code_are_checked_too():
    with pytest.raises(ModelFileError, match=r"n_bins must be an integer >= 1, got '3'"):
        _card(n_bins="3")
    with pytest.raises(ModelFileError, match=r"postprocess\.min_distance must be int"):
        _card(postprocess={"min_distance": "x"})
    with pytest.raises(ModelFileError, match=r"postprocess\.threshold must be a finite number"):
        _card(postprocess=PostprocessConfig(threshold=float("nan")))
    card = _card(postprocess={"min_distance": 3}, max_width_px=80)  # a mapping becomes the dataclass
    assert card.postprocess == PostprocessConfig(min_distance=3) and card.max_width_px == 80.0


def test_a_focal_trained_card_must_be_sigmoid():
    with pytest.raises(ModelFileError, match=r"focal loss .* needs quality_activation: sigmoid"):
        _card(training_config={"loss": {"kind": "focal"}})
    card = _card(training_config={"loss": {"kind": "focal"}}, arch_kwargs={"quality_activation": "sigmoid"})
    assert card.quality_activation == "sigmoid"


def _as_format_1(values: dict, **changes) -> None:
    """The values format 1 (save_model before FORMAT_VERSION 2) wrote."""
    values["format_version"] = 1
    values["normalisation"] = dict(FORMAT_1_NORMALISATION)
    values["arch_kwargs"] = {}
    values.update(changes)


def test_format_1_card_is_migrated_and_saved_again_as_format_2(saved, tmp_path):
    directory, _ = _with_card(saved, tmp_path, _as_format_1)
    network, card = load_model(directory)
    assert (card.normalisation, card.arch_kwargs, card.format_version) == ("mean_centred",
                                                                           {"quality_activation": "linear"}, 2)
    assert network.quality_activation == "linear"
    save_model(tmp_path / "again", network, card)
    raw = yaml.safe_load((tmp_path / "again" / "card.yaml").read_text())
    assert (raw["format_version"], raw["normalisation"], raw["arch_kwargs"]) == (2, "mean_centred",
                                                                              {"quality_activation": "linear"})
    # A format-1 card without the (then optional) normalisation had the default one.
    directory, _ = _with_card(saved, tmp_path / "b", lambda v: (_as_format_1(v), v.pop("normalisation")))
    assert load_card(directory).normalisation == "mean_centred"


def test_format_1_focal_card_without_the_activation_is_an_error(saved, tmp_path):
    focal = {"loss": {"kind": "focal", "focal_alpha": 0.95}}
    directory, card_path = _with_card(saved, tmp_path, lambda v: _as_format_1(v, training_config=focal))
    with pytest.raises(ModelFileError, match=r"trained with the focal loss .* must state "
                                             r"arch_kwargs\.quality_activation: sigmoid") as info:
        load_card(directory)
    assert str(card_path) in str(info.value)
    stated = {"quality_activation": "sigmoid"}
    directory, _ = _with_card(saved, tmp_path / "b",
                              lambda v: _as_format_1(v, training_config=focal, arch_kwargs=stated))
    network, card = load_model(directory)
    assert card.quality_activation == "sigmoid" and network.quality_activation == "sigmoid"
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        q = network(x)[0]
    assert float(q.min()) >= 0 and float(q.max()) <= 1  # probabilities, as the threshold expects


def test_format_1_card_with_other_normalisation_text_is_an_error(saved, tmp_path):
    other = {"depth": "depth_m / 10", "rgb": "rgb / 255"}
    directory, card_path = _with_card(saved, tmp_path, lambda v: _as_format_1(v, normalisation=other))
    with pytest.raises(ModelFileError, match=r"card.yaml: normalisation .*depth_m / 10.* is not one this code "
                                             r"implements; expected the formulas of 'mean_centred'"):
        load_card(directory)


def test_the_shipped_default_card_is_format_2_and_loads():
    from grasp_perception.model_io import resolve_model_path
    card_path, _ = resolve_model_path("default")
    raw = yaml.safe_load(card_path.read_text())
    assert raw["format_version"] == 2 and raw["normalisation"] == "mean_centred"
    assert raw["arch_kwargs"]["quality_activation"] == "linear"
    network, card = load_model("default")
    assert card.postprocess.min_distance == raw["postprocess"]["min_distance"]
    assert network.quality_activation == "linear"
