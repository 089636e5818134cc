"""Training pairs for the upscaler: random patches of full-size images and their degraded small copies.

The small copy is made the way the upscaler's input comes about: a painting reduced to a
training resolution (prepare reduces with an antialiased kernel), drawn by a generator that is
softer than its data and leaves faint noise, and sometimes a JPEG on the way. Each patch
draws its own blur, kernel, noise and JPEG quality, so the net learns the whole range.
The small copy and the patch share pixel centres: small pixel (i, j) covers large pixels
[scale*i, scale*(i+1)) x [scale*j, scale*(j+1)) -- tests/test_sr_degrade.py fails on a
one-pixel shift.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

KERNELS = (v2.InterpolationMode.BICUBIC, v2.InterpolationMode.BILINEAR)   # antialiased: bicubic ~ Lanczos, bilinear softer


@dataclass(frozen=True)
class Degradation:
    scale: int = 4
    blur: float = 1.2          # Gaussian sigma drawn in [0, blur], large-image px
    noise: float = 2.0         # Gaussian sigma drawn in [0, noise], levels of 255
    jpeg: float = 0.2          # probability of a JPEG round trip
    jpeg_quality: int = 75     # quality drawn in [jpeg_quality, 95]

    def __call__(self, hr: torch.Tensor) -> torch.Tensor:
        """The small copy of one (3, H, W) uint8 patch (H, W multiples of scale), as (3, H/s, W/s) uint8."""
        x = hr.float() / 255
        sigma = float(torch.rand(())) * self.blur
        if sigma > 0.05:
            k = 2 * math.ceil(3 * sigma) + 1
            x = TF.gaussian_blur(x, [k, k], [sigma, sigma])
        kernel = KERNELS[int(torch.randint(len(KERNELS), ()))]
        small = TF.resize(x, [hr.shape[-2] // self.scale, hr.shape[-1] // self.scale], kernel, antialias=True)
        small = small + torch.randn_like(small) * (float(torch.rand(())) * self.noise / 255)
        small = (small.clamp(0, 1) * 255).round().to(torch.uint8)   # a generator writes 8-bit images
        if float(torch.rand(())) < self.jpeg:
            small = jpeg(small, int(torch.randint(self.jpeg_quality, 96, ())))
        return small


def jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """A JPEG round trip of a (3, h, w) uint8 tensor through Pillow (torchvision's own codec is deprecated)."""
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1).contiguous()


class Patches:
    """Random training patches from a list of (3, H, W) uint8 images, each at least ``patch`` px on both sides.

    Draws from torch's global generator, so a saved ``torch.get_rng_state()`` replays the same patches.
    """

    def __init__(self, images: list[torch.Tensor], patch: int, degradation: Degradation):
        self.images, self.degradation = images, degradation
        self.crop = v2.Compose([v2.RandomCrop(patch), v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()])

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(small, large): (n, 3, p/s, p/s) and (n, 3, p, p) floats in [0, 1]."""
        picks = torch.randint(len(self.images), (n,)).tolist()
        large = torch.stack([self.crop(self.images[i]) for i in picks])
        small = torch.stack([self.degradation(x) for x in large])
        return small.float() / 255, large.float() / 255
