"""GAN losses: WGAN-GP with drift (ProGAN), non-saturating with R1 (StyleGAN), RpGAN with R1 + R2 (R3GAN).

Each ``d_loss`` returns (loss, logs, sureness) for the discriminator step, each
``g_loss`` the generator loss. ``sureness`` is what ADA's overfitting heuristic takes
the sign of, one value per score: the real scores for a separable loss, whose sign
the loss anchors; for RpGAN each real's margin over its paired fake, because the
pairing loss sees only differences and leaves the scores' common offset free.

``D`` is any callable mapping images to scores (N,); the caller wraps augmentation
and fade-in into it. ``D(x, parts=2)`` scores two equal batches in one pass, each as
if alone: reals and fakes go through together, since on small networks a pass costs
mostly its per-layer overhead. A packing D (PacGAN) gives one score per pack of
consecutive images, so each penalty is taken per pack: the gradient norm of one score
over its whole input.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Critic = Callable[..., torch.Tensor]   # D(images, parts=1) -> scores


def score_pair(D: Critic, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(D(real), D(fake)) from one pass over both; gradients reach each input as from its own pass."""
    if len(real) != len(fake):
        raise ValueError(f"{len(real)} reals and {len(fake)} fakes: one pass scores equal halves")
    return D(torch.cat([real, fake]), parts=2).chunk(2)


def per_score(grad: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """``grad`` (N, C, H, W) as one row per score: a pack's images together (N / pack rows)."""
    return grad.reshape(len(scores), -1)


def wgan_gp_d(D: Critic, real: torch.Tensor, fake: torch.Tensor, gamma: float = 10.0,
              drift: float = 1e-3, g: torch.Generator | None = None) -> tuple[torch.Tensor, dict, torch.Tensor]:
    real_scores, fake_scores = score_pair(D, real, fake)
    # one point on the line from real to fake per score (a pack's images move together)
    eps = torch.rand(len(real_scores), 1, 1, 1, generator=g, device=real.device, dtype=real.dtype)
    mixed = torch.lerp(real, fake, eps.repeat_interleave(len(real) // len(real_scores), 0)).requires_grad_(True)
    mixed_scores = D(mixed)
    grad, = torch.autograd.grad(mixed_scores.sum(), mixed, create_graph=True)
    penalty = (per_score(grad, mixed_scores).norm(dim=1) - 1).pow(2)
    loss = fake_scores.mean() - real_scores.mean() + gamma * penalty.mean() + drift * real_scores.pow(2).mean()
    return loss, {"d_loss": loss.item(), "penalty": penalty.mean().item()}, real_scores


def wgan_g(D: Critic, fake: torch.Tensor) -> torch.Tensor:
    return -D(fake).mean()


def ns_r1_d(D: Critic, real: torch.Tensor, fake: torch.Tensor, gamma: float = 10.0,
            g: torch.Generator | None = None) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """With gamma = 0 (lazy regularisation between R1 steps) the penalty is skipped."""
    real = real.detach().requires_grad_(gamma > 0)
    real_scores, fake_scores = score_pair(D, real, fake)
    loss = F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean()
    logs = {"d_loss": loss.item()}
    if gamma > 0:
        grad, = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
        penalty = per_score(grad, real_scores).pow(2).sum(dim=1).mean()
        loss = loss + gamma / 2 * penalty
        logs["penalty"] = penalty.item()
    return loss, logs, real_scores


def ns_g(D: Critic, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-D(fake)).mean()


def rpgan_d(D: Critic, real: torch.Tensor, fake: torch.Tensor, gamma: float = 10.0,
            g: torch.Generator | None = None) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """RpGAN + R1 + R2 (Huang et al. 2024, R3GAN): each real is scored against the fake paired with it,
    softplus(-(D(real) - D(fake))), and both sides' gradients are penalised, gamma/2 (R1 + R2).

    Sun et al. 2020: a relativistic pairing loss has none of the bad basins that separable losses
    (non-saturating included) have, which look like mode collapse. With gamma = 0 (lazy steps) no penalty.
    """
    real = real.detach().requires_grad_(gamma > 0)
    fake = fake.detach().requires_grad_(gamma > 0)
    real_scores, fake_scores = score_pair(D, real, fake)
    loss = F.softplus(fake_scores - real_scores).mean()
    logs = {"d_loss": loss.item()}
    if gamma > 0:
        # each side's scores depend on its own images alone (minibatch stddev groups within a part),
        # so each gradient of the summed scores is that side's own
        grad_real, grad_fake = torch.autograd.grad(real_scores.sum() + fake_scores.sum(), (real, fake),
                                                   create_graph=True)
        r1, r2 = (per_score(grad, real_scores).pow(2).sum(dim=1).mean() for grad in (grad_real, grad_fake))
        loss = loss + gamma / 2 * (r1 + r2)
        logs["penalty"] = (r1 + r2).item()
    return loss, logs, (real_scores - fake_scores).detach()


def rpgan_g(D: Critic, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The generator's side of the pairing: softplus(-(D(fake) - D(real)))."""
    return F.softplus(D(real.detach()) - D(fake)).mean()


def mode_seeking(z: torch.Tensor, fake: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's regulariser (Mao et al. 2019): the inverse of how far two samples are per unit of latent distance.

    The batch is paired first half with second half; minimising this spreads
    samples of distant latents apart, against the generator mapping many
    latents onto a few images.
    """
    z1, z2 = z.flatten(1).chunk(2)
    f1, f2 = fake.flatten(1).chunk(2)
    n = min(len(z1), len(z2))
    ratio = (f1[:n] - f2[:n]).abs().mean(1) / (z1[:n] - z2[:n]).abs().mean(1)
    return (1 / (ratio + eps)).mean()


def d_loss(kind: str, D: Critic, real, fake, gamma: float, g=None):
    if kind == "wgan-gp":
        return wgan_gp_d(D, real, fake, gamma, g=g)
    if kind == "rpgan":
        return rpgan_d(D, real, fake, gamma, g=g)
    return ns_r1_d(D, real, fake, gamma, g=g)


def g_loss(kind: str, D: Critic, fake, real) -> torch.Tensor:
    """The generator loss of ``kind``; ``real`` is the discriminator step's batch (RpGAN pairs with it)."""
    if kind == "wgan-gp":
        return wgan_g(D, fake)
    return rpgan_g(D, fake, real) if kind == "rpgan" else ns_g(D, fake)
