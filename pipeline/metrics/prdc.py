"""k-NN precision and recall (Kynkaanniemi et al. 2019, k=3), with density and coverage (Naeem et al. 2020).

Feature space: a fixed, randomly initialised convolutional network -- weights
drawn from NumPy's PCG64 with a fixed seed, so every machine gets the same
network and nothing is downloaded. Four stride-2 3x3 conv + ReLU layers
(32, 64, 128, 256 channels, He-normal); each layer's activations are averaged
over space and the four vectors concatenated (480 numbers), each scaled by
1/sqrt(channels) so every layer weighs the same. Images are resized to 64 px
first, so every resolution is measured in the same space. Random conv
embeddings keep colour, layout and texture statistics, which is what tells
paintings apart here; Naeem et al. report that randomly initialised embeddings
give usable fidelity/diversity figures where a pretrained one does not apply.
Values are comparable within this project, not with published ImageNet-feature
numbers.

Precision: share of samples inside the real manifold (union of balls around
each real feature with radius = distance to its k-th nearest real neighbour).
Recall: share of real images inside the sample manifold. Density and coverage
are the outlier-robust variants.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FEATURE_SIDE = 64
CHANNELS = (32, 64, 128, 256)
SEED = 20190101
K = 3


def _weights(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    layers, cin = [], 3
    for cout in CHANNELS:
        w = rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))
        b = rng.standard_normal(cout) * 0.1
        layers.append((torch.tensor(w, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)))
        cin = cout
    return layers


@torch.no_grad()
def features(images: np.ndarray, batch: int = 128, seed: int = SEED) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 480) float32 features of the fixed random network."""
    layers = _weights(seed)
    out = []
    for start in range(0, len(images), batch):
        x = torch.as_tensor(np.ascontiguousarray(images[start:start + batch])).permute(0, 3, 1, 2).float() / 127.5 - 1
        if x.shape[-1] != FEATURE_SIDE:
            x = F.interpolate(x, size=FEATURE_SIDE, mode="bilinear", antialias=True, align_corners=False)
        pooled = []
        for w, b in layers:
            x = F.relu(F.conv2d(x, w, b, stride=2, padding=1))
            pooled.append(x.mean(dim=(2, 3)) / x.shape[1] ** 0.5)
        out.append(torch.cat(pooled, dim=1))
    return torch.cat(out)


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values   # +1: the point itself is at distance 0


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = K) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` features against ``real`` ones."""
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"need more than k={k} real and fake features, got {len(real)} and {len(fake)}")
    r_real, r_fake = _kth_radius(real, k), _kth_radius(fake, k)
    d = torch.cdist(real, fake)                       # (R, F)
    inside_real = d < r_real[:, None]                 # fake j inside real i's ball
    return {
        "precision": inside_real.any(dim=0).float().mean().item(),
        "recall": (d < r_fake[None, :]).any(dim=1).float().mean().item(),
        "density": inside_real.float().sum(dim=0).mean().item() / k,
        "coverage": (d.min(dim=1).values < r_real).float().mean().item(),
    }
