"""Anchor-box grasp regression with a graspability scorer (the graspability-scorer paper, sec. IV-A).

    feature extractor: ResNet-50 as a fully convolutional encoder, to the end of layer3 ("the fourth
        convolution block"): 1024 channels at stride 16 (20x20 for the paper's 320x320 input)
    primary grasp predictor (PGP): two 1x1 convolutions on those features, per cell and anchor
        5 regression values δ (k*5 channels) and a primary score (k*2 channels, softmax)
    scorer, per cell and anchor:
        image: 3x3 neighbourhood of a 1x1 conv (1024 -> 1024) of the features, flattened to 9216
        grasp: the 5k vector that is 0 except the anchor's own δ, through a 512-unit layer
        cat (9728) -> fully connected -> fully connected (2, softmax); leaky ReLU 0.1 after every layer
        but the last

The fully connected layers run on every cell and anchor at once: the 9728-input layer splits into its image
columns (shared by the k anchors of a cell) and its grasp columns, and the 5k-input layer into its k blocks of
5 columns, which is the same arithmetic as the paper's per-grasp vectors. The hidden width of the last two
layers is not given in the paper: 512 here (``scorer_hidden``). ``scorer=False`` is the paper's baseline
without the scorer (the primary score ranks the grasps). Anchor dimensions are the training set's mean box,
found before training and recorded in the card as ``anchor_width`` / ``anchor_height`` (input pixels).

Outputs: ``forward(x)`` gives ``deltas`` (B, k, 5, G, G), ``primary`` and ``score`` probabilities (B, k, G, G);
``forward(x, logits=True)`` the training view: ``deltas``, ``primary`` logits (B, k, 2, G, G), ``score`` logits
with δ̂ detached (the scorer's loss) and ``score_fixed`` logits with the scorer's weights detached (the
regression loss's guide term), so :class:`~grasp_perception.anchor_boxes.AnchorLoss` routes the gradients
as the paper says.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import GraspNetwork, check_positive_int
from .resnet import ResNetEncoder

STRIDE = 16
LEAK = 0.1


class AnchorScorerNet(GraspNetwork):
    input_multiple = STRIDE
    default_input_size = 320
    default_in_channels = 3

    def __init__(self, in_channels: int = 3, n_bins: int = 6, quality_activation: str = "sigmoid",
                 head: str = "anchor", anchor_width: float = 54.0, anchor_height: float = 27.0,
                 scorer: bool = True, scorer_hidden: int = 512, depth: int = 50):
        if head != "anchor":
            raise ValueError(f"head must be 'anchor' for the anchor-box network, got {head!r}")
        super().__init__(in_channels, n_bins, quality_activation, head)
        if not (anchor_width > 0 and anchor_height > 0):
            raise ValueError(f"anchor_width and anchor_height must be > 0, got {anchor_width}, {anchor_height}")
        self.k = n_bins
        self.anchor_width, self.anchor_height, self.stride = float(anchor_width), float(anchor_height), STRIDE
        self.has_scorer = bool(scorer)
        hidden = check_positive_int("scorer_hidden", scorer_hidden)
        self.encoder = ResNetEncoder(in_channels, depth=depth, output_stride=32, stages=3)
        c = self.encoder.out_channels  # 1024
        self.regression = nn.Conv2d(c, 5 * self.k, 1)
        self.primary = nn.Conv2d(c, 2 * self.k, 1)
        if self.has_scorer:
            self.scorer_conv = nn.Conv2d(c, 1024, 1)
            self.grasp_fc = nn.Linear(5 * self.k, 512)
            self.fc1 = nn.Linear(9 * 1024 + 512, hidden)
            self.fc2 = nn.Linear(hidden, 2)

    def _scorer(self, feats: Tensor, deltas: Tensor, params: dict) -> Tensor:
        """Scorer logits (B, k, 2, G, G) for every cell and anchor, with the scorer weights in ``params``."""
        b, _, g, _ = feats.shape
        k = self.k
        image = F.leaky_relu(F.conv2d(feats, params["scorer_conv.weight"], params["scorer_conv.bias"]), LEAK)
        image = F.unfold(image, 3, padding=1).transpose(1, 2)                          # (B, G*G, 9216)
        w1 = params["fc1.weight"]
        image_part = image @ w1[:, :9216].T                                           # (B, G*G, hidden)
        # 5k-input layer on a one-hot-placed δ: anchor a only meets its own 5 columns of the weight.
        wg = params["grasp_fc.weight"].view(512, k, 5)
        d = deltas.permute(0, 3, 4, 1, 2).reshape(b, g * g, k, 5)                      # (B, G*G, k, 5)
        grasp = F.leaky_relu(torch.einsum("bnka,hka->bnkh", d, wg) + params["grasp_fc.bias"], LEAK)
        hidden = F.leaky_relu(image_part[:, :, None] + grasp @ w1[:, 9216:].T + params["fc1.bias"], LEAK)
        out = hidden @ params["fc2.weight"].T + params["fc2.bias"]                     # (B, G*G, k, 2)
        return out.reshape(b, g, g, k, 2).permute(0, 3, 4, 1, 2)

    def _forward_impl(self, x: Tensor):
        feats = self.encoder(x)[-1]
        b, _, g, _ = feats.shape
        deltas = self.regression(feats).view(b, self.k, 5, g, g)
        primary = self.primary(feats).view(b, self.k, 2, g, g)
        if not self.has_scorer:
            return deltas, primary, primary, primary
        own = {n: p for n, p in self.named_parameters() if n.split(".")[0] in ("scorer_conv", "grasp_fc", "fc1", "fc2")}
        score = self._scorer(feats, deltas.detach(), own)
        if not self.training:
            return deltas, primary, score, score
        fixed = self._scorer(feats, deltas, {n: p.detach() for n, p in own.items()})
        return deltas, primary, score, fixed

    def activate(self, maps):
        deltas, primary, score, _ = maps
        return deltas, primary.softmax(2)[:, :, 1], score.softmax(2)[:, :, 1]
