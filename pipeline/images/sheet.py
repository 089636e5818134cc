"""Tiles for contact sheets: framed thumbnails and labelled strips (tiling is images.grid)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def thumbnail(im: Image.Image, side: int, frame: tuple[int, int, int] | None = None) -> np.ndarray:
    """``im`` fitted into a side x side tile on grey, optionally framed in a colour."""
    tile = Image.new("RGB", (side, side), (128, 128, 128))
    small = im.copy()
    small.thumbnail((side - 6, side - 6), Image.LANCZOS)
    tile.paste(small, ((side - small.width) // 2, (side - small.height) // 2))
    if frame is not None:
        ImageDraw.Draw(tile).rectangle((0, 0, side - 1, side - 1), outline=frame, width=3)
    return np.asarray(tile)


def label(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` with a line of text in a white strip above it."""
    strip = Image.new("RGB", (image.shape[1], 14), (255, 255, 255))
    ImageDraw.Draw(strip).text((3, 1), text, fill=(0, 0, 0))
    return np.concatenate([np.asarray(strip), image])
