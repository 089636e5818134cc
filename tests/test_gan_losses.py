"""Losses: the mode-seeking regulariser penalises a generator that maps distant latents to one image;
RpGAN + R1 + R2 against values worked out by hand."""
import math

import pytest
import torch

from pipeline.gan.augment import AdaptiveP
from pipeline.gan.losses import d_loss, g_loss, mode_seeking, rpgan_d


def test_mode_seeking_is_large_for_collapsed_samples_and_its_gradient_spreads_them():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    collapsed = torch.zeros(16, 3, 4, 4) + 0.01 * torch.randn(16, 3, 4, 4)
    spread = z[:, :3, None, None].expand(16, 3, 4, 4).clone()       # images as far apart as their latents
    assert mode_seeking(z, collapsed) > 50 * mode_seeking(z, spread)

    fake = collapsed.clone().requires_grad_(True)
    mode_seeking(z, fake).backward()
    stepped = fake.detach() - 1e-4 * fake.grad
    first, second = stepped.flatten(1).chunk(2)
    before = collapsed.flatten(1).chunk(2)
    assert (first - second).abs().mean() > (before[0] - before[1]).abs().mean()


def test_mode_seeking_pairs_an_odd_batch_without_failing():
    z, fake = torch.randn(5, 8), torch.randn(5, 3, 4, 4)
    assert torch.isfinite(mode_seeking(z, fake))


def test_rpgan_pairs_each_real_with_a_fake_and_penalises_both_sides():
    """D(x) = sum of x: reals of ones score 12 (3x2x2), fakes of zeros 0; every input gradient is 1,
    so R1 = R2 = 12 per sample. D loss = softplus(0 - 12) + gamma / 2 (12 + 12)."""
    D = lambda x, parts=1: x.flatten(1).sum(1)   # noqa: E731
    real, fake = torch.ones(4, 3, 2, 2), torch.zeros(4, 3, 2, 2)
    loss, logs, scores = rpgan_d(D, real, fake, gamma=0.5)
    assert torch.equal(scores, torch.full((4,), 12.0))
    assert loss.item() == pytest.approx(math.log1p(math.exp(-12)) + 0.25 * 24)
    assert logs["penalty"] == pytest.approx(24.0)
    loss0, logs0, _ = rpgan_d(D, real, fake, gamma=0.0)       # a lazy step: no penalty
    assert loss0.item() == pytest.approx(math.log1p(math.exp(-12))) and "penalty" not in logs0


@pytest.mark.parametrize("offset", [-100.0, 0.0, 100.0])
def test_ada_watches_rpgan_margins_which_the_scores_common_offset_cannot_move(offset):
    """The pairing loss is the same for D and D + c, so the sign of the raw real scores says nothing
    about overfitting. ADA watches each real's margin over its fake: a D that ranks 3 of 4 reals above
    their fakes is 'sure' (E[sign] = 0.5) whatever c is, and p rises above a target of 0.4."""
    D = lambda x, parts=1: x.flatten(1).sum(1) + offset   # noqa: E731
    real = torch.tensor([1.0, 1.0, 1.0, -1.0]).view(4, 1, 1, 1)
    fake = torch.zeros(4, 1, 1, 1)
    loss, _, sureness = d_loss("rpgan", D, real, fake, 0.0)
    assert torch.equal(sureness, torch.tensor([1.0, 1.0, 1.0, -1.0]))
    assert loss.item() == pytest.approx((3 * math.log1p(math.exp(-1)) + math.log1p(math.e)) / 4)
    ada = AdaptiveP(0.0, target=0.4, speed_kimg=1)
    ada.observe(sureness)
    ada.update(100)
    assert ada.last_rt == 0.5 and ada.p == pytest.approx(0.1)
    _, _, separable = d_loss("ns-r1", D, real, fake, 0.0)      # a separable loss anchors the sign itself
    assert torch.equal(separable, D(real))


def test_rpgan_generator_loss_is_relative_to_the_paired_reals():
    """softplus(-(D(fake) - D(real))): the same fakes cost more against better-scored reals (not so for NS)."""
    D = lambda x, parts=1: x.flatten(1).sum(1)   # noqa: E731
    fake = torch.zeros(2, 1, 1, 1, requires_grad=True)
    near, far = torch.zeros(2, 1, 1, 1), torch.full((2, 1, 1, 1), 3.0)
    assert g_loss("rpgan", D, fake, near).item() == pytest.approx(math.log(2))
    assert g_loss("rpgan", D, fake, far).item() == pytest.approx(math.log1p(math.exp(3)))
    assert g_loss("ns-r1", D, fake, near).item() == g_loss("ns-r1", D, fake, far).item()


def test_the_train_stage_trains_with_rpgan(tmp_path):
    from train_helpers import make_project, run_stage

    root = make_project(tmp_path / "p", train={"loss": "rpgan", "gamma": 0.5})
    done = run_stage(root, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (root / "models" / "8" / "generator.pt").exists()


def test_rpgan_with_a_real_discriminator_matches_separate_passes_over_reals_and_fakes():
    """The D step scores reals and fakes in one pass; its loss, penalty and gradients are those of
    scoring each side alone (minibatch stddev sees only its own side)."""
    import torch.nn.functional as F

    from pipeline.gan.networks import Discriminator
    torch.manual_seed(0)
    D = Discriminator({4: 8, 8: 8, 16: 4}, 16, 16, mbstd_group=4)
    real, fake = torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16) * 2
    loss, logs, _ = rpgan_d(D, real, fake, gamma=1.0)
    got = torch.autograd.grad(loss, list(D.parameters()))

    r, f = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    rs, fs = D(r), D(f)
    gr, gf = torch.autograd.grad(rs.sum() + fs.sum(), (r, f), create_graph=True)
    penalty = gr.flatten(1).pow(2).sum(1).mean() + gf.flatten(1).pow(2).sum(1).mean()
    expected = F.softplus(fs - rs).mean() + 0.5 * penalty
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["penalty"] == pytest.approx(penalty.item(), rel=1e-5)
    for a, b in zip(got, torch.autograd.grad(expected, list(D.parameters()))):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_one_pass_refuses_unequal_reals_and_fakes():
    D = lambda x, parts=1: x.flatten(1).sum(1)   # noqa: E731
    with pytest.raises(ValueError, match="4 reals and 2 fakes"):
        rpgan_d(D, torch.ones(4, 3, 2, 2), torch.zeros(2, 3, 2, 2), gamma=0.0)
