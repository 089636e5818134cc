"""Progressive growth: alpha = 0 reproduces the lower resolution exactly; at alpha = 1 ProGAN's generator uses only
the new block, a skip generator the lower rung's output plus what the new block adds."""
import copy

import torch

from pipeline.gan.layers import downsample, minibatch_stddev, smooth_upsample, upsample
from pipeline.gan.networks import Discriminator, Generator, fade_reals

torch.set_num_threads(1)
CH = {4: 8, 8: 8, 16: 4, 32: 4}


def grown_generator(lo=16, base=8, skip=False):
    torch.manual_seed(0)
    G = Generator(16, CH, lo, base, skip=skip)
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


def test_a_grown_skip_generator_starts_as_the_lower_rung_upsampled_at_any_alpha():
    old, G = grown_generator(skip=True)
    z = torch.randn(5, 16)
    with torch.no_grad():
        for alpha in (0.0, 0.5, 1.0):
            torch.testing.assert_close(G(z, alpha), smooth_upsample(old(z)), rtol=0, atol=1e-6)


def test_a_skip_generator_keeps_the_lower_rungs_picture_and_adds_the_new_blocks_detail():
    _, G = grown_generator(skip=True)
    z = torch.randn(5, 16)
    with torch.no_grad():
        G.to_rgb["32"].weight.normal_()                    # the new block now draws something
        h8, h16 = G.trunk(G.input(z), 8), G.trunk(G.input(z), 16)
        out16 = smooth_upsample(G.to_rgb["8"](h8)) + G.to_rgb["16"](h16)     # the 8 px rung's picture, plus 16 px detail
        detail = G.to_rgb["32"](G.blocks["32"](h16))
        for alpha in (0.0, 0.25, 1.0):
            torch.testing.assert_close(G(z, alpha), smooth_upsample(out16) + alpha * detail)
        before = G(z, 1.0)
        G.to_rgb["16"].bias.add_(1.0)                      # the lower rung's toRGB still draws at alpha 1
        assert not torch.allclose(G(z, 1.0), before)


def test_a_skip_generator_round_trips_through_its_model_config(tmp_path):
    from pipeline.gan.checkpoint import build_generator
    config = {"z_dim": 16, "channels": CH, "resolution": 32, "base": 8, "skip": True}
    G = build_generator(config)
    assert G.skip
    assert not build_generator({**config, "skip": False}).skip
    assert not build_generator({k: v for k, v in config.items() if k != "skip"}).skip   # models from before the key


def test_fade_reals_of_a_skip_generator_upsample_as_it_does():
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(fade_reals(x, 1.0, skip=True), x)
    torch.testing.assert_close(fade_reals(x, 0.0, skip=True), smooth_upsample(downsample(x)))


def test_reals_and_fakes_scored_in_one_pass_get_the_scores_and_gradients_of_two():
    """``parts=2``: minibatch stddev groups each half on its own, so one pass over reals and fakes
    scores each side as its own pass would, and R1/R2's input gradients stay each side's own; one
    pass without it mixes the halves' statistics."""
    for pack in (1, 2):
        torch.manual_seed(pack)
        D = Discriminator(CH, 16, 8, mbstd_group=4, pack=pack)
        D.grow()
        real, fake = torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32) * 3
        both = torch.cat([real, fake]).requires_grad_(True)
        scores = D(both, alpha=0.5, parts=2)
        alone = [x.clone().requires_grad_(True) for x in (real, fake)]
        separate = torch.cat([D(x, alpha=0.5) for x in alone])
        torch.testing.assert_close(scores, separate)
        grad, = torch.autograd.grad(scores.sum(), both)
        torch.testing.assert_close(grad, torch.cat(torch.autograd.grad(separate.sum(), alone)))
        assert not torch.allclose(D(both, alpha=0.5), separate, atol=1e-4)


def test_one_pass_groups_each_half_alone_when_the_group_does_not_divide_it():
    """Halves of 6 with group 4: each half falls back to groups of 3, as a pass over it alone does."""
    real, fake = torch.randn(6, 5, 4, 4), torch.randn(6, 5, 4, 4) * 4
    torch.testing.assert_close(minibatch_stddev(torch.cat([real, fake]), group=4, parts=2),
                               torch.cat([minibatch_stddev(real, group=4), minibatch_stddev(fake, group=4)]))
