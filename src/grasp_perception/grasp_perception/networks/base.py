"""Common interface of the generative (pixel-wise) grasp networks.

Every network maps an image ``x: Tensor[B, in_channels, H, W]`` to four maps
``(quality, cos, sin, width)``, each ``Tensor[B, n_bins, H, W]`` at the input resolution:

* ``quality`` - grasp success score per pixel (and per angle bin); with
  ``quality_activation="sigmoid"`` a probability, unless ``forward(x, logits=True)`` asks for the
  logits (losses on probabilities, such as the focal loss, are computed from logits so that a
  saturated wrong pixel still has a gradient);
* ``cos``, ``sin`` - ``cos(2*angle)`` and ``sin(2*angle)``; the doubled angle makes the
  encoding continuous over the half-turn symmetry of a parallel-jaw grasp
  (see :mod:`grasp_perception.grasp` for the angle convention);
* ``width`` - normalised gripper opening.

With ``n_bins > 1`` (ORANGE-style angle bins) channel ``k`` of every map belongs to the angle
bin ``k`` of :func:`grasp_perception.grasp.angle_to_bin`.

The outputs are a plain tuple (not a dict or dataclass) so ``torch.jit.trace`` and ONNX export
work without wrappers.

``head="pixel_level"`` swaps the four heads for PLGP's three (:mod:`grasp_perception.pixel_level`):
``point`` ``[B, 1, H, W]``, ``angle`` and ``width`` ``[B, n_bins, H, W]`` (``n_bins`` = the K angle classes),
all sigmoid. The backbone is unchanged, so any registered network can carry either head.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

QUALITY_ACTIVATIONS = ("linear", "sigmoid")
HEADS = ("generative", "pixel_level", "anchor")

GraspMaps = tuple[Tensor, Tensor, Tensor, Tensor]


def check_positive_int(name: str, value) -> int:
    """Return ``value`` if it is an int >= 1, else raise ValueError naming ``name``."""
    # bool is an int subclass; True silently meaning 1 channel would hide a caller bug.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def check_probability(name: str, value) -> float:
    """Return ``value`` as float if it is in ``[0, 1)``, else raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_quality_activation(value) -> str:
    if value not in QUALITY_ACTIVATIONS:
        raise ValueError(f"quality_activation must be one of {list(QUALITY_ACTIVATIONS)}, got {value!r}")
    return value


def check_head(value) -> str:
    if value not in HEADS:
        raise ValueError(f"head must be one of {list(HEADS)}, got {value!r}")
    return value


def _channel_hint(n: int) -> str:
    return {1: " (depth)", 3: " (RGB)", 4: " (RGB-D)"}.get(n, "")


class GraspHeads(nn.Module):
    """The four output convolutions shared by all networks.

    ``kernel_size`` 1 matches GG-CNN2 and U-Net; 2 matches GR-ConvNet, whose decoder therefore
    delivers features one pixel larger than the input (a 2x2 valid conv removes that pixel).
    ``dropout > 0`` puts a separate Dropout in front of each head, as in GR-ConvNet's
    ``grconvnet3``; Dropout has no parameters, so counts are unaffected.
    """

    names = ("quality", "cos", "sin", "width")

    def __init__(self, in_channels: int, n_bins: int = 1, kernel_size: int = 1, dropout: float = 0.0):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("n_bins", n_bins)
        check_positive_int("kernel_size", kernel_size)
        self.dropout_p = check_probability("dropout", dropout)
        # 'same' padding for odd kernels; even kernels are valid convs (shrink by k - 1).
        pad = (kernel_size - 1) // 2
        self.quality = nn.Conv2d(in_channels, n_bins, kernel_size, padding=pad)
        self.cos = nn.Conv2d(in_channels, n_bins, kernel_size, padding=pad)
        self.sin = nn.Conv2d(in_channels, n_bins, kernel_size, padding=pad)
        self.width = nn.Conv2d(in_channels, n_bins, kernel_size, padding=pad)

        def drop() -> nn.Module:
            return nn.Dropout(self.dropout_p) if self.dropout_p > 0 else nn.Identity()

        self.drop_quality, self.drop_cos, self.drop_sin, self.drop_width = drop(), drop(), drop(), drop()

    def forward(self, x: Tensor) -> GraspMaps:
        """Raw maps: the quality activation is applied by :class:`GraspNetwork`."""
        return (self.quality(self.drop_quality(x)), self.cos(self.drop_cos(x)), self.sin(self.drop_sin(x)),
                self.width(self.drop_width(x)))


