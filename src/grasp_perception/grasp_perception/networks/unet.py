"""U-Net as used by ORANGE (Chalvatzaki et al., 2020) and Prew et al. for grasp maps.

Follows ``nickgkan/orange:src/models/unet.py`` (itself the classic Ronneberger U-Net with
transposed-convolution upsampling):

    DoubleConv(a, b) = [Conv3x3 p1 + BN + ReLU] x 2      (a -> b -> b)
    inc   DoubleConv(in, 64)
    down  MaxPool2 + DoubleConv: 64 -> 128 -> 256 -> 512 -> 512
    up    ConvT 2x2 s2 (n/2 -> n/2), pad to the skip, concat skip, DoubleConv(n, out):
          (1024 -> 256), (512 -> 128), (256 -> 64), (128 -> 64)
    four 1x1 heads (64 -> n_bins)

ORANGE also has a 1-channel "graspness" head and an ``n_bins``-way bin classifier; they are not
built here (their count is 65 + 195 params for 3 bins), so a depth/3-bin model has
14,788,752 - 260 = 14,788,492 parameters. Four pools make the input side a multiple of 16.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import GraspMaps, GraspNetwork


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


class Up(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        # The deeper map carries half of in_channels; the skip carries the other half.
        self.up = nn.ConvTranspose2d(in_channels // 2, in_channels // 2, 2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        if dy or dx:  # never with the enforced multiple of 16; kept for sub-class reuse
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(GraspNetwork):
    input_multiple = 16
    default_input_size = 320
    default_in_channels = 4

    def __init__(self, in_channels: int = 4, n_bins: int = 1, quality_activation: str = "linear",
                 head: str = "generative"):
        super().__init__(in_channels, n_bins, quality_activation, head)
        self.inc = DoubleConv(in_channels, 64)
        self.down1 = Down(64, 128)
        self.down2 = Down(128, 256)
        self.down3 = Down(256, 512)
        self.down4 = Down(512, 512)
        self.up1 = Up(1024, 256)
        self.up2 = Up(512, 128)
        self.up3 = Up(256, 64)
        self.up4 = Up(128, 64)
        self.heads = self.make_heads(64, kernel_size=1)

    def _forward_impl(self, x: Tensor) -> GraspMaps:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.heads(x)
