"""Run a model file on images: the one inference path used by the tools, the ROS node and the simulator.

``GraspPredictor`` prepares an image exactly as the model card says (crop/resize, inpaint,
normalise, channel order), runs the network, post-processes the maps into ranked grasps and maps
them back to the pixel frame of the original image.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .datasets import GraspSample, InputInfo, prepare, to_original
from .grasp import ImageGrasp
from .model_io import ModelCard, load_model
from .postprocess import detect_grasps


@dataclass
class Prediction:
    grasps: list[ImageGrasp]                 # in original image pixels, best first
    input_grasps: list[ImageGrasp]           # the same grasps in network-input pixels
    maps: tuple[np.ndarray, ...]             # quality, cos, sin, width (n_bins, S, S), width normalised
    info: InputInfo | None = None            # how the network input was cut from the image
    timings_ms: dict = field(default_factory=dict)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class GraspPredictor:
    """Loads a model from its path alone and predicts grasps on RGB-D images."""

    def __init__(self, model: str | Path | tuple[torch.nn.Module, ModelCard], device: str = "auto"):
        self.device = resolve_device(device)
        if isinstance(model, tuple):
            self.network, self.card = model
            self.network.to(self.device).eval()
        else:
            self.network, self.card = load_model(model, device=self.device)
        self.postprocess = dict(self.card.postprocess)

    def infer_maps(self, x: np.ndarray | torch.Tensor) -> tuple[np.ndarray, ...]:
        """Raw network maps for a prepared input (C, S, S) or batch (B, C, S, S)."""
        tensor = torch.as_tensor(x, dtype=torch.float32)
        single = tensor.dim() == 3
        if single:
            tensor = tensor[None]
        with torch.inference_mode():
            outputs = self.network(tensor.to(self.device))
        maps = tuple(o.float().cpu().numpy() for o in outputs)
        return tuple(m[0] for m in maps) if single else maps

    def grasps_from_maps(self, maps, top_k: int = 1, **overrides) -> list[ImageGrasp]:
        params = {**self.postprocess, **overrides}
        return detect_grasps(*maps, top_k=top_k, max_width=self.card.max_width_px, **params)

    def predict(self, depth: np.ndarray, rgb: np.ndarray | None = None, top_k: int = 1,
                **postprocess_overrides) -> Prediction:
        """Grasps for one image. ``depth`` in metres (H, W), invalid = NaN or 0; ``rgb`` uint8 (H, W, 3)."""
        depth = np.asarray(depth, dtype=np.float32)
        if depth.ndim != 2:
            raise ValueError(f"depth must be a (H, W) image in metres, got shape {depth.shape}")
        if rgb is not None and tuple(rgb.shape[:2]) != depth.shape:
            raise ValueError(f"rgb shape {rgb.shape[:2]} does not match depth shape {depth.shape}")
        if self.card.inputs in ("rgb", "rgbd") and rgb is None:
            raise ValueError(f"model {self.card.name!r} expects {self.card.inputs} input but only depth was given")
        t0 = time.perf_counter()
        depth = np.where(depth > 0, depth, np.nan).astype(np.float32)
        sample = GraspSample(rgb=rgb, depth=depth, mask=None, grasps=[], sample_id="input", object_id="")
        x, _, info = prepare(sample, self.card.input_size, channels=self.card.inputs,
                             crop=self.card.crop, inpaint=self.card.inpaint)
        t1 = time.perf_counter()
        maps = self.infer_maps(x)
        t2 = time.perf_counter()
        input_grasps = self.grasps_from_maps(maps, top_k=top_k, **postprocess_overrides)
        grasps = [to_original(g, info) for g in input_grasps]
        t3 = time.perf_counter()
        return Prediction(grasps=grasps, input_grasps=input_grasps, maps=maps, info=info,
                          timings_ms={"preprocess": 1e3 * (t1 - t0), "network": 1e3 * (t2 - t1),
                                      "postprocess": 1e3 * (t3 - t2)})
