"""The metric rescaling of frames to a model's trained scale (grasp_perception.metric_scale)."""
import numpy as np
import pytest

from grasp_perception.datasets import to_original
from grasp_perception.frame_input import FrameInput
from grasp_perception.grasp import ImageGrasp
from grasp_perception.metric_scale import (SCALE_TOLERANCE, frame_metres_per_pixel, input_scale, surface_depth,
                                           window_matrix)
from grasp_perception.config import ConfigError, config_from_dict
from grasp_perception.model_io import ModelCard, ModelFileError
from grasp_perception.training import dataset_metres_per_pixel


def table(h=240, w=320, z=0.6):
    depth = np.full((h, w), z, np.float32)
    depth[100:140, 140:180] = z - 0.05  # an object: nearer, so it must not pull the surface depth
    depth[::7, ::5] = np.nan            # holes
    return depth


def test_surface_depth_is_the_table_not_the_objects_or_holes():
    assert surface_depth(table()) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="no valid depth"):
        surface_depth(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="does not overlap"):
        surface_depth(table(), region=(400, 0, 500, 10))


def test_scale_is_the_ratio_of_metres_per_pixel():
    depth = table(z=0.4)
    assert frame_metres_per_pixel(depth, 400.0, 400.0) == pytest.approx(0.001)
    assert input_scale(0.002, depth, 400.0, 400.0) == pytest.approx(0.5)   # halve the frame
    assert input_scale(None, depth, 400.0, 400.0) == 1.0                   # no scale recorded: as it comes
    near = 0.001 * (1 + SCALE_TOLERANCE / 2)
    assert input_scale(near, depth, 400.0, 400.0) == 1.0                   # the trained camera: exact crop
    with pytest.raises(ValueError, match="focal"):
        frame_metres_per_pixel(depth, 0.0, 400.0)


def test_window_matrix_at_scale_one_is_the_centre_crop():
    fi = FrameInput("depth", 96, "center")
    depth = table()
    x1, info1 = fi(depth)
    x1 = x1.copy()
    x2, info2 = fi(depth, scale=1.0, centre=(160.0, 120.0))  # the warp path, same window
    np.testing.assert_allclose(info2.matrix, info1.matrix)
    np.testing.assert_allclose(x2, x1, atol=1e-6)


def test_rescaled_window_maps_grasps_back_to_frame_pixels():
    fi = FrameInput("depth", 96, "center")
    _, info = fi(table(), scale=0.5, centre=(100.0, 80.0))
    np.testing.assert_allclose(info.matrix, window_matrix(0.5, (100.0, 80.0), 96))
    g = to_original(ImageGrasp(u=48.0, v=48.0, angle=0.3, width=20.0, jaw=10.0, quality=1.0), info)
    assert (g.u, g.v) == pytest.approx((100.0, 80.0))  # the window's middle is the centre asked for
    assert g.width == pytest.approx(40.0)               # 20 input px = 40 frame px at half scale
    assert g.angle == pytest.approx(0.3)


def test_window_outside_the_frame_is_invalid_then_inpainted():
    fi = FrameInput("depth", 96, "center")
    x, _ = fi(table(h=100, w=100), scale=0.5)  # the window covers 192 frame px: most of it is outside
    assert np.isfinite(x).all()


def test_card_checks_metres_per_pixel():
    base = dict(name="m", architecture="ggcnn2", inputs="depth", n_bins=1, input_size=96, crop="center",
                max_width_px=100.0)
    assert ModelCard(**base, metres_per_pixel=0.001).metres_per_pixel == 0.001
    assert ModelCard(**base).metres_per_pixel is None
    for bad in (0.0, -1e-3, 5.0, "1mm", True):
        with pytest.raises(ModelFileError, match="metres_per_pixel"):
            ModelCard(**base, metres_per_pixel=bad)


def test_training_records_the_datasets_scale(tmp_path):
    def cfg(**data):
        return config_from_dict({"data": {"root": str(tmp_path), "crop": "center", **data}})
    assert dataset_metres_per_pixel(cfg()) is None                            # nothing says: not recorded
    (tmp_path / "generation.json").write_text('{"metres_per_pixel": 0.00097}')
    assert dataset_metres_per_pixel(cfg()) == pytest.approx(0.00097)          # the generator's value
    assert dataset_metres_per_pixel(cfg(metres_per_pixel=0.002)) == 0.002     # the config wins
    assert dataset_metres_per_pixel(cfg(crop="resize")) is None               # a resized input has no one scale
    (tmp_path / "generation.json").write_text("{not json")
    with pytest.raises(ConfigError, match="generation.json"):
        dataset_metres_per_pixel(cfg())
