"""Tile a batch of images into one picture (sample grids, previews, contact sheets)."""
from __future__ import annotations

import math

import numpy as np


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """(N, H, W, 3) uint8 -> one (rows*H', cols*W', 3) uint8 image with ``pad`` px gutters."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), fill, np.uint8)
    for i, im in enumerate(images):
        r, col = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y:y + h, x:x + w] = im
    return out