class PixelLevelHeads(nn.Module):
    """PLGP's three output convolutions: grasp-point quality (1 channel), angle-class quality and width
    (``n_bins`` channels each). Kernel size and dropout as :class:`GraspHeads`, so a backbone's head
    geometry is the same under either representation."""

    names = ("point", "angle", "width")

    def __init__(self, in_channels: int, n_bins: int = 18, kernel_size: int = 1, dropout: float = 0.0):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("n_bins", n_bins)
        check_positive_int("kernel_size", kernel_size)
        p = check_probability("dropout", dropout)
        pad = (kernel_size - 1) // 2
        self.point = nn.Conv2d(in_channels, 1, kernel_size, padding=pad)
        self.angle = nn.Conv2d(in_channels, n_bins, kernel_size, padding=pad)
        self.width = nn.Conv2d(in_channels, n_bins, kernel_size, padding=pad)
        self.drop = nn.Dropout(p) if p > 0 else nn.Identity()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Logits: :class:`GraspNetwork` applies the sigmoid."""
        x = self.drop(x)
        return self.point(x), self.angle(x), self.width(x)


class GraspNetwork(nn.Module):
    """Base class: validates the input, then calls :meth:`_forward_impl`.

    Subclasses set the class attributes below and implement ``_forward_impl(x) -> GraspMaps``
    returning maps of the input's ``H, W``.
    """

    #: input H and W must be divisible by this (total stride of the encoder)
    input_multiple: int = 1
    #: usual training/deployment input side in pixels (square)
    default_input_size: int = 224
    #: channel count of the published configuration (1 = depth, 4 = RGB-D)
    default_in_channels: int = 1

    def __init__(self, in_channels: int, n_bins: int = 1, quality_activation: str = "linear",
                 head: str = "generative"):
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.n_bins = check_positive_int("n_bins", n_bins)
        self.quality_activation = check_quality_activation(quality_activation)
        self.head = check_head(head)

    def make_heads(self, in_channels: int, kernel_size: int = 1, dropout: float = 0.0) -> nn.Module:
        """The output convolutions of this network's ``head`` on ``in_channels`` backbone features."""
        if self.head == "anchor":
            raise ValueError(f"head 'anchor' is the anchor-box network's own (architecture anchor_scorer), "
                             f"not an option of {type(self).__name__}")
        cls = PixelLevelHeads if self.head == "pixel_level" else GraspHeads
        return cls(in_channels, self.n_bins, kernel_size=kernel_size, dropout=dropout)

    def check_input(self, x: Tensor) -> None:
        """Raise ValueError if ``x`` is not ``[B, in_channels, H, W]`` with H, W multiples of
        :attr:`input_multiple`."""
        if x.dim() != 4:
            raise ValueError(f"network expects a 4-D input [B, C, H, W], got shape {tuple(x.shape)}")
        c, h, w = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
        if c != self.in_channels:
            raise ValueError(f"network expects {self.in_channels} input channels"
                             f"{_channel_hint(self.in_channels)}, got {c}{_channel_hint(c)}")
        m = self.input_multiple
        if h % m or w % m or h == 0 or w == 0:
            raise ValueError(f"input height and width must be positive multiples of {m} for "
                             f"{type(self).__name__}, got shape {tuple(x.shape)}")

    def forward(self, x: Tensor, logits: bool = False) -> GraspMaps:
        """The four maps (three for the pixel-level head); ``logits=True`` returns the quality (every
        pixel-level map) before its activation (for losses)."""
        # Under torch.jit.trace sizes are traced tensors: checking them would only add
        # TracerWarnings, and a bad example input fails in the first conv anyway.
        if not torch.jit.is_tracing():
            self.check_input(x)
        maps = self._forward_impl(x)
        return maps if logits else self.activate(maps)

    def activate(self, maps: GraspMaps) -> GraspMaps:
        """Maps from ``forward(x, logits=True)`` as ``forward(x)`` returns them."""
        if self.head == "pixel_level":
            return tuple(torch.sigmoid(m) for m in maps)
        quality, cos, sin, width = maps
        if self.quality_activation == "sigmoid":
            quality = torch.sigmoid(quality)
        return quality, cos, sin, width

    def _forward_impl(self, x: Tensor) -> GraspMaps:  # pragma: no cover - abstract
        raise NotImplementedError
