"""Sampling a generator: fixed latents, truncation, uint8 images."""
from __future__ import annotations

import numpy as np
import torch

from pipeline.gan.networks import Generator

TRUNCATION_LATENTS = 4096


def latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """``n`` standard-normal latents, the same for the same seed on every machine."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """NCHW floats in [-1, 1] -> NHWC uint8."""
    x = ((x.float() + 1) * 127.5).clamp(0, 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def to_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """NHWC uint8 -> NCHW float32 in [-1, 1]."""
    x = torch.as_tensor(np.asarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1


@torch.no_grad()
def mean_features(G: Generator, seed: int = 0) -> torch.Tensor:
    """The mean 4x4 feature map: the centre that truncation pulls towards."""
    device = next(G.parameters()).device
    z = latents(TRUNCATION_LATENTS, G.z_dim, seed).to(device)
    return G.input(z).mean(dim=0, keepdim=True)


@torch.no_grad()
def generate(G: Generator, z: torch.Tensor, batch: int = 256, truncation: float | None = None) -> np.ndarray:
    """Images for latents ``z`` as (N, H, W, 3) uint8; ``truncation`` psi in (0, 1] trades variety for typicality."""
    device = next(G.parameters()).device
    mix = None if truncation is None or truncation >= 1 else (mean_features(G), float(truncation))
    out = [to_uint8(G(z[i:i + batch].to(device), mix=mix)) for i in range(0, len(z), batch)]
    return np.concatenate(out) if out else np.zeros((0, G.resolution, G.resolution, 3), np.uint8)
