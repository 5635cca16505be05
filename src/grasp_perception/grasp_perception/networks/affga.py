"""AFFGA-Net with PLGP's pixel-level task heads (Wang et al., PLGP sec. IV-A; the AFFGA-Net of its ref. [25]).

The structure of ``liuchunsense/AFFGA-Net`` (``models/affga``), re-typed from its description:

    ResNet-101 encoder, output stride 16 (layer4 dilated 2/4/8)          layer1: 256 ch /4, layer4: 2048 ch /16
    HASP (hybrid atrous spatial pyramid) on layer4: conv+BN+ReLU branches
        1x1 -> 512, 3x3 dil 6 -> 256, 3x3 dil 12 -> 512, 3x3 dil 18 -> 256
        small = 1x1(cat(b1, b2) 768 -> 256), big = 1x1(cat(b3, b4) 768 -> 256), all = 1x1(cat(b1..b4) 1536 -> 256),
        each + BN + ReLU + Dropout 0.5
    adaptive decoder, at stride 4 (HASP outputs upsampled bilinearly to layer1's size):
        low = 1x1(layer1 256 -> 48) + BN + ReLU
        point input  = cat(3x3(cat(small, low) 304 -> 256) + BN + ReLU, big)      512 ch  (small receptive fields + detail)
        angle/width input = cat(all, low)                                           304 ch
        each branch: 3x3 -> C1 + BN + ReLU + Drop 0.5, 3x3 -> C2 + BN + ReLU + Drop 0.1, ConvT 2x2 s2 + ReLU, 1x1 -> out
        (C1, C2) = point (256, 128), angle (256, 256), width (256, 128)
    outputs bilinearly upsampled x2 to the input size: Q_p (1), Q_θ (K), W_g (K), sigmoid.

Where the paper leaves a choice open: PLGP says only that the width head now has K channels (the original
AFFGA-Net predicts one width and 120 angle classes over 2π); the branch widths are the AFFGA-Net code's. The
three decoder convolutions that code declares but never uses are left out. No ImageNet initialisation (see
:mod:`.resnet`). PLGP's Table II lists 67.59 M parameters and 29.58 GFLOPs; this network has 68.1 M with
K = 18 (``test_affga_net_matches_the_papers_size``), and its FLOPs at 320x320 are counted by the same test.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import GraspNetwork
from .resnet import ResNetEncoder


def _conv_bn_relu(cin: int, cout: int, k: int, dilation: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class HASP(nn.Module):
    """Hybrid atrous spatial pyramid: small (rates 1, 6), big (12, 18) and all receptive fields."""

    def __init__(self, in_channels: int = 2048):
        super().__init__()
        self.branches = nn.ModuleList([nn.Sequential(*_conv_bn_relu(in_channels, c, k, d))
                                       for c, k, d in ((512, 1, 1), (256, 3, 6), (512, 3, 12), (256, 3, 18))])

        def fuse(cin: int) -> nn.Sequential:
            return nn.Sequential(*_conv_bn_relu(cin, 256, 1), nn.Dropout(0.5))

        self.small, self.big, self.all = fuse(768), fuse(768), fuse(1536)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b1, b2, b3, b4 = (branch(x) for branch in self.branches)
        return (self.small(torch.cat([b1, b2], 1)), self.big(torch.cat([b3, b4], 1)),
                self.all(torch.cat([b1, b2, b3, b4], 1)))


def _task_branch(cin: int, c1: int, c2: int, out: int) -> nn.Sequential:
    return nn.Sequential(*_conv_bn_relu(cin, c1, 3), nn.Dropout(0.5), *_conv_bn_relu(c1, c2, 3), nn.Dropout(0.1),
                         nn.ConvTranspose2d(c2, c2, 2, stride=2), nn.ReLU(inplace=True), nn.Conv2d(c2, out, 1))


class AFFGANet(GraspNetwork):
    input_multiple = 16
    default_input_size = 320
    default_in_channels = 4

    def __init__(self, in_channels: int = 4, n_bins: int = 18, quality_activation: str = "sigmoid",
                 head: str = "pixel_level", depth: int = 101):
        if head != "pixel_level":
            raise ValueError(f"head must be 'pixel_level' for AFFGA-Net (its decoder is PLGP's three task "
                             f"heads), got {head!r}")
        super().__init__(in_channels, n_bins, quality_activation, head)
        self.encoder = ResNetEncoder(in_channels, depth=depth, output_stride=16)
        self.hasp = HASP(self.encoder.out_channels)
        self.low = nn.Sequential(*_conv_bn_relu(256, 48, 1))
        self.small_low = nn.Sequential(*_conv_bn_relu(304, 256, 3))
        self.point = _task_branch(512, 256, 128, 1)
        self.angle = _task_branch(304, 256, 256, n_bins)
        self.width = _task_branch(304, 256, 128, n_bins)

    def _forward_impl(self, x: Tensor):
        feats = self.encoder(x)
        low = self.low(feats[0])
        size = low.shape[-2:]
        small, big, everything = (F.interpolate(t, size=size, mode="bilinear", align_corners=True)
                                  for t in self.hasp(feats[-1]))
        point_in = torch.cat([self.small_low(torch.cat([small, low], 1)), big], 1)
        rest_in = torch.cat([everything, low], 1)
        return tuple(F.interpolate(branch(t), size=x.shape[-2:], mode="bilinear", align_corners=True)
                     for branch, t in ((self.point, point_in), (self.angle, rest_in), (self.width, rest_in)))
