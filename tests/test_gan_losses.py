"""Losses: the mode-seeking regulariser penalises a generator that maps distant latents to one image."""
import torch

from pipeline.gan.losses import mode_seeking


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
