"""Known-bad "generators" made from real images, and the real image sets they are made from.

A metric earns its place in the headline only if it ranks these below the real
images, beyond its own interval (``benchmarks/metric_calibration.py`` prints the
table, ``tests/test_metrics_calibration.py`` holds it). Each generator returns
``n`` uint8 (N, S, S, 3) samples made from ``reals`` and names the metric meant to
catch it:

- ``blur-1``, ``blur-2``, ``blur-3``: the reals blurred (Gaussian, sigma in px at 64 px): realism;
- ``blobs``: each real replaced by a smooth field of its colours (4 x 4 cell means, blown up): realism;
- ``shuffled``: each real cut into 16 px patches (at 64 px) put back in a random order: realism;
- ``mode-drop``: 10 % of the reals, repeated: coverage;
- ``copies``, ``noisy-copies``: training images, exact or with light noise (sigma 4 of 255): copies.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F

# The scikit-image photographs in colour that ship inside the package (the cat is chelsea again).
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")


def _draw(reals: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return reals[rng.integers(0, len(reals), n)]


def blur(sigma: float) -> Callable:
    def make(reals, n, rng):
        scale = reals.shape[1] / 64
        x = _draw(reals, n, rng).astype(np.float32)
        out = scipy.ndimage.gaussian_filter(x, sigma=(0, sigma * scale, sigma * scale, 0), mode="reflect")
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return make


def blobs(reals, n, rng, cells: int = 4):
    x = torch.as_tensor(_draw(reals, n, rng)).permute(0, 3, 1, 2).float()
    means = F.adaptive_avg_pool2d(x, cells)
    smooth = F.interpolate(means, size=reals.shape[1], mode="bicubic", align_corners=False)
    return smooth.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def shuffled(reals, n, rng):
    x = _draw(reals, n, rng).copy()
    side = x.shape[1]
    p = max(1, side // 4)   # 16 px patches at 64 px
    k = side // p
    patches = x[:, :k * p, :k * p].reshape(n, k, p, k, p, 3).transpose(0, 1, 3, 2, 4, 5).reshape(n, k * k, p, p, 3)
    for i in range(n):
        patches[i] = patches[i][rng.permutation(k * k)]
    x[:, :k * p, :k * p] = patches.reshape(n, k, k, p, p, 3).transpose(0, 1, 3, 2, 4, 5).reshape(n, k * p, k * p, 3)
    return x


def mode_drop(reals, n, rng, share: float = 0.1):
    keep = rng.choice(len(reals), max(1, int(round(share * len(reals)))), replace=False)
    return _draw(reals[keep], n, rng)


def copies(reals, n, rng):
    return _draw(reals, n, rng)


def noisy_copies(reals, n, rng, sigma: float = 4.0):
    x = _draw(reals, n, rng).astype(np.float32) + rng.normal(0, sigma, (n,) + reals.shape[1:])
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# name -> (generator, the metric meant to catch it)
GENERATORS: dict[str, tuple[Callable, str]] = {
    "blur-1": (blur(1), "realism"),
    "blur-2": (blur(2), "realism"),
    "blur-3": (blur(3), "realism"),
    "blobs": (blobs, "realism"),
    "shuffled": (shuffled, "realism"),
    "mode-drop": (mode_drop, "coverage"),
    "copies": (copies, "copies"),
    "noisy-copies": (noisy_copies, "copies"),
}


def photo_tiles(size: int = 64, tile: int = 128, per_photo: int = 16, seed: int = 0) -> np.ndarray:
    """About 100 real images: up to ``per_photo`` random ``tile`` px tiles of each of scikit-image's
    colour photographs, resized (area) to ``size`` px; tiles that are mostly black border are skipped."""
    import skimage.data

    rng = np.random.default_rng(seed)
    out = []
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3]
        h, w = photo.shape[:2]
        corners = [(y, x) for y in range(0, h - tile + 1, tile) for x in range(0, w - tile + 1, tile)]
        picked = 0
        for i in rng.permutation(len(corners)):
            y, x = corners[i]
            t = photo[y:y + tile, x:x + tile]
            if (t.max(axis=2) < 16).mean() > 0.5:   # the retina's black surround
                continue
            out.append(t)
            picked += 1
            if picked == per_photo:
                break
    x = torch.as_tensor(np.stack(out)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=size, mode="area")
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def synthetic_set(n: int = 100, size: int = 64, seed: int = 0, family: str = "colourfield") -> np.ndarray:
    """``n`` synthetic paintings of ``family`` at ``size`` px, modes in turn."""
    from pipeline.synthetic import FAMILIES

    fam = FAMILIES[family]
    rng = np.random.default_rng(seed)
    return np.stack([fam.render(i % len(fam.modes), size, rng) for i in range(n)])
