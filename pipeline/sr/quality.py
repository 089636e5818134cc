"""How well a x``scale`` restore brings back a full-size image from its reduced copy.

Arrays in, numbers out. The reduction is prepare's (Pillow's antialiased Lanczos), so the
small image is what a generator trained on prepare's arrays learns to draw.

- PSNR (dB) over RGB, with ``scale`` px shaved off each border, as SR papers report it;
- SSIM (Wang et al. 2004): 11 px Gaussian window, sigma 1.5, per channel, averaged;
- texture: gradient energy of the restore over the original's (1 = as much fine detail;
  interpolation stays below 1, over-sharpening goes above).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

Restorer = Callable[[np.ndarray, int], np.ndarray]   # (small uint8 HxWx3, scale) -> large uint8


def crop_to_multiple(image: np.ndarray, scale: int) -> np.ndarray:
    h, w = image.shape[:2]
    return image[:h - h % scale, :w - w % scale]


def reduce(image: np.ndarray, scale: int) -> np.ndarray:
    """``image`` (H, W multiples of ``scale``) reduced ``scale`` times with Pillow's antialiased Lanczos."""
    h, w = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((w // scale, h // scale), Image.LANCZOS))


def interpolate(method: int) -> Restorer:
    def restore(small: np.ndarray, scale: int) -> np.ndarray:
        h, w = small.shape[:2]
        return np.asarray(Image.fromarray(small).resize((w * scale, h * scale), method))
    return restore


CLASSIC = {"lanczos": interpolate(Image.LANCZOS), "bicubic": interpolate(Image.BICUBIC)}


def psnr(a: np.ndarray, b: np.ndarray, shave: int = 0) -> float:
    a, b = (x[shave:x.shape[0] - shave, shave:x.shape[1] - shave].astype(np.float64) for x in (a, b))
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size)


def ssim(a: np.ndarray, b: np.ndarray, shave: int = 0) -> float:
    """Mean SSIM of two (H, W, 3) uint8 images over the windows that fit inside (no padding)."""
    x, y = (torch.from_numpy(im[shave:im.shape[0] - shave, shave:im.shape[1] - shave].astype(np.float64))
            .permute(2, 0, 1)[None] for im in (a, b))
    w = _gaussian_window()
    mu_x, mu_y = F.conv2d(x, w, groups=3), F.conv2d(y, w, groups=3)
    xx, yy, xy = (F.conv2d(p, w, groups=3) for p in (x * x, y * y, x * y))
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(s.mean())


def gradient_energy(image: np.ndarray, shave: int = 0) -> float:
    """Mean squared forward difference of the luma, both directions."""
    im = image[shave:image.shape[0] - shave, shave:image.shape[1] - shave].astype(np.float64)
    luma = im @ np.array([0.299, 0.587, 0.114])
    return float(np.mean(np.diff(luma, axis=0) ** 2) + np.mean(np.diff(luma, axis=1) ** 2))


def score(original: np.ndarray, restored: np.ndarray, scale: int) -> dict[str, float]:
    return {"psnr": psnr(original, restored, scale), "ssim": ssim(original, restored, scale),
            "texture": gradient_energy(restored, scale) / max(gradient_energy(original, scale), 1e-12)}


def compare(images: list[np.ndarray], restorers: dict[str, Restorer], scale: int) -> dict[str, dict[str, float]]:
    """Mean PSNR, SSIM and texture of each restorer over ``images`` (full size; each is reduced, then restored).

    Beside them, ``<name>_gain_db``: each restorer's PSNR minus Lanczos's, per image then averaged.
    """
    per: dict[str, list[dict]] = {name: [] for name in restorers}
    for image in images:
        image = crop_to_multiple(image, scale)
        small = reduce(image, scale)
        for name, restore in restorers.items():
            per[name].append(score(image, restore(small, scale), scale))
    out = {name: {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "texture")}
           for name, rows in per.items()}
    if "lanczos" in per:
        for name, rows in per.items():
            out[name]["gain_db"] = float(np.mean([r["psnr"] - l["psnr"] for r, l in zip(rows, per["lanczos"])]))
    for name in out:
        out[name]["images"] = len(images)
    return out
