"""A small untrained model directory, written through the real checkpoint API (no training needed)."""
from __future__ import annotations

from pathlib import Path

import torch

from pipeline.gan.checkpoint import build_discriminator, build_generator, write_model_dir

CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8, 64: 8, 128: 8}


def write_untrained_model(model_dir: Path, resolution: int = 32, base: int = 16, z_dim: int = 8,
                          seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = {"z_dim": z_dim, "channels": CHANNELS, "resolution": resolution, "base": base, "mbstd_group": 4}
    G, D = build_generator(config), build_discriminator(config)
    write_model_dir(model_dir, config, {"g_ema": G.state_dict(), "G": G.state_dict(), "D": D.state_dict()},
                    {"resolution": resolution, "z_dim": z_dim})
    return model_dir


def random_upscaler(width: int = 8, depth: int = 2, scale: int = 4, seed: int = 0):
    """An Upscaler whose every weight is random (a fresh one starts as plain bicubic, which hides tiling bugs)."""
    from pipeline.sr.net import Upscaler

    torch.manual_seed(seed)
    net = Upscaler(width, depth, scale)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.2)
    return net.eval().requires_grad_(False)


def write_upscaler(model_dir: Path, **kw) -> Path:
    """``model_dir/upscaler.pt`` as the upscale stage saves it, from ``random_upscaler(**kw)``."""
    from pipeline.sr.train import save

    net = random_upscaler(**kw)
    save({"config": net.config(), "weights": net.state_dict()}, model_dir / "upscaler.pt")
    return model_dir
