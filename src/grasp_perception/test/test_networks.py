"""Tests of the generative grasp networks: published parameter counts, shapes, errors, export."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch

try:
    import grasp_perception  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grasp_perception.networks import (  # noqa: E402
    GGCNN2, EfficientFCN, GraspNetwork, GRConvNet, UNet, available_networks, build_network,
    count_parameters, network_class, register_network,
)

NAMES = ["efficient_fcn", "ggcnn2", "grconvnet", "unet"]


def heads_params(in_ch: int, n_bins: int, k: int) -> int:
    """Parameters of the four heads: each a k x k conv in_ch -> n_bins with bias."""
    return 4 * (in_ch * k * k + 1) * n_bins


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # The inputs here are tiny: one thread is faster and avoids OpenMP spin-waiting against
    # other processes on a shared CPU (seen to slow a 32 px forward pass 100-fold).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---------------------------------------------------------------- parameter counts

@pytest.mark.parametrize("in_channels,expected", [(1, 66_676), (4, 72_484)])
def test_ggcnn2_published_param_count(in_channels, expected):
    assert count_parameters(GGCNN2(in_channels)) == expected


def test_ggcnn2_three_bins_param_count():
    # Only the four 1x1 heads (16 -> n_bins) change with the bin count.
    expected = 66_676 - heads_params(16, 1, 1) + heads_params(16, 3, 1)
    assert expected == 66_812
    assert count_parameters(GGCNN2(1, n_bins=3)) == expected


@pytest.mark.parametrize("in_channels,channel_size,expected", [
    (4, 32, 1_900_900),   # RGB-D, as in the shipped arch.txt
    (1, 32, 1_893_124),   # depth
    (4, 16, 479_156),     # RGB-D, C = 16
])
def test_grconvnet_published_param_count(in_channels, channel_size, expected):
    assert count_parameters(GRConvNet(in_channels, channel_size=channel_size)) == expected


def test_grconvnet_dropout_and_bins_param_count():
    # Dropout has no parameters; 3 bins change only the 2x2 heads (32 -> n_bins).
    assert count_parameters(GRConvNet(4, dropout=0.1)) == 1_900_900
    expected = 1_900_900 - heads_params(32, 1, 2) + heads_params(32, 3, 2)
    assert count_parameters(GRConvNet(4, n_bins=3)) == expected == 1_901_932


def test_unet_param_count_matches_orange_minus_extra_heads():
    orange_depth_3bins = 14_788_752  # ORANGE's published count (depth input, 3 bins)
    graspness_head = 64 * 1 + 1      # 1x1 conv 64 -> 1, not built here
    bin_classifier = 64 * 3 + 3      # 1x1 conv 64 -> 3, not built here
    assert (graspness_head, bin_classifier) == (65, 195)
    expected = orange_depth_3bins - graspness_head - bin_classifier
    assert expected == 14_788_492
    assert count_parameters(UNet(1, n_bins=3)) == expected
    # One bin: the four 1x1 heads shrink from 64 -> 3 to 64 -> 1.
    assert count_parameters(UNet(1, n_bins=1)) == expected - heads_params(64, 3, 1) + heads_params(64, 1, 1)


def test_efficient_fcn_param_count():
    # Our own reading of the paper (no published count): pinned so changes are deliberate.
    net = EfficientFCN()
    assert count_parameters(net) == 346_676
    assert 200_000 < count_parameters(net) < 500_000  # "a few hundred k"
    assert count_parameters(EfficientFCN(n_bins=3)) - count_parameters(net) == \
        heads_params(8, 3, 1) - heads_params(8, 1, 1)


def test_count_parameters_trainable_only():
    net = GGCNN2(1)
    for p in net.heads.parameters():
        p.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 66_676 - heads_params(16, 1, 1)
    assert count_parameters(net) == 66_676


# ---------------------------------------------------------------- shapes and values

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_bins", [1, 3, 18])
def test_output_shapes_and_dtypes(name, n_bins):
    in_ch = network_class(name).default_in_channels
    net = build_network(name, in_ch, n_bins=n_bins).eval()
    x = torch.randn(2, in_ch, 64, 96)  # non-square, a multiple of every network's stride
    with torch.no_grad():
        out = net(x)
    assert isinstance(out, tuple) and len(out) == 4
    for t in out:
        assert t.shape == (2, n_bins, 64, 96)
        assert t.dtype == torch.float32
        assert torch.isfinite(t).all()


@pytest.mark.parametrize("size", [224, 300, 320])
def test_grconvnet_output_size_equals_input(size):
    # The size arithmetic does not depend on the channel size; C = 4 keeps this fast.
    net = GRConvNet(1, channel_size=4).eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 1, size, size))
    assert [tuple(t.shape) for t in out] == [(1, 1, size, size)] * 4


def test_default_sizes_and_channels():
    expected = {"ggcnn2": (300, 1), "grconvnet": (224, 4), "unet": (320, 4), "efficient_fcn": (400, 1)}
    got = {n: (network_class(n).default_input_size, network_class(n).default_in_channels) for n in NAMES}
    assert got == expected
    for n in NAMES:
        assert network_class(n).default_input_size % network_class(n).input_multiple == 0


def test_instance_attributes():
    net = build_network("grconvnet", 1, n_bins=3, quality_activation="sigmoid")
    assert (net.in_channels, net.n_bins, net.quality_activation, net.input_multiple) == (1, 3, "sigmoid", 4)


def test_sigmoid_quality_is_sigmoid_of_linear_quality():
    linear = GGCNN2(1, n_bins=3).eval()
    sigmoid = GGCNN2(1, n_bins=3, quality_activation="sigmoid").eval()
    sigmoid.load_state_dict(linear.state_dict())  # same weights, only the activation differs
    x = 50 * torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        q_lin, cos_lin, _, _ = linear(x)
        q_sig, cos_sig, _, _ = sigmoid(x)
    assert (q_lin < 0).any() and (q_lin > 1).any()  # otherwise this test would prove nothing
    assert q_sig.min() >= 0 and q_sig.max() <= 1
    torch.testing.assert_close(q_sig, torch.sigmoid(q_lin))
    torch.testing.assert_close(cos_sig, cos_lin)  # the other maps stay linear
    with torch.no_grad():
        q_logits = sigmoid(x, logits=True)[0]  # what the focal loss is computed from
    torch.testing.assert_close(q_logits, q_lin)


def test_grconvnet_per_head_dropout():
    net = GRConvNet(1, channel_size=4, dropout=0.5)
    drops = [m for m in net.heads.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 4 and all(d.p == 0.5 for d in drops)
    x = torch.randn(2, 1, 32, 32)
    net.train()
    with torch.no_grad():
        a, b = net(x)[0], net(x)[0]
    assert not torch.equal(a, b)  # dropout active in training
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x)[0], net(x)[0], rtol=0, atol=0)
    assert not any(isinstance(m, torch.nn.Dropout) for m in GRConvNet(1, channel_size=4).modules())


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_first_conv(name):
    in_ch = network_class(name).default_in_channels
    net = build_network(name, in_ch, n_bins=2).train()
    out = net(torch.randn(2, in_ch, 32, 32))
    sum(t.pow(2).mean() for t in out).backward()
    first_conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.in_channels == in_ch
    assert first_conv.weight.grad is not None
    assert first_conv.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- input validation

@pytest.mark.parametrize("name", NAMES)
def test_wrong_channel_count_raises(name):
    net = build_network(name, 4)
    with pytest.raises(ValueError, match=r"expects 4 input channels \(RGB-D\), got 1"):
        net(torch.zeros(1, 1, 64, 64))


@pytest.mark.parametrize("name,bad_size", [("ggcnn2", 66), ("grconvnet", 66), ("unet", 72),
                                           ("efficient_fcn", 72)])
def test_bad_input_size_raises(name, bad_size):
    net = build_network(name, 1)
    multiple = net.input_multiple
    assert bad_size % multiple != 0
    with pytest.raises(ValueError, match=rf"multiples of {multiple}.*\(1, 1, {bad_size}, 64\)"):
        net(torch.zeros(1, 1, bad_size, 64))


def test_non_4d_input_raises():
    with pytest.raises(ValueError, match="4-D input"):
        GGCNN2(1)(torch.zeros(1, 64, 64))


@pytest.mark.parametrize("kwargs,param", [
    (dict(n_bins=0), "n_bins"),
    (dict(in_channels=True), "in_channels"),
    (dict(quality_activation="relu"), "quality_activation"),
    (dict(dropout=1.0), "dropout"),
    (dict(channel_size=0), "channel_size"),
])
def test_bad_constructor_arguments_raise(kwargs, param):
    args = dict(in_channels=1, n_bins=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=param):
        GRConvNet(**args)


# ---------------------------------------------------------------- registry

def test_available_networks():
    # The generative networks (NAMES, tested here) and the two with their own heads (test_pixel_level.py,
    # test_anchor_boxes.py).
    assert available_networks() == sorted(NAMES + ["affga", "anchor_scorer"])
    assert all(issubclass(network_class(n), GraspNetwork) for n in available_networks())


def test_build_network_passes_options():
    net = build_network("grconvnet", 4, channel_size=16)
    assert isinstance(net, GRConvNet) and count_parameters(net) == 479_156


def test_unknown_network_lists_available():
    with pytest.raises(ValueError, match="unknown network 'resnet'.*ggcnn2.*grconvnet.*unet"):
        build_network("resnet", 1)


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match="channel_sise"):
        build_network("grconvnet", 4, channel_sise=16)
    with pytest.raises(ValueError, match="dropout"):  # GG-CNN2 has no dropout option
        build_network("ggcnn2", 1, dropout=0.1)


def test_register_network_rejects_bad_use():
    with pytest.raises(ValueError, match="GraspNetwork subclass"):
        register_network("not_a_net")(torch.nn.Conv2d)
    with pytest.raises(ValueError, match="already registered"):
        register_network("ggcnn2")(UNet)
    assert "not_a_net" not in available_networks()
    assert network_class("ggcnn2") is GGCNN2


# ---------------------------------------------------------------- export

def test_ggcnn2_jit_trace_matches_eager():
    net = GGCNN2(1, n_bins=3).eval()
    x = torch.randn(1, 1, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jit.trace deprecation notice
        traced = torch.jit.trace(net, x)
    y = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        for a, b in zip(traced(y), net(y)):
            torch.testing.assert_close(a, b)


def test_ggcnn2_onnx_export():
    onnx = pytest.importorskip("onnx")
    import io

    net = GGCNN2(1).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(1, 1, 64, 64),), buf, dynamo=False,
                          output_names=["quality", "cos", "sin", "width"])
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model)
    assert [o.name for o in model.graph.output] == ["quality", "cos", "sin", "width"]
