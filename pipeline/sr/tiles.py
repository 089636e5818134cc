"""Running the upscaler on images of any size: overlapping tiles, and the chain of passes a print needs.

A tile is run with ``net.reach`` extra pixels of context on every side and only its own
region is kept, so a tiled result equals the whole-image one (up to float rounding) -- no
seams -- while memory stays bounded by the tile size.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from pipeline.sr.net import Upscaler

TILE = 192   # small-image px per tile: ~10 MB of activations per layer at width 32


@torch.no_grad()
def upscale(net: Upscaler, image: np.ndarray, tile: int = TILE, device: str = "cpu") -> np.ndarray:
    """One pass: (H, W, 3) uint8 -> (H*s, W*s, 3) uint8, tile by tile."""
    s, m = net.scale, net.reach
    h, w = image.shape[:2]
    x = torch.from_numpy(np.array(image, np.uint8)).permute(2, 0, 1).float().div(255)[None]   # a copy: PIL arrays are read-only
    out = np.empty((h * s, w * s, 3), np.uint8)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - m, 0), max(left - m, 0)
            piece = x[:, :, t0:min(bottom + m, h), l0:min(right + m, w)].to(device)
            y = net(piece)[0, :, (top - t0) * s:(bottom - t0) * s, (left - l0) * s:(right - l0) * s]
            out[top * s:bottom * s, left * s:right * s] = (
                y.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return out


def crop_box(width: int, height: int, aspect: float) -> tuple[float, float, float, float]:
    """The centred box of ``aspect`` (width / height) inside a width x height image, in pixel units."""
    if width / height > aspect:
        cw, ch = height * aspect, height
    else:
        cw, ch = width, width / aspect
    left, top = (width - cw) / 2, (height - ch) / 2
    return left, top, left + cw, top + ch


def passes_for(box: tuple[float, float, float, float], size: tuple[int, int], scale: int) -> int:
    """How many x``scale`` passes fit before the crop box would exceed ``size`` (Lanczos does the rest)."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    n = 0
    while bw * scale ** (n + 1) <= size[0] + 1e-6 and bh * scale ** (n + 1) <= size[1] + 1e-6:
        n += 1
    return n


def enlarge(image: np.ndarray, size: tuple[int, int], net: Upscaler | None = None, tile: int = TILE,
            device: str = "cpu", max_passes: int | None = None) -> tuple[Image.Image, int]:
    """``image`` centre-cropped to the aspect of ``size`` (width, height) and enlarged to it; and the passes run.

    With ``net``: as many learned passes as fit (at most ``max_passes``; on the pixels around the
    crop box only), then Lanczos for the remainder. Without: Lanczos alone.
    """
    h, w = image.shape[:2]
    box = crop_box(w, h, size[0] / size[1])
    n = passes_for(box, size, net.scale) if net is not None else 0
    n = n if max_passes is None else min(n, max_passes)
    if n:
        # the whole pixels around the box, so no learned work is spent on what the crop drops
        l, t = int(np.floor(box[0])), int(np.floor(box[1]))
        r, b = int(np.ceil(box[2])), int(np.ceil(box[3]))
        image = image[t:b, l:r]
        box = (box[0] - l, box[1] - t, box[2] - l, box[3] - t)
        for _ in range(n):
            image = upscale(net, image, tile, device)
        f = net.scale ** n
        box = tuple(c * f for c in box)
    return Image.fromarray(image).resize(size, Image.LANCZOS, box=box), n
