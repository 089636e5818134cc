"""Square crops at training resolutions: center crop or pad, Lanczos resize, no upscaling."""
from __future__ import annotations

import numpy as np
from PIL import Image

CROPS = ("center", "pad")


def fits(width: int, height: int, size: int, crop: str) -> bool:
    """Whether an image of this size reaches ``size`` px without upscaling."""
    side = min(width, height) if crop == "center" else max(width, height)
    return side >= size


def border_colour(im: Image.Image) -> tuple[int, int, int]:
    """Median colour of the outermost pixels of an RGB image (the pad colour)."""
    a = np.asarray(im)
    edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return tuple(int(c) for c in np.median(edge, axis=0))


def square(im: Image.Image, size: int, crop: str = "center") -> np.ndarray | None:
    """(size, size, 3) uint8 of an RGB image, or None when it is too small for ``size``.

    ``center`` keeps the central square; ``pad`` keeps the whole work and fills
    the rest of the square with its border colour. Lanczos in Pillow is
    antialiased (its kernel widens with the reduction), as clean-fid recommends.
    """
    w, h = im.size
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    if not fits(w, h, size, crop):
        return None
    if crop == "center":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        out = im.resize((size, size), Image.LANCZOS, box=(left, top, left + side, top + side))
    else:
        side = max(w, h)
        canvas = Image.new("RGB", (side, side), border_colour(im))
        canvas.paste(im, ((side - w) // 2, (side - h) // 2))
        out = canvas.resize((size, size), Image.LANCZOS)
    return np.asarray(out, np.uint8)
