"""Memorization: is each sample close to one training image, closer than real images are to each other?

Distance: RMS pixel difference (RGB in [0, 1]) after box-downscaling both images
to at most ``SIDE`` px -- a copy is a copy at any scale, and pixel distance is
what "copied" means to someone looking at the wall. The reference is the
training set's own leave-one-out nearest-neighbour distance. Copies are also
counted with the project's near-duplicate rule, so "copy" means the same as in
dedup.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.neardup import detect as dedup
from pipeline.images.grid import image_grid

SIDE = 32


def pixel_features(images: np.ndarray, side: int = SIDE) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, D) float64 of pixels in [0, 1], box-downscaled to <= ``side`` px.

    float64 because cdist's matrix-product form loses exact zeros (copies) in float32.
    """
    x = torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).double() / 255
    if x.shape[-1] > side:
        x = F.adaptive_avg_pool2d(x, side)
    return x.flatten(1)


def nearest(query: torch.Tensor, ref: torch.Tensor, exclude_self: bool = False,
            batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """RMS distance from each query row to its nearest ``ref`` row, and that row's index.

    ``exclude_self``: query and ref are the same set; skip the diagonal (leave-one-out).
    """
    dims = query.shape[1]
    dist, idx = [], []
    for start in range(0, len(query), batch):
        d = torch.cdist(query[start:start + batch], ref)
        if exclude_self:
            rows = torch.arange(len(d))
            d[rows, rows + start] = float("inf")
        best = d.min(dim=1)
        dist.append(best.values / dims ** 0.5)
        idx.append(best.indices)
    return torch.cat(dist).numpy(), torch.cat(idx).numpy()


def wilson(k: int, n: int, z: float = 1.2816) -> tuple[float, float]:
    """Wilson score interval of a share k/n (z = 1.28: the 10th-90th percentile, like the split intervals)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


@dataclass
class Memorization:
    nn_distance: np.ndarray        # (N,) each sample's distance to its nearest training image
    nn_index: np.ndarray           # (N,) that training image's row
    train_nn_distance: np.ndarray  # (M,) each training image's distance to its nearest other one
    copy_of: np.ndarray            # (N,) training row the dedup rule calls the sample a copy of, or -1

    def metrics(self) -> dict[str, float]:
        typical = float(np.median(self.train_nn_distance))
        copies = int(np.sum(self.copy_of >= 0))
        lo, hi = wilson(copies, len(self.copy_of))
        return {
            # about 0.5 for samples as novel as real images are to each other; 1.0 for copies
            "closer_than_train_share": float(np.mean(self.nn_distance < typical)),
            "copy_share": copies / len(self.copy_of),
            "copy_share_lo": lo,   # 80 % Wilson interval of the share
            "copy_share_hi": hi,
            "nn_distance_median": float(np.median(self.nn_distance)),
            "train_nn_distance_median": typical,
        }


def memorization(samples: np.ndarray, train: np.ndarray, rule: dedup.Rule = dedup.Rule(),
                 side: int = SIDE) -> Memorization:
    """Compare samples with the training images (both (N, H, W, 3) uint8, same size)."""
    if len(train) < 2:
        raise ValueError("memorization needs at least 2 training images")
    fs, ft = pixel_features(samples, side), pixel_features(train, side)
    nn_distance, nn_index = nearest(fs, ft)
    train_nn, _ = nearest(ft, ft, exclude_self=True)
    copy_of = dedup.match(dedup.fingerprints(samples, rule), dedup.fingerprints(train, rule), rule)
    return Memorization(nn_distance, nn_index, train_nn, copy_of)


def nearest_panel(samples: np.ndarray, train: np.ndarray, result: Memorization, pairs: int = 12) -> np.ndarray:
    """The ``pairs`` closest sample/training pairs: samples on the top row, their nearest training image below."""
    order = np.argsort(result.nn_distance, kind="stable")[:pairs]
    return image_grid(np.concatenate([samples[order], train[result.nn_index[order]]]), columns=len(order))
