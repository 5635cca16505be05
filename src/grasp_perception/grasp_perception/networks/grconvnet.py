"""GR-ConvNet (Kumra et al., IROS 2020; "v2", Sensors 2022), ``grconvnet3`` variant.

The structure of ``skumra/robotic-grasping:inference/models/grconvnet3.py`` with channel size
``C`` (``channel_size``):

    Conv 9x9 s1 (in -> C) + BN + ReLU
    Conv 4x4 s2 (C -> 2C) + BN + ReLU
    Conv 4x4 s2 (2C -> 4C) + BN + ReLU
    5 x ResidualBlock(4C): Conv3x3 + BN + ReLU + Conv3x3 + BN, plus identity (no ReLU after the sum)
    ConvT 4x4 s2 p1 op1 (4C -> 2C) + BN + ReLU
    ConvT 4x4 s2 p2 op1 (2C -> C) + BN + ReLU
    ConvT 9x9 s1 p4 (C -> C), no activation
    per-head Dropout(p) + four 2x2 heads (C -> n_bins)

Parameters: 1,900,900 for RGB-D with C=32, 1,893,124 for depth with C=32, 479,156 for RGB-D
with C=16 (one bin). Xavier-uniform init of every conv, as published.

Sizes: for an input side ``H`` divisible by 4 the decoder gives ``H + 1`` (e.g. 224 -> 112 -> 56
-> 113 -> 225) and the valid 2x2 heads bring it back to exactly ``H``; so 224, 300 and 320 come
out at their input size with the published layers and no padding or cropping.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .base import GraspMaps, GraspNetwork, check_positive_int, check_probability


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(y)) + x


class GRConvNet(GraspNetwork):
    input_multiple = 4
    default_input_size = 224
    default_in_channels = 4

    def __init__(self, in_channels: int = 4, n_bins: int = 1, quality_activation: str = "linear",
                 channel_size: int = 32, dropout: float = 0.0, n_residual: int = 5,
                 head: str = "generative"):
        super().__init__(in_channels, n_bins, quality_activation, head)
        c = check_positive_int("channel_size", channel_size)
        self.channel_size = c
        check_probability("dropout", dropout)
        check_positive_int("n_residual", n_residual)

        self.conv1 = nn.Conv2d(in_channels, c, 9, stride=1, padding=4)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * c)
        self.conv3 = nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(4 * c)
        self.residuals = nn.Sequential(*(ResidualBlock(4 * c) for _ in range(n_residual)))
        self.conv4 = nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1, output_padding=1)
        self.bn4 = nn.BatchNorm2d(2 * c)
        self.conv5 = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=2, output_padding=1)
        self.bn5 = nn.BatchNorm2d(c)
        self.conv6 = nn.ConvTranspose2d(c, c, 9, stride=1, padding=4)
        self.heads = self.make_heads(c, kernel_size=2, dropout=dropout)

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight, gain=1)

    def _forward_impl(self, x: Tensor) -> GraspMaps:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = self.residuals(x)
        x = F.relu(self.bn4(self.conv4(x)))
        x = F.relu(self.bn5(self.conv5(x)))
        return self.heads(self.conv6(x))
