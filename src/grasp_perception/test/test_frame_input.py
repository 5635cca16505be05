"""The run-time input path (FrameInput) gives the values training's ``prepare`` gives, with less work."""
import numpy as np
import pytest

from grasp_perception.datasets import GraspSample, prepare
from grasp_perception.frame_input import FrameInput


def frame(seed=0, h=120, w=160, holes=True):
    rng = np.random.default_rng(seed)
    depth = (0.6 + 0.01 * rng.standard_normal((h, w))).astype(np.float32)
    depth[40:70, 60:100] -= 0.05  # an object
    if holes:
        depth[rng.random((h, w)) < 0.02] = np.nan
        depth[50:55, 70:80] = 0.0  # a dropout block, encoded as 0
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return depth, rgb


@pytest.mark.parametrize("channels", ["depth", "rgb", "rgbd"])
@pytest.mark.parametrize("crop,size", [("center", 96), ("resize", 64)])
@pytest.mark.parametrize("holes", [True, False])
def test_same_input_as_training_prepare(channels, crop, size, holes):
    depth, rgb = frame(holes=holes)
    fi = FrameInput(channels, size, crop, inpaint=True)
    x, info = fi(depth, rgb)
    sample = GraspSample(rgb=rgb, depth=np.where(depth > 0, depth, np.nan).astype(np.float32), mask=None)
    ref, _, ref_info = prepare(sample, size, channels=channels, crop=crop, inpaint=True)
    assert x.shape == (1,) + ref.shape
    np.testing.assert_allclose(x[0], ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(info.matrix, ref_info.matrix)


def test_buffer_is_reused_and_the_frame_untouched():
    depth, rgb = frame()
    before = depth.copy()
    fi = FrameInput("depth", 96, "center")
    x1, _ = fi(depth)
    x2, _ = fi(frame(seed=1)[0])
    assert x1 is x2 is fi.buffer  # no allocation per frame for the network input
    np.testing.assert_array_equal(depth, before)  # inpainting never writes into the caller's image


def test_clear_errors():
    depth, _ = frame()
    with pytest.raises(ValueError, match="expects 'rgbd' input but only depth"):
        FrameInput("rgbd", 96)(depth)
    with pytest.raises(ValueError, match="centre crop 200x200 does not fit in the 120x160"):
        FrameInput("depth", 200)(depth)
    with pytest.raises(ValueError, match="no valid pixel"):
        FrameInput("depth", 96)(np.full((120, 160), np.nan, np.float32))


def test_millimetre_depth_is_an_error_saying_so():
    depth, _ = frame()
    with pytest.raises(ValueError, match=r"depth image: median depth \d{3}(\.\d)? is not a distance in metres.*millimetres"):
        FrameInput("depth", 96)(depth * 1000)
    with pytest.raises(ValueError, match=r"median depth 0.000\d+ is not a distance in metres"):
        FrameInput("rgbd", 96)(depth / 1000, frame()[1])
    FrameInput("depth", 96)(depth)  # metres pass


def test_unknown_normalisation_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown normalisation 'zscore'; choices: \['mean_centred'\]"):
        FrameInput("depth", 96, normalisation="zscore")


@pytest.mark.parametrize("inputs,crop,size", [("depth", "center", 256), ("rgbd", "resize", 224)])
def test_predictor_and_dataset_build_the_same_input_for_the_same_card(jacquard_root, inputs, crop, size):
    """The run-time path (GraspPredictor -> FrameInput) and the training/evaluation path (GraspDataset ->
    prepare_geometry + finish_input) give one network input for one scene and one card."""
    import torch
    from grasp_perception.data_setup import dataset_for_card
    from grasp_perception.inference import GraspPredictor
    from grasp_perception.model_io import ModelCard
    from grasp_perception.networks import build_network
    card = ModelCard(name="same-input", architecture="ggcnn2", inputs=inputs, n_bins=1, input_size=size,
                     crop=crop, max_width_px=150.0, inpaint=True)
    predictor = GraspPredictor((build_network("ggcnn2", card.in_channels).eval(), card), device="cpu")
    seen = []

    def recording_backend(x):
        seen.append(x.copy())
        return tuple(np.zeros((1, 1, size, size), np.float32) for _ in range(4))

    predictor.backend = recording_backend
    dataset = dataset_for_card(card, "jacquard", jacquard_root, "stereo")  # stereo: holes to inpaint
    for k in (0, 5):
        sample = dataset.load(k)
        assert np.isnan(sample.depth).any()
        predictor.predict(sample.depth, rgb=sample.rgb)
        ref = dataset[k]["x"]
        assert isinstance(ref, torch.Tensor) and seen[-1].shape == (1,) + tuple(ref.shape)
        assert float(np.abs(seen[-1][0] - ref.numpy()).max()) <= 1e-6
