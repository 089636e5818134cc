"""Progressive growth: alpha = 0 reproduces the lower resolution exactly, alpha = 1 uses only the new block."""
import copy

import torch

from pipeline.gan.layers import downsample, upsample
from pipeline.gan.networks import Discriminator, Generator, fade_reals

torch.set_num_threads(1)
CH = {4: 8, 8: 8, 16: 4, 32: 4}


def grown_generator(lo=16, base=8):
    torch.manual_seed(0)
    G = Generator(16, CH, lo, base)
    old = copy.deepcopy(G)
    G.grow()
    return old, G


def test_generator_shapes_and_grow():
    old, G = grown_generator()
    z = torch.randn(4, 16)
    assert old(z).shape == (4, 3, 16, 16)
    assert G.resolution == 32 and G(z).shape == (4, 3, 32, 32)
    assert set(G.to_rgb) == {"8", "16", "32"}


def test_generator_alpha0_is_upsampled_lower_resolution_exactly():
    old, G = grown_generator()
    z = torch.randn(5, 16)
    with torch.no_grad():
        assert torch.equal(G(z, alpha=0.0), upsample(old(z)))


def test_generator_alpha1_uses_only_new_block():
    _, G = grown_generator()
    z = torch.randn(5, 16)
    with torch.no_grad():
        before = G(z, alpha=1.0)
        mid = G(z, alpha=0.5)
        G.to_rgb["16"].weight.add_(1.0)      # the old toRGB path
        G.to_rgb["16"].bias.add_(1.0)
        assert torch.equal(G(z, alpha=1.0), before)
        assert not torch.allclose(G(z, alpha=0.5), mid)   # the fade does use it
        G.blocks["32"].conv2.weight.add_(1.0)             # the new block
        assert not torch.allclose(G(z, alpha=1.0), before)


def test_discriminator_alpha0_is_old_discriminator_on_pooled_input():
    torch.manual_seed(0)
    old = Discriminator(CH, 16, 8)
    D = copy.deepcopy(old)
    D.grow()
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        assert D(x, alpha=0.0).shape == (8,)
        assert torch.equal(D(x, alpha=0.0), old(downsample(x)))


def test_discriminator_alpha1_uses_only_new_block():
    torch.manual_seed(0)
    D = Discriminator(CH, 16, 8)
    D.grow()
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        before, mid = D(x, alpha=1.0), D(x, alpha=0.5)
        D.from_rgb["16"].weight.add_(1.0)
        assert torch.equal(D(x, alpha=1.0), before)
        assert not torch.allclose(D(x, alpha=0.5), mid)
        D.from_rgb["32"].weight.add_(1.0)
        assert not torch.allclose(D(x, alpha=1.0), before)


def test_fade_reals_blends_like_the_generator():
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(fade_reals(x, 1.0), x)
    assert torch.equal(fade_reals(x, 0.0), upsample(downsample(x)))
    torch.testing.assert_close(fade_reals(x, 0.25), 0.75 * upsample(downsample(x)) + 0.25 * x)
