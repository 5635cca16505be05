"""ResNet-50 / ResNet-101 encoders in plain PyTorch (no torchvision here), for the backbones of the papers.

The bottleneck residual network of He et al., with the stride on the 3x3 convolution (the layout of the
ImageNet checkpoints AFFGA-Net and the graspability-scorer paper start from):

    stem: conv 7x7 s2 (in -> 64) + BN + ReLU, max-pool 3x3 s2          stride 4
    layer1: blocks x Bottleneck(64),  256 channels                       stride 4
    layer2: blocks x Bottleneck(128), 512 channels, first block s2       stride 8
    layer3: blocks x Bottleneck(256), 1024 channels, first block s2      stride 16
    layer4: blocks x Bottleneck(512), 2048 channels                      stride 32, or 16 dilated

``output_stride=16`` is DeepLab's (AFFGA-Net's): layer4 keeps stride 16 and its three blocks use the
"multi-grid" dilations 2, 4, 8. ``depth`` 50 is layers (3, 4, 6, 3), 101 is (3, 4, 23, 3). ``stages``
stops after that many layers (the anchor network reads layer3, "the fourth block" counting the stem).
No ImageNet weights are loaded: nothing can be downloaded on these machines and torchvision is not
installed, so every backbone here trains from scratch (the papers start from ImageNet).
"""
from __future__ import annotations

from torch import Tensor, nn

from .base import check_positive_int

LAYERS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
MULTI_GRID = (1, 2, 4)  # layer4 dilation multipliers at output stride 16


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out))
        self.shortcut = nn.Identity() if stride == 1 and in_channels == out else nn.Sequential(
            nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """``forward(x)`` returns the list of each layer's output (``layer1`` first)."""

    def __init__(self, in_channels: int, depth: int = 101, output_stride: int = 32, stages: int = 4):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        if depth not in LAYERS:
            raise ValueError(f"depth must be one of {sorted(LAYERS)}, got {depth!r}")
        if output_stride not in (16, 32):
            raise ValueError(f"output_stride must be 16 or 32, got {output_stride!r}")
        if stages not in (1, 2, 3, 4):
            raise ValueError(f"stages must be 1 to 4, got {stages!r}")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        layers, channels = [], 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), LAYERS[depth][:stages])):
            stride = 1 if i == 0 or (i == 3 and output_stride == 16) else 2
            dilations = [2 * m for m in MULTI_GRID] if i == 3 and output_stride == 16 else [1] * n
            blocks = [Bottleneck(channels, planes, stride, dilations[0])]
            channels = planes * Bottleneck.expansion
            blocks += [Bottleneck(channels, planes, 1, d) for d in dilations[1:]]
            layers.append(nn.Sequential(*blocks))
        self.layers = nn.ModuleList(layers)
        self.out_channels = channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
            outs.append(x)
        return outs
