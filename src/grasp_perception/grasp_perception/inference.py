"""Run a model file on images: the one inference path used by the tools, the ROS node and the simulator.

``GraspPredictor`` prepares an image exactly as the model card says (crop/resize, inpaint,
normalise, channel order: ``FrameInput``), runs the network on the chosen backend, post-processes the
maps into ranked grasps and maps them back to the pixel frame of the original image.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .backends import check_backend, make_backend
from .datasets import InputInfo, to_original
from .frame_input import FrameInput
from .grasp import ImageGrasp
from .metric_scale import input_scale
from .model_io import ModelCard, load_model
from .heads import decoder_for_card, head_of


@dataclass
class Prediction:
    grasps: list[ImageGrasp]                 # in original image pixels, best first
    input_grasps: list[ImageGrasp]           # the same grasps in network-input pixels
    maps: tuple[np.ndarray, ...]             # the head's maps (heads.output_names), quality first
    info: InputInfo | None = None            # how the network input was cut from the image
    timings_ms: dict = field(default_factory=dict)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class GraspPredictor:
    """Loads a model from its path alone and predicts grasps on RGB-D images.

    ``backend`` / ``precision`` choose the runtime (see :mod:`grasp_perception.backends`); every backend
    gets the same prepared input and returns the same maps. ``input_size`` overrides the card's input
    side (the networks are fully convolutional; the card's size is what the model was trained at).
    """

    def __init__(self, model: str | Path | tuple[torch.nn.Module, ModelCard], device: str = "auto",
                 backend: str = "torch", precision: str = "fp32", input_size: int | None = None,
                 threads: int | None = None):
        self.device = resolve_device(device)
        check_backend(backend, precision)
        if isinstance(model, tuple):
            network, self.card = model
            model_path = None
        else:
            network, self.card = load_model(model)
            model_path = model
        self.input_size = int(input_size or self.card.input_size)
        multiple = getattr(network, "input_multiple", 1)
        if self.input_size < multiple or self.input_size % multiple:
            raise ValueError(f"input_size must be a positive multiple of {multiple} for {self.card.architecture}, "
                             f"got {self.input_size}")
        self.backend_name, self.precision = backend, precision
        self.backend = make_backend(backend, precision, network=network, card=self.card, model_path=model_path,
                                    input_size=self.input_size, device=str(self.device), threads=threads)
        self.frame_input = FrameInput(self.card.inputs, self.input_size, self.card.crop, self.card.inpaint,
                                      self.card.normalisation)
        self.postprocess = dataclasses.asdict(self.card.postprocess)  # the decoder's keywords
        self.head = head_of(self.card.architecture, self.card.arch_kwargs)
        self.decode = decoder_for_card(self.card)

    def infer_maps(self, x: np.ndarray | torch.Tensor) -> tuple[np.ndarray, ...]:
        """Raw network maps for a prepared input (C, S, S) or batch (B, C, S, S)."""
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
        single = x.ndim == 3
        maps = self.backend(x[None] if single else x)
        return tuple(m[0] for m in maps) if single else maps

    def grasps_from_maps(self, maps, top_k: int = 1, dense: bool = False, **overrides) -> list[ImageGrasp]:
        """The card's post-processing (``overrides`` replace fields): peaks, or with ``dense`` the top of every
        pixel and angle bin without suppression or threshold (:func:`~.postprocess.dense_grasps`)."""
        params = {**self.postprocess, **overrides}
        if dense:
            params["threshold"] = overrides.get("threshold")
        return self.decode(maps, top_k=top_k, dense=dense, max_width=self.card.max_width_px, **params)

    def predict(self, depth: np.ndarray, rgb: np.ndarray | None = None, top_k: int = 1, level_table: bool = False,
                dense: bool = False, intrinsics=None, region: tuple[float, float, float, float] | None = None,
                **postprocess_overrides) -> Prediction:
        """Grasps for one image. ``depth`` in metres (H, W), invalid = NaN or 0 (other units: DatasetError);
        ``rgb`` uint8 (H, W, 3).
        ``level_table``: remove the table's slope from the network input (tilted cameras; see FrameInput).
        ``dense``: the ``top_k`` best (pixel, angle bin) candidates instead of the peaks (PLGP's AP ranking).
        ``intrinsics`` (anything with ``fx``, ``fy``): with a card that records ``metres_per_pixel``, the frame is
        resampled to that scale first (:mod:`.metric_scale`), so one model serves any resolution and camera
        height; without them the frame is taken at the scale it comes in. ``region`` ``(u_min, v_min, u_max,
        v_max)`` frame px, the workspace: the network window is centred on it and its surface depth sets the
        scale (the caller drops grasps outside it)."""
        depth = np.asarray(depth, dtype=np.float32)
        if depth.ndim != 2:
            raise ValueError(f"depth must be a (H, W) image in metres, got shape {depth.shape}")
        if rgb is not None and tuple(rgb.shape[:2]) != depth.shape:
            raise ValueError(f"rgb shape {rgb.shape[:2]} does not match depth shape {depth.shape}")
        if self.card.inputs in ("rgb", "rgbd") and rgb is None:
            raise ValueError(f"model {self.card.name!r} expects {self.card.inputs} input but only depth was given")
        t0 = time.perf_counter()
        scale = 1.0
        if intrinsics is not None and self.card.crop == "center":
            scale = input_scale(self.card.metres_per_pixel, depth, intrinsics.fx, intrinsics.fy, region)
        centre = None if region is None else ((region[0] + region[2]) / 2, (region[1] + region[3]) / 2)
        x, info = self.frame_input(depth, rgb, level_table, scale=scale, centre=centre)  # DatasetError (a ValueError) if no depth is valid
        t1 = time.perf_counter()
        maps = tuple(m[0] for m in self.backend(x))
        t2 = time.perf_counter()
        input_grasps = self.grasps_from_maps(maps, top_k=top_k, dense=dense, **postprocess_overrides)
        grasps = [to_original(g, info) for g in input_grasps]
        t3 = time.perf_counter()
        return Prediction(grasps=grasps, input_grasps=input_grasps, maps=maps, info=info,
                          timings_ms={"preprocess": 1e3 * (t1 - t0), "network": 1e3 * (t2 - t1),
                                      "postprocess": 1e3 * (t3 - t2)})
