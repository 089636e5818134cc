"""Exponential moving average of generator weights (half-life in images)."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, batch: int, half_life_kimg: float,
               nimg: int | None = None, rampup: float | None = None) -> float:
    """Move ``ema`` towards ``model``; returns the decay used.

    With ``rampup`` the half-life is capped at ``rampup * nimg`` so that an EMA of
    a fresh network is not dominated by its random start (StyleGAN2-ADA).
    """
    half_life = half_life_kimg * 1000
    if rampup is not None and nimg is not None:
        half_life = min(half_life, nimg * rampup)
    beta = 0.5 ** (batch / max(half_life, 1e-8))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - beta)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)
    return beta
