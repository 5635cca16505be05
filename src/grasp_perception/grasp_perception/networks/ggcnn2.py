"""GG-CNN2 (Morrison et al., "Learning robust, real-time, reactive robotic grasping", IJRR 2019).

Layer for layer the network of ``dougsm/ggcnn:models/ggcnn2.py`` (the bilinear-upsampling
version; ORANGE's variant with transposed convolutions is not this one):

    Conv 11x11 (in -> 16) - Conv 5x5 (16 -> 16) - MaxPool 2
    Conv 5x5 (16 -> 16)   - Conv 5x5 (16 -> 16) - MaxPool 2
    Conv 5x5 dilation 2 (16 -> 32) - Conv 5x5 dilation 4 (32 -> 32)
    Upsample x2 (bilinear, align_corners) - Conv 3x3 (32 -> 16)
    Upsample x2 (bilinear, align_corners) - Conv 3x3 (16 -> 16)
    four 1x1 heads (16 -> n_bins)

ReLU after every conv except the heads; Xavier-uniform weight init. 66,676 parameters for a
depth input and one bin. The two pools make the input side a multiple of 4.
"""
from __future__ import annotations

from torch import nn

from .base import GraspMaps, GraspNetwork, check_positive_int


class GGCNN2(GraspNetwork):
    input_multiple = 4
    default_input_size = 300
    default_in_channels = 1

    def __init__(self, in_channels: int = 1, n_bins: int = 1, quality_activation: str = "linear",
                 filter_sizes: tuple[int, int, int, int] = (16, 16, 32, 16),
                 l3_k_size: int = 5, dilations: tuple[int, int] = (2, 4), head: str = "generative"):
        super().__init__(in_channels, n_bins, quality_activation, head)
        if len(filter_sizes) != 4:
            raise ValueError(f"filter_sizes must have 4 entries, got {filter_sizes!r}")
        f1, f2, f3, f4 = (check_positive_int("filter_sizes[i]", f) for f in filter_sizes)
        check_positive_int("l3_k_size", l3_k_size)
        if l3_k_size % 2 == 0:
            raise ValueError(f"l3_k_size must be odd (keeps the map size), got {l3_k_size}")
        if len(dilations) != 2:
            raise ValueError(f"dilations must have 2 entries, got {dilations!r}")
        d1, d2 = (check_positive_int("dilations[i]", d) for d in dilations)

        def conv(cin, cout, k, dil=1):
            # 'same' padding, so only the pools and upsamplings change the size.
            return [nn.Conv2d(cin, cout, k, padding=(k // 2) * dil, dilation=dil), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(in_channels, f1, 11), *conv(f1, f1, 5), nn.MaxPool2d(2, 2),
            *conv(f1, f2, 5), *conv(f2, f2, 5), nn.MaxPool2d(2, 2),
            *conv(f2, f3, l3_k_size, d1), *conv(f3, f3, l3_k_size, d2),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),  # = UpsamplingBilinear2d
            *conv(f3, f4, 3),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            *conv(f4, f4, 3),
        )
        self.heads = self.make_heads(f4, kernel_size=1)

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight, gain=1)

    def _forward_impl(self, x) -> GraspMaps:
        return self.heads(self.features(x))
