"""Efficient fully convolutional grasp network ("Efficient Fully Convolution Neural Network for
Generating Pixel Wise Robotic Grasps With High Resolution Images", 400x400 depth input).

What the paper states: an encoder-decoder; batch norm + ReLU on every convolution and
deconvolution; kernel sizes 9-5-3-3-3-3 in the down-sampling part and 3-3-3-5-9-5 in the
up-sampling part; "residual block like" connections with 3x3 kernels between encoder and decoder
to combine local and global features; 400x400 input and output; ~8 ms on a GTX 1060.

What it does not state, and is chosen here (keep it light: ~0.35 M params):

* Strides. The first four encoder layers halve the resolution (400 -> 200 -> 100 -> 50 -> 25),
  the last two (3x3) work at 1/16 as a bottleneck. The decoder mirrors it: its first 3x3 layer
  stays at 1/16, then 3x3, 3x3, 5x5, 9x9 transposed convs double the size (each mirroring the
  encoder layer of the same kernel), and the final 5x5 refines at full resolution. Hence the
  input side must be a multiple of 16 (400 = 25 * 16).
* Channels ``c = channels = (16, 32, 64, 64)``: encoder outputs c0, c1, c2, c3, c3, c3; decoder
  outputs c3, c2, c1, c0, then ``full_res_channels`` (8) for the two full-resolution layers.
  Those two layers dominate the cost (a 9x9 and a 5x5 kernel on 400x400 maps), so halving their
  width nearly halves the FLOPs (5.4 -> 3.0 GFLOPs at 400x400) and saves 15 k parameters.
* Convolutions carry no bias (the following BN has one); Kaiming-normal init for the ReLUs.
* Connections: at each of the four reduced scales (1/2 ... 1/16) the encoder feature goes through
  a 3x3 conv + BN and is added to the decoder's pre-activation there (ResNet-style sum before
  the ReLU), which is our reading of "residual block like" connections.
* Stride-1 "deconvolutions" are plain convolutions (identical up to a kernel flip).
* Outputs: the paper predicts three maps (quality, angle, width); we use the four-map
  ``(quality, cos 2a, sin 2a, width)`` output of the GG-CNN family like the other networks here,
  with 1x1 heads.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .base import GraspMaps, GraspNetwork, check_positive_int

ENCODER_KERNELS = (9, 5, 3, 3, 3, 3)
DECODER_KERNELS = (3, 3, 3, 5, 9, 5)


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, transposed: bool = False) -> nn.Sequential:
    """Conv (or stride-2 transposed conv) + BN, sized so that stride s maps H to H/s or H*s."""
    if transposed:
        conv = nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1,
                                  bias=False)
    else:
        conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
    # No conv bias: BN's shift makes it redundant.
    return nn.Sequential(conv, nn.BatchNorm2d(cout))


class EfficientFCN(GraspNetwork):
    input_multiple = 16
    default_input_size = 400
    default_in_channels = 1

    def __init__(self, in_channels: int = 1, n_bins: int = 1, quality_activation: str = "linear",
                 channels: tuple[int, int, int, int] = (16, 32, 64, 64), full_res_channels: int = 8,
                 head: str = "generative"):
        super().__init__(in_channels, n_bins, quality_activation, head)
        if len(channels) != 4:
            raise ValueError(f"channels must have 4 entries (one per scale 1/2..1/16), got {channels!r}")
        c0, c1, c2, c3 = (check_positive_int("channels[i]", c) for c in channels)
        cf = check_positive_int("full_res_channels", full_res_channels)
        ke, kd = ENCODER_KERNELS, DECODER_KERNELS

        self.enc1 = _conv_bn(in_channels, c0, ke[0], 2)   # 1/2
        self.enc2 = _conv_bn(c0, c1, ke[1], 2)            # 1/4
        self.enc3 = _conv_bn(c1, c2, ke[2], 2)            # 1/8
        self.enc4 = _conv_bn(c2, c3, ke[3], 2)            # 1/16
        self.enc5 = _conv_bn(c3, c3, ke[4])               # 1/16 bottleneck
        self.enc6 = _conv_bn(c3, c3, ke[5])

        self.dec1 = _conv_bn(c3, c3, kd[0])                        # 1/16
        self.dec2 = _conv_bn(c3, c2, kd[1], 2, transposed=True)    # 1/8
        self.dec3 = _conv_bn(c2, c1, kd[2], 2, transposed=True)    # 1/4
        self.dec4 = _conv_bn(c1, c0, kd[3], 2, transposed=True)    # 1/2
        self.dec5 = _conv_bn(c0, cf, kd[4], 2, transposed=True)    # 1/1
        self.dec6 = _conv_bn(cf, cf, kd[5])                        # 1/1 refinement

        # Encoder -> decoder connections (3x3 conv + BN), added before the decoder ReLU.
        self.skip16 = _conv_bn(c3, c3, 3)
        self.skip8 = _conv_bn(c2, c2, 3)
        self.skip4 = _conv_bn(c1, c1, 3)
        self.skip2 = _conv_bn(c0, c0, 3)

        self.heads = self.make_heads(cf, kernel_size=1)

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m not in self.heads.modules():
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def _forward_impl(self, x: Tensor) -> GraspMaps:
        e2 = F.relu(self.enc1(x))
        e4 = F.relu(self.enc2(e2))
        e8 = F.relu(self.enc3(e4))
        e16 = F.relu(self.enc4(e8))
        y = F.relu(self.enc6(F.relu(self.enc5(e16))))

        y = F.relu(self.dec1(y) + self.skip16(e16))
        y = F.relu(self.dec2(y) + self.skip8(e8))
        y = F.relu(self.dec3(y) + self.skip4(e4))
        y = F.relu(self.dec4(y) + self.skip2(e2))
        y = F.relu(self.dec5(y))
        y = F.relu(self.dec6(y))
        return self.heads(y)
