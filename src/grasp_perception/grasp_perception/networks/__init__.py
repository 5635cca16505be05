"""Generative grasp networks and their registry.

    net = build_network("grconvnet", in_channels=4, n_bins=1, channel_size=32, dropout=0.1)
    quality, cos, sin, width = net(x)   # each [B, n_bins, H, W]

Names: "ggcnn2", "grconvnet", "unet", "efficient_fcn", "affga", "anchor_scorer" (see :func:`available_networks`).
"""
from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from .base import HEADS, GraspHeads, GraspMaps, GraspNetwork, PixelLevelHeads, check_head

_REGISTRY: dict[str, type[GraspNetwork]] = {}


def register_network(name: str) -> Callable[[type[GraspNetwork]], type[GraspNetwork]]:
    """Class decorator adding a :class:`GraspNetwork` subclass to the registry under ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"network name must be a non-empty string, got {name!r}")

    def decorator(cls: type[GraspNetwork]) -> type[GraspNetwork]:
        if not (isinstance(cls, type) and issubclass(cls, GraspNetwork)):
            raise ValueError(f"register_network({name!r}) expects a GraspNetwork subclass, got {cls!r}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"network name {name!r} is already registered to {_REGISTRY[name].__name__}")
        _REGISTRY[name] = cls
        return cls

    return decorator


def available_networks() -> list[str]:
    """Registered network names, sorted."""
    return sorted(_REGISTRY)


def network_class(name: str) -> type[GraspNetwork]:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown network {name!r}; available: {', '.join(available_networks())}") from None


def build_network(name: str, in_channels: int, n_bins: int = 1, **kwargs) -> GraspNetwork:
    """Instantiate the network registered as ``name``.

    ``kwargs`` are the architecture's own options (e.g. ``channel_size``/``dropout`` for
    GR-ConvNet) plus ``quality_activation``; an option the class does not take raises
    ValueError naming it (instead of a TypeError deep in a config loader).
    """
    cls = network_class(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "in_channels", "n_bins"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for network {name!r}; accepted: {sorted(accepted)}")
    return cls(in_channels=in_channels, n_bins=n_bins, **kwargs)


def head_of(name: str, kwargs: dict | None = None) -> str:
    """The output head network ``name`` has with options ``kwargs`` (a config's ``model.kwargs``, a card's
    ``arch_kwargs``): the ``head`` option, else the class's own default (generative, AFFGA-Net's pixel_level)."""
    return check_head(option_of(name, kwargs, "head"))


def option_of(name: str, kwargs: dict | None, option: str):
    """Network ``name``'s option ``option``: from ``kwargs`` (a card's ``arch_kwargs``), else the class default."""
    kwargs = kwargs or {}
    return kwargs[option] if option in kwargs else \
        inspect.signature(network_class(name).__init__).parameters[option].default


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (BatchNorm running statistics are buffers and are not counted,
    as in the published figures)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# Imported after the registry exists; registration happens here rather than in the modules so
# each architecture file stays importable on its own.
from .affga import AFFGANet  # noqa: E402
from .anchor_scorer import AnchorScorerNet  # noqa: E402
from .efficient_fcn import EfficientFCN  # noqa: E402
from .ggcnn2 import GGCNN2  # noqa: E402
from .grconvnet import GRConvNet  # noqa: E402
from .unet import UNet  # noqa: E402

register_network("ggcnn2")(GGCNN2)
register_network("grconvnet")(GRConvNet)
register_network("unet")(UNet)
register_network("efficient_fcn")(EfficientFCN)
register_network("affga")(AFFGANet)
register_network("anchor_scorer")(AnchorScorerNet)

__all__ = [
    "HEADS", "GraspNetwork", "GraspHeads", "PixelLevelHeads", "GraspMaps", "GGCNN2", "GRConvNet", "UNet",
    "EfficientFCN", "AFFGANet", "AnchorScorerNet", "head_of", "option_of",
    "register_network", "build_network", "available_networks", "network_class", "count_parameters",
]
