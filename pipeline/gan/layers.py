"""The ProGAN building blocks: equalized learning rate, pixel norm, minibatch stddev."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2


class EqualizedConv2d(nn.Module):
    """Conv whose N(0, 1) weights are scaled at run time by gain / sqrt(fan_in).

    Adam normalises updates per parameter, so keeping every weight at unit scale
    gives every layer the same effective learning rate (Karras et al. 2017, 4.1).
    """

    def __init__(self, cin: int, cout: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    def __init__(self, cin: int, cout: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit RMS (over channels, dim 1)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE)


def minibatch_stddev(x: torch.Tensor, group: int = 4, parts: int = 1) -> torch.Tensor:
    """Append one channel: the mean feature stddev over groups of ``group`` images.

    Lets the discriminator see how varied a batch is, so a generator that makes
    one image over and over is easy to spot. Output has C + 1 channels. The batch
    may hold ``parts`` equal slices (reals and fakes scored in one pass): each forms
    its own groups, so every image gets what it would get scored with its slice alone.
    """
    n, c, h, w = x.shape
    m = n // parts
    g = min(group, m)
    while m % g:
        g -= 1
    y = x.float().reshape(parts, g, -1, c, h, w)
    y = (y - y.mean(1, keepdim=True)).pow(2).mean(1).add(1e-8).sqrt()   # (parts, m/g, c, h, w)
    y = y.mean(dim=(2, 3, 4)).to(x.dtype)                                # (parts, m/g)
    y = y.reshape(parts, 1, -1, 1, 1).repeat(1, g, 1, h, w).reshape(n, 1, h, w)
    return torch.cat([x, y], dim=1)


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def smooth_upsample(x: torch.Tensor) -> torch.Tensor:
    """x2 bilinear: the skip generator's path from one rung's output to the next, which its toRGB only adds to."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def downsample(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)
