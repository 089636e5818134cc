"""Progressive generator and discriminator (ProGAN, Karras et al. 2017).

Both networks are built for one output ``resolution`` and keep the toRGB /
fromRGB layers of every resolution from ``base`` up, so a model grown from 32
to 64 px loads into ``Generator(..., resolution=64, base=32)``. ``grow()`` adds
one block for twice the resolution; ``alpha`` in ``forward`` fades it in:
alpha = 0 reproduces the lower resolution exactly (upsampled).

The generator's output has two forms (``skip``). ProGAN's (False) hands over to the
new block: at alpha = 1 only the new toRGB draws, from the new block's features alone.
StyleGAN2's skip generator (True) keeps every rung's picture: the output is the lower
rung's output, upsampled bilinearly, plus what the new toRGB adds (``alpha`` times it),
and a grown toRGB starts at zero, so growing starts from the lower rung's images instead
of from noise. The base rung is the same network either way.

Latent cells (``cells`` > 0) make the generator a discontinuous function of its latent: the
normalised latent falls in the cell of its largest projection on ``cells`` fixed random
directions, and that cell's fixed offset (``cell_scale`` times a unit-RMS random vector) is added
before the dense layer. A continuous generator on one Gaussian must draw in-between images where
its output jumps between separate kinds of picture; with cells it can jump at the cell borders.
The cell is a function of the latent, so every sampler draws plain Gaussian latents as before.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from pipeline.gan.layers import (EqualizedConv2d, EqualizedLinear, downsample, lrelu, minibatch_stddev,
                                 pixel_norm, smooth_upsample, upsample)


def _levels(lo: int, hi: int) -> list[int]:
    return [2 ** i for i in range(int(math.log2(lo)), int(math.log2(hi)) + 1)]


CELL_SEED = 0   # the cells' directions and offsets: the same in every run, so models of one setting agree


class GInput(nn.Module):
    """Latent -> 4x4 feature map; with ``cells``, the latent's cell offset is added first."""

    def __init__(self, z_dim: int, ch: int, cells: int = 0, cell_scale: float = 0.0):
        super().__init__()
        self.dense = EqualizedLinear(z_dim, ch * 16, gain=math.sqrt(2) / 4)
        self.conv = EqualizedConv2d(ch, ch, 3)
        self.ch, self.cells = ch, cells
        if cells:
            # Fixed, not learned: learned offsets grew until each cell drew one picture (README).
            g = torch.Generator().manual_seed(CELL_SEED)
            self.register_buffer("cell_dirs", torch.randn(cells, z_dim, generator=g))
            self.register_buffer("cell_offset", cell_scale * torch.randn(cells, z_dim, generator=g))

    def cell(self, z: torch.Tensor) -> torch.Tensor:
        """The cell of each latent (N,), from its largest projection on the cells' directions."""
        return (z @ self.cell_dirs.T).argmax(dim=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = pixel_norm(z)
        if self.cells:
            z = pixel_norm(z + self.cell_offset[self.cell(z)])
        x = self.dense(z).reshape(-1, self.ch, 4, 4)
        x = pixel_norm(lrelu(x))
        return pixel_norm(lrelu(self.conv(x)))


class GBlock(nn.Module):
    """Upsample x2, then two 3x3 convs, each followed by LReLU and pixel norm."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(cin, cout, 3)
        self.conv2 = EqualizedConv2d(cout, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(lrelu(self.conv1(upsample(x))))
        return pixel_norm(lrelu(self.conv2(x)))


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: dict[int, int], resolution: int, base: int, skip: bool = False,
                 cells: int = 0, cell_scale: float = 0.0):
        super().__init__()
        self.z_dim, self.channels, self.base, self.skip = z_dim, dict(channels), base, skip
        self.input = GInput(z_dim, channels[4], cells, cell_scale)
        self.blocks = nn.ModuleDict()
        self.to_rgb = nn.ModuleDict()
        self.resolution = 4
        for res in _levels(8, resolution):
            self._add(res)
        for res in _levels(base, resolution):
            self.to_rgb[str(res)] = EqualizedConv2d(self.channels[res], 3, 1, gain=1.0)

    def _add(self, res: int) -> None:
        self.blocks[str(res)] = GBlock(self.channels[res // 2], self.channels[res])
        self.resolution = res

    def grow(self) -> None:
        """Add the block and toRGB for twice the current resolution; a skip generator's new toRGB adds nothing yet."""
        res = self.resolution * 2
        self._add(res)
        self.to_rgb[str(res)] = EqualizedConv2d(self.channels[res], 3, 1, gain=1.0)
        if self.skip:
            with torch.no_grad():
                self.to_rgb[str(res)].weight.zero_()

    def trunk(self, h: torch.Tensor, upto: int) -> torch.Tensor:
        for res in _levels(8, upto):
            h = self.blocks[str(res)](h)
        return h

    def forward(self, z: torch.Tensor, alpha: float = 1.0, mix: tuple[torch.Tensor, float] | None = None) -> torch.Tensor:
        """Images in [-1, 1]-ish, NCHW at ``self.resolution``.

        ``mix=(w_mean, psi)`` pulls the 4x4 features towards their mean (truncation).
        """
        h = self.input(z)
        if mix is not None:
            mean, psi = mix
            h = mean + psi * (h - mean)
        res = self.resolution
        if self.skip:
            return self._skip_output(h, alpha)
        if alpha >= 1.0 or res <= self.base:
            return self.to_rgb[str(res)](self.trunk(h, res))
        h = self.trunk(h, res // 2)
        low = upsample(self.to_rgb[str(res // 2)](h))
        high = self.to_rgb[str(res)](self.blocks[str(res)](h))
        return torch.lerp(low, high, alpha)

    def _skip_output(self, h: torch.Tensor, alpha: float) -> torch.Tensor:
        """Sum of every rung's toRGB from the base up, each upsampled to the next; the top one times alpha."""
        h = self.trunk(h, self.base)
        rgb = self.to_rgb[str(self.base)](h)
        for res in _levels(2 * self.base, self.resolution):
            h = self.blocks[str(res)](h)
            rgb = smooth_upsample(rgb) + (alpha if res == self.resolution else 1.0) * self.to_rgb[str(res)](h)
        return rgb


class DBlock(nn.Module):
    """Two 3x3 convs with LReLU, then 2x average pooling."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(cin, cin, 3)
        self.conv2 = EqualizedConv2d(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return downsample(lrelu(self.conv2(lrelu(self.conv1(x)))))


class DOutput(nn.Module):
    """Minibatch stddev, a 3x3 conv, and two dense layers to one score."""

    def __init__(self, ch: int, mbstd_group: int):
        super().__init__()
        self.group = mbstd_group
        self.conv = EqualizedConv2d(ch + 1, ch, 3)
        self.dense = EqualizedLinear(ch * 16, ch)
        self.out = EqualizedLinear(ch, 1, gain=1.0)

    def forward(self, x: torch.Tensor, parts: int = 1) -> torch.Tensor:
        x = lrelu(self.conv(minibatch_stddev(x, self.group, parts)))
        return self.out(lrelu(self.dense(x.flatten(1)))).squeeze(1)


class Discriminator(nn.Module):
    """Scores images, or with ``pack`` > 1 (PacGAN, Lin et al. 2018) packs of ``pack`` consecutive images
    stacked along channels: one score per pack, so a generator that repeats itself gives packs of
    look-alikes, which D can tell from packs of different reals even where each image passes alone."""

    def __init__(self, channels: dict[int, int], resolution: int, base: int, mbstd_group: int = 4, pack: int = 1):
        super().__init__()
        self.channels, self.base, self.pack = dict(channels), base, pack
        self.from_rgb = nn.ModuleDict()
        self.blocks = nn.ModuleDict()
        self.output = DOutput(channels[4], mbstd_group)
        self.resolution = 4
        for res in _levels(8, resolution):
            self.blocks[str(res)] = DBlock(self.channels[res], self.channels[res // 2])
            self.resolution = res
        for res in _levels(base, resolution):
            self.from_rgb[str(res)] = EqualizedConv2d(3 * pack, self.channels[res], 1)

    def grow(self) -> None:
        res = self.resolution * 2
        self.blocks[str(res)] = DBlock(self.channels[res], self.channels[res // 2])
        self.from_rgb[str(res)] = EqualizedConv2d(3 * self.pack, self.channels[res], 1)
        self.resolution = res

    def forward(self, x: torch.Tensor, alpha: float = 1.0, parts: int = 1) -> torch.Tensor:
        """Scores shaped (N / pack,) for images x (NCHW, [-1, 1]) at ``self.resolution``; with ``parts``
        > 1, x is that many equal batches scored in one pass, each as if alone (minibatch stddev)."""
        n, c, h, w = x.shape
        if n % (self.pack * parts):
            into = f"{parts} equal parts, each of packs of" if parts > 1 else "packs of"
            raise ValueError(f"a batch of {n} images does not split into {into} {self.pack}")
        x = x.reshape(n // self.pack, c * self.pack, h, w)
        res = self.resolution
        h = lrelu(self.from_rgb[str(res)](x))
        if res > 4:
            h = self.blocks[str(res)](h)
        if alpha < 1.0 and res > self.base:
            low = lrelu(self.from_rgb[str(res // 2)](downsample(x)))
            h = torch.lerp(low, h, alpha)
        for r in reversed(_levels(8, res // 2)):
            h = self.blocks[str(r)](h)
        return self.output(h, parts)


def fade_reals(x: torch.Tensor, alpha: float, skip: bool = False) -> torch.Tensor:
    """Blend real images the way the generator's output is blended during fade-in (``skip``: as a
    skip generator upsamples)."""
    if alpha >= 1.0:
        return x
    return torch.lerp((smooth_upsample if skip else upsample)(downsample(x)), x, alpha)
