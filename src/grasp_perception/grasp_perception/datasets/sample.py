"""The in-memory form of one dataset scene, shared by every loader and transform."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..grasp import ImageGrasp


class DatasetError(ValueError):
    """Bad or missing dataset input; the message names the file (and line/field) at fault."""


@dataclass
class GraspSample:
    """One scene: images in a common ``(H, W)`` pixel grid plus its ground-truth grasps.

    * ``rgb``: ``(H, W, 3)`` uint8 in **RGB** order (OpenCV's BGR is converted by the loaders),
      or ``None`` for depth-only data.
    * ``depth``: ``(H, W)`` float32 in metres; invalid pixels are NaN (never 0 or -1). A median outside
      ``preprocessing.DEPTH_RANGE_M`` (millimetres, say) is a :class:`DatasetError`.
    * ``mask``: ``(H, W)`` bool object mask, or ``None``.
    * ``grasps``: ground-truth grasps in this image's pixel coordinates (see ``grasp.py``).
    """

    rgb: np.ndarray | None
    depth: np.ndarray
    mask: np.ndarray | None
    grasps: list[ImageGrasp] = field(default_factory=list)
    sample_id: str = ""
    object_id: str = ""

    def __post_init__(self):
        where = f"sample {self.sample_id!r}: " if self.sample_id else ""
        depth = np.asarray(self.depth)
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
            raise DatasetError(f"{where}depth must be a 2-D float array (metres), "
                               f"got shape {depth.shape} dtype {depth.dtype}")
        self.depth = depth.astype(np.float32, copy=False)
        from .preprocessing import check_depth_metres  # here: preprocessing imports this module
        check_depth_metres(self.depth, f"sample {self.sample_id!r}" if self.sample_id else "sample depth")
        shape = self.depth.shape
        if self.rgb is not None:
            rgb = np.asarray(self.rgb)
            if rgb.shape != shape + (3,) or rgb.dtype != np.uint8:
                raise DatasetError(f"{where}rgb must be uint8 of shape {shape + (3,)} to match "
                                   f"the depth image, got {rgb.dtype} {rgb.shape}")
            self.rgb = rgb
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.shape != shape:
                raise DatasetError(f"{where}mask must have the depth image's shape {shape}, "
                                   f"got {mask.shape}")
            self.mask = mask.astype(bool, copy=False)
        self.grasps = list(self.grasps)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the images."""
        return self.depth.shape  # type: ignore[return-value]
