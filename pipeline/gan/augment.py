"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) with an ADA-style strength.

The same random transforms are applied to real and generated images, in both
the discriminator and the generator passes, so the discriminator cannot
memorise a thousand training images and the generator is not taught the
augmentations. Each transform fires per image with probability ``p``; ``AdaptiveP``
tunes ``p`` from how sure the discriminator is about reals (Karras et al. 2020).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.gan.config import POLICIES


def _chosen(x: torch.Tensor, p: float, g: torch.Generator | None) -> torch.Tensor:
    """(N, 1, 1, 1) mask: which images get this transform."""
    return (torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device) < p).to(x.dtype)


def color(x: torch.Tensor, p: float, g: torch.Generator | None = None) -> torch.Tensor:
    n = x.shape[0]
    rnd = lambda: torch.rand(n, 1, 1, 1, generator=g, device=x.device, dtype=x.dtype)
    keep = _chosen(x, p, g)
    y = x + (rnd() - 0.5) * keep                                   # brightness
    mean = y.mean(dim=1, keepdim=True)
    y = (y - mean) * (1 + (rnd() * 2 - 1) * keep) + mean           # saturation
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    return (y - mean) * (1 + (rnd() - 0.5) * keep) + mean          # contrast


def translation(x: torch.Tensor, p: float, g: torch.Generator | None = None, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    keep = _chosen(x, p, g).view(n, 1)
    shift = (torch.rand(n, 2, generator=g, device=x.device) * 2 - 1) * ratio * 2 * keep  # in [-1, 1] coords
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shift.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def cutout(x: torch.Tensor, p: float, g: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    keep = _chosen(x, p, g).view(n, 1, 1)
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=g, device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=g, device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = ((ys - cy).abs() < ch / 2) & ((xs - cx).abs() < cw / 2)
    mask = 1 - hole.to(x.dtype) * keep
    return x * mask.unsqueeze(1)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def augment(x: torch.Tensor, p: float, policy: tuple[str, ...] = POLICIES,
            g: torch.Generator | None = None) -> torch.Tensor:
    """Apply each transform of ``policy`` per image with probability ``p``; p = 0 is identity."""
    if p <= 0:
        return x
    for name in policy:
        x = TRANSFORMS[name](x, p, g)
    return x


class AdaptiveP:
    """ADA's controller: raise p while E[sign(D(real))] exceeds ``target``, lower it otherwise.

    Under RpGAN it is fed each real's margin over its paired fake instead (see ``losses``):
    the raw real scores carry an offset the loss never fixes, and their sign drifts with it.

    ``speed_kimg`` is how many thousand images it takes p to move from 0 to 1.
    """

    def __init__(self, p: float, target: float, speed_kimg: float, max_p: float = 1.0):
        self.p, self.target, self.speed_kimg, self.max_p = p, target, speed_kimg, max_p
        self.signs: list[float] = []
        self.last_rt = float("nan")

    def observe(self, sureness: torch.Tensor) -> None:
        self.signs.append(sureness.detach().sign().mean().item())

    def update(self, nimg: int) -> None:
        """Adjust p after ``nimg`` images since the last update."""
        if not self.signs or self.speed_kimg <= 0:
            return
        self.last_rt = sum(self.signs) / len(self.signs)
        self.signs.clear()
        step = (1 if self.last_rt > self.target else -1) * nimg / (self.speed_kimg * 1000)
        self.p = float(min(max(self.p + step, 0.0), self.max_p))

    def state_dict(self) -> dict:
        return {"p": self.p, "last_rt": self.last_rt, "signs": list(self.signs)}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.last_rt = state["p"], state["last_rt"]
        self.signs = list(state.get("signs", []))
