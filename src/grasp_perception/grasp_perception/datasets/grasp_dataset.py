"""Torch Dataset turning a scene source (Jacquard/Cornell/...) into network inputs and targets."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from ..grasp import ImageGrasp
from .preprocessing import CHANNELS, inpaint_depth, make_input
from .sample import DatasetError, GraspSample
from .transforms import (Augment, _size2, center_crop, center_crop_origin, compose, crop_matrix,
                         invert, resize, resize_matrix, transform_grasp)

TargetFn = Callable[[list[ImageGrasp], tuple[int, int]], dict[str, np.ndarray]]

#: how the square network window is cut from an image (see :func:`prepare_geometry`)
CROPS = ("resize", "center")


class SceneSource(Protocol):
    def __len__(self) -> int: ...
    def load(self, i: int) -> GraspSample: ...


@dataclass(frozen=True)
class InputInfo:
    """How a network input was cut from the original image.

    ``matrix`` (2x3) maps original pixel ``(u, v)`` to network-input pixel ``(u, v)``.
    """

    matrix: np.ndarray
    original_shape: tuple[int, int]
    input_size: int


def to_original(grasp: ImageGrasp, info: InputInfo) -> ImageGrasp:
    """Map a grasp from network-input coordinates back to original image pixels."""
    return transform_grasp(grasp, invert(info.matrix))


def prepare_geometry(sample: GraspSample, input_size: int, crop: str = "resize"
                     ) -> tuple[GraspSample, InputInfo]:
    """Cut the ``input_size``-square network window out of ``sample`` (images and grasps).

    ``"resize"``: the whole image is scaled to the input size (Jacquard 1024 -> S); a
    non-square image is first centre-cropped to its largest square. ``"center"``: a centred
    ``S x S`` window with no scaling (Cornell 480x640 -> S <= 480). The window never depends on
    the ground truth: GG-CNN centred its Cornell crop on the GT rectangles, which leaks the labels
    into the test input and cannot be reproduced on a robot.
    """
    s = _size2(input_size)[0]
    h, w = sample.shape
    if crop == "resize":
        side = min(h, w)
        top, left = center_crop_origin((h, w), side)
        square = center_crop(sample, side) if (h, w) != (side, side) else sample
        out = resize(square, s) if side != s else square
        m = compose(resize_matrix((side, side), s), crop_matrix(top, left))
    elif crop == "center":
        if s > h or s > w:
            raise ValueError(f"centre crop {s}x{s} does not fit in the {h}x{w} image "
                             f"(sample {sample.sample_id!r}); use crop='resize' or a smaller size")
        top, left = center_crop_origin((h, w), s)
        out = center_crop(sample, s)
        m = crop_matrix(top, left)
    else:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    return out, InputInfo(matrix=m, original_shape=(h, w), input_size=s)


def finish_input(sample: GraspSample, channels: str, inpaint: bool = True) -> np.ndarray:
    """Inpaint (optional) and normalise the images of an already-cut sample -> ``(C, S, S)``."""
    depth = sample.depth
    if inpaint and channels != "rgb":
        try:
            depth = inpaint_depth(depth)
        except DatasetError as exc:
            raise DatasetError(f"sample {sample.sample_id!r}: {exc}") from None
    return make_input(sample.rgb, depth, channels)


def prepare(sample: GraspSample, input_size: int, channels: str = "depth", crop: str = "resize",
            inpaint: bool = True) -> tuple[np.ndarray, list[ImageGrasp], InputInfo]:
    """Network input, grasps in input coordinates, and the mapping back to the original.

    The same function serves training, evaluation and run-time inference (where the sample
    simply has no grasps).
    """
    cut, info = prepare_geometry(sample, input_size, crop)
    return finish_input(cut, channels, inpaint), cut.grasps, info


class GraspDataset(Dataset):
    """Items ``{"x": (C, S, S) float tensor, "targets": {name: tensor}, "index": k}``.

    ``target_fn(grasps, (S, S))`` builds the training maps from the (augmented) grasps in input
    coordinates; without it there is no ``"targets"`` key. Augmentation draws its randomness
    from ``(seed, epoch, source index)`` only, so results do not depend on worker count or order.
    Call :meth:`set_epoch` before each epoch; with ``persistent_workers=True`` the workers keep
    their own copy of the dataset and would not see the new epoch.
    """

    def __init__(self, source: SceneSource, indices: Sequence[int] | None = None,
                 input_size: int = 300, channels: str = "depth", crop: str = "resize",
                 inpaint: bool = True, augment: Augment | None = None, seed: int = 0,
                 target_fn: TargetFn | None = None, cache: bool = False, max_train_grasps: int = 0):
        if channels not in CHANNELS:
            raise ValueError(f"channels must be one of {sorted(CHANNELS)}, got {channels!r}")
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
        self.source = source
        n = len(source)
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
        if self.indices.ndim != 1 or (len(self.indices) and
                                      (self.indices.min() < 0 or self.indices.max() >= n)):
            raise IndexError(f"indices must be a 1-D list of scene indices in [0, {n})")
        self.input_size = _size2(input_size)[0]
        self.channels = channels
        self.crop = crop
        self.inpaint = inpaint
        self.augment = augment
        self.seed = int(seed)
        self.target_fn = target_fn
        self.epoch = 0
        # cache=True keeps each cut (pre-augmentation) sample in memory: worth it for small sets
        # read every epoch (validation, overfitting), not for all of Jacquard.
        self.cache = cache
        # Dense (PDG) labels can give thousands of grasps per image; training targets built from a
        # random subset look the same and cost a fraction. Evaluation always keeps every grasp (item
        # "grasps"); only the target maps use the subset, with or without augmentation.
        self.max_train_grasps = int(max_train_grasps)
        self._cut: dict[int, tuple[GraspSample, InputInfo]] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def sample_id(self, k: int) -> str:
        i = int(self.indices[k])
        return self.source.sample_id(i) if hasattr(self.source, "sample_id") else str(i)

    def rng(self, k: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(self.indices[k])])

    def load(self, k: int) -> GraspSample:
        return self.source.load(int(self.indices[k]))

    def cut(self, k: int) -> tuple[GraspSample, InputInfo]:
        """The network-input window of item ``k`` (images and grasps), before augmentation."""
        if k in self._cut:
            return self._cut[k]
        result = prepare_geometry(self.load(k), self.input_size, self.crop)
        if self.cache:
            self._cut[k] = result
        return result

    def grasps(self, k: int) -> list[ImageGrasp]:
        """Ground-truth grasps in network-input coordinates, never augmented (for evaluation)."""
        return self.cut(k)[0].grasps

    def info(self, k: int) -> InputInfo:
        return self.cut(k)[1]

    def __getitem__(self, k: int) -> dict:
        if not -len(self) <= k < len(self):
            raise IndexError(f"index {k} out of range for a dataset of {len(self)}")
        k = int(k) % len(self)
        cut, _ = self.cut(k)
        rng = self.rng(k)
        if self.augment is not None:
            cut = self.augment(cut, rng)
        item = {"x": torch.from_numpy(finish_input(cut, self.channels, self.inpaint)), "index": k}
        if self.augment is None:
            # Unaugmented items carry all their ground truth, so evaluation needs no second disk read.
            item["grasps"] = grasps_to_array(cut.grasps)
        if self.target_fn is not None:
            target_grasps = list(cut.grasps)
            if self.max_train_grasps and len(target_grasps) > self.max_train_grasps:
                keep = np.sort(rng.choice(len(target_grasps), self.max_train_grasps, replace=False))
                target_grasps = [target_grasps[i] for i in keep]
            maps = self.target_fn(target_grasps, (self.input_size, self.input_size))
            item["targets"] = {name: torch.as_tensor(np.asarray(v), dtype=torch.float32)
                               for name, v in maps.items()}
        return item


GRASP_FIELDS = ("u", "v", "angle", "width", "jaw", "quality", "angle_bin")


def grasps_to_array(grasps: Sequence[ImageGrasp]) -> np.ndarray:
    """``(n, 7)`` float64 array of grasp fields (see ``GRASP_FIELDS``), for crossing process boundaries."""
    return np.array([[getattr(g, f) for f in GRASP_FIELDS] for g in grasps], dtype=np.float64).reshape(-1, 7)


def grasps_from_array(array: np.ndarray) -> list[ImageGrasp]:
    return [ImageGrasp(*row[:6], angle_bin=int(row[6])) for row in np.asarray(array)]


def collate_items(items: list[dict]) -> dict:
    """Batch dataset items: tensors are stacked, per-image grasp arrays stay a list."""
    batch = {"x": torch.stack([it["x"] for it in items]),
             "index": torch.tensor([it["index"] for it in items])}
    if "targets" in items[0]:
        batch["targets"] = {name: torch.stack([it["targets"][name] for it in items])
                            for name in items[0]["targets"]}
    if "grasps" in items[0]:
        batch["grasps"] = [it["grasps"] for it in items]
    return batch
