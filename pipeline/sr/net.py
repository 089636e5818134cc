"""The upscaler network: SRVGG-compact (Wang et al. 2021, Real-ESRGAN's compact model).

Every conv runs at the small resolution; a pixel shuffle (Shi et al. 2016, ESPCN) makes
``scale`` x ``scale`` output pixels of each small one, and a bicubic enlargement of the
input is added, so the net only learns what bicubic misses: edges and texture.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Upscaler(nn.Module):
    def __init__(self, width: int = 32, depth: int = 8, scale: int = 4):
        super().__init__()
        self.scale, self.width, self.depth = scale, width, depth
        layers = [nn.Conv2d(3, width, 3, padding=1), nn.PReLU(width)]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width)]
        layers += [nn.Conv2d(width, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)
        nn.init.zeros_(layers[-2].weight)   # starts as plain bicubic
        nn.init.zeros_(layers[-2].bias)

    @property
    def reach(self) -> int:
        """Small-image pixels on each side that an output pixel depends on (convs, and bicubic's 2)."""
        return max(self.depth + 2, 2)

    def config(self) -> dict:
        return {"width": self.width, "depth": self.depth, "scale": self.scale}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) in [0, 1] -> (N, 3, h * scale, w * scale), not clamped."""
        skip = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return skip + self.body(x)
