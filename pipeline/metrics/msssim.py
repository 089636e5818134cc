"""Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) as a diversity measure.

Five scales with weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333; an 11x11
Gaussian window with sigma 1.5; the image halved by 2x2 averaging between scales;
contrast-structure terms at the first four scales and the full SSIM at the last,
each averaged over pixels and channels, then raised to its weight and multiplied.

Small images: 5 scales with an 11x11 window need >= 176 px. Below that the window
at a scale shrinks to the largest odd size that fits (sigma scaled with it), as
ProGAN's / the TF-models MS-SSIM does; at >= 176 px this is the textbook
definition (checked against torchmetrics in the tests). Negative terms are
clipped at 0 before the power (torchmetrics' ``normalize="relu"``), so a pair of
anti-correlated images scores 0 rather than NaN.

Averaged over random pairs of *samples*, a value well above the same figure on
pairs of real images says the generator lost diversity (Odena et al. 2017).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def _window(size: int) -> torch.Tensor:
    sigma = SIGMA * size / WINDOW
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term per image (valid windows only)."""
    side = min(x.shape[-2:])
    size = min(WINDOW, side if side % 2 else side - 1)
    c = x.shape[1]
    w = _window(size).to(x.dtype).expand(c, 1, size, size)
    n = len(x)
    # one depthwise convolution for all five local moments
    moments = F.conv2d(torch.cat([x, y, x * x, y * y, x * y]), w, groups=c)
    mu_x, mu_y, xx, yy, xy = moments.split(n)
    var_x = (xx - mu_x ** 2).clamp(min=0)
    var_y = (yy - mu_y ** 2).clamp(min=0)
    cov = xy - mu_x * mu_y
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ms_ssim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float = 255.0) -> np.ndarray:
    """MS-SSIM of each pair (a[i], b[i]); inputs (N, H, W, 3) uint8 or float arrays. Returns (N,) floats."""
    # float32: PyTorch's float64 depthwise convolution is ~30x slower on CPU
    x = torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32).permute(0, 3, 1, 2)
    y = torch.as_tensor(np.ascontiguousarray(b), dtype=torch.float32).permute(0, 3, 1, 2)
    if x.shape != y.shape:
        raise ValueError(f"MS-SSIM needs pairs of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < 2 ** (len(WEIGHTS) - 1):
        raise ValueError(f"MS-SSIM with {len(WEIGHTS)} scales needs images of at least {2 ** (len(WEIGHTS) - 1)} px")
    terms = []
    for scale in range(len(WEIGHTS)):
        ssim, cs = _ssim_cs(x, y, data_range)
        if scale == len(WEIGHTS) - 1:
            terms.append(ssim)
        else:
            terms.append(cs)
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    terms = torch.stack(terms).clamp(min=0)
    weights = torch.tensor(WEIGHTS, dtype=terms.dtype)[:, None]
    return torch.prod(terms ** weights, dim=0).double().numpy()


def random_pairs(n: int, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``pairs`` index pairs (i, j) with i != j drawn uniformly from range(n)."""
    if n < 2:
        raise ValueError("need at least 2 images to form pairs")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n   # never equal to i
    return i, j


def mean_pairwise(images: np.ndarray, pairs: int, seed: int, batch: int = 64) -> float:
    """Mean MS-SSIM over ``pairs`` random pairs of distinct images of one set."""
    i, j = random_pairs(len(images), pairs, seed)
    values = [ms_ssim(images[i[k:k + batch]], images[j[k:k + batch]]) for k in range(0, pairs, batch)]
    return float(np.concatenate(values).mean())
