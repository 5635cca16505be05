"""Grasp datasets: Jacquard/Cornell readers, pre-processing, augmentation, splits, torch Dataset."""
from .cornell import CornellSource, parse_cornell_rectangles, pcd_to_depth
from .grasp_dataset import (CROPS, GraspDataset, InputInfo, collate_items, finish_input, grasps_from_array,
                            grasps_to_array, prepare, prepare_geometry, to_original)
from .jacquard import (JacquardSource, dedupe_jaw, format_jacquard_grasp, parse_jacquard_grasps,
                       read_depth_tiff, write_jacquard_scene)
from .preprocessing import CHANNELS, inpaint_depth, invalid_depth, make_input, normalise_depth, normalise_rgb
from .sample import DatasetError, GraspSample
from .splits import image_wise_split, k_folds, object_wise_split
from .transforms import Augment, center_crop, crop, resize, transform_grasp, warp

__all__ = [
    "CHANNELS", "CROPS", "Augment", "collate_items", "grasps_from_array", "grasps_to_array", "CornellSource", "DatasetError", "GraspDataset", "GraspSample", "InputInfo",
    "JacquardSource", "center_crop", "crop", "dedupe_jaw", "finish_input",
    "format_jacquard_grasp", "image_wise_split", "inpaint_depth", "invalid_depth", "k_folds",
    "make_input", "normalise_depth", "normalise_rgb", "object_wise_split",
    "parse_cornell_rectangles", "parse_jacquard_grasps", "pcd_to_depth", "prepare",
    "prepare_geometry", "read_depth_tiff", "resize", "to_original", "transform_grasp", "warp",
    "write_jacquard_scene",
]
