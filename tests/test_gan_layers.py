"""ProGAN layers: equalized learning rate, pixel norm, minibatch stddev."""
import math

import pytest
import torch

from pipeline.gan.layers import EqualizedConv2d, EqualizedLinear, minibatch_stddev, pixel_norm

torch.set_num_threads(1)


def test_equalized_conv_scales_unit_weights_by_he_constant():
    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 32, 3)
    fan_in = 16 * 3 * 3
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(fan_in))
    # Stored weights are N(0, 1): the scale is applied at run time, not at init.
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.05)
    assert conv.weight.mean().item() == pytest.approx(0.0, abs=0.05)
    x = torch.randn(8, 16, 12, 12)
    expected = torch.nn.functional.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)


def test_equalized_layers_keep_he_output_variance():
    # Unit-variance input through an N(0,1) * sqrt(2)/sqrt(fan_in) layer: Var(out) = 2 (He init).
    torch.manual_seed(1)
    lin = EqualizedLinear(512, 512)
    out = lin(torch.randn(4096, 512))
    assert out.var().item() == pytest.approx(2.0, rel=0.1)
    conv = EqualizedConv2d(64, 64, 3)
    out = conv(torch.randn(64, 64, 16, 16))[:, :, 1:-1, 1:-1]   # skip the zero-padded border
    assert out.var().item() == pytest.approx(2.0, rel=0.1)
    # gain=1 (toRGB, the last dense layer) halves it.
    lin1 = EqualizedLinear(512, 512, gain=1.0)
    assert lin1(torch.randn(4096, 512)).var().item() == pytest.approx(1.0, rel=0.1)


def test_pixel_norm_gives_unit_rms_over_channels():
    x = torch.randn(3, 10, 5, 5) * torch.rand(3, 1, 5, 5) * 50
    y = pixel_norm(x)
    rms = y.pow(2).mean(dim=1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms), rtol=1e-5, atol=1e-5)
    # Direction of each feature vector is unchanged.
    torch.testing.assert_close(y / y.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True))


def test_minibatch_stddev_appends_one_channel():
    x = torch.randn(8, 5, 4, 4)
    y = minibatch_stddev(x, group=4)
    assert y.shape == (8, 6, 4, 4)
    torch.testing.assert_close(y[:, :5], x)
    # A batch size the group does not divide still works (smaller group).
    assert minibatch_stddev(torch.randn(6, 5, 4, 4), group=4).shape == (6, 6, 4, 4)


def test_minibatch_stddev_value_on_known_input():
    # Groups are formed as reshape(group, -1): image i sits in group i % (n / group).
    x = torch.zeros(4, 2, 3, 3)
    x[0], x[2] = 1.0, 3.0     # group 0: images 0 and 2, values 1 and 3 -> population std 1
    x[1], x[3] = 5.0, 5.0     # group 1: identical images -> std 0
    y = minibatch_stddev(x, group=2)[:, 2]
    torch.testing.assert_close(y[0], torch.full((3, 3), 1.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(y[2], torch.full((3, 3), 1.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(y[1], torch.zeros(3, 3), atol=1e-3, rtol=0)
    torch.testing.assert_close(y[3], torch.zeros(3, 3), atol=1e-3, rtol=0)
    # A collapsed batch (all images equal) gives ~0; a varied one does not.
    same = torch.randn(1, 4, 4, 4).repeat(8, 1, 1, 1)
    assert minibatch_stddev(same)[:, -1].abs().max() < 1e-3
    assert minibatch_stddev(torch.randn(8, 4, 4, 4))[:, -1].min() > 0.3
