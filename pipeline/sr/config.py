"""What the upscaler trains with: ``UpscaleConfig``, read from params.yaml's ``upscale`` section.

Kept apart from torch so the stage checks its params before the heavy imports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from pipeline.params import ParamError, build, knob


@dataclass(frozen=True)
class UpscaleConfig:
    scale: int = knob(4, choices=(2, 3, 4))        # per pass; a print chains passes, then Lanczos for the rest
    width: int = knob(32, minimum=4)               # channels of every conv
    depth: int = knob(8, minimum=1)                # convs between the first and the last
    patch: int = knob(96, minimum=16)              # high-resolution training patch side, px (a multiple of scale)
    batch: int = knob(16, minimum=1)
    steps: int = knob(2000, minimum=1)
    lr: float = knob(0.002, minimum=0)             # Adam, cosine decay to 0 over `steps` (0.002 over 0.001: benchmarks/upscale_quality.py)
    seed: int = knob(0, minimum=0)
    device: str = knob("auto", choices=("auto", "cpu", "cuda"))
    holdout: float = knob(0.1, minimum=0, below=1)   # share of the collection never trained on: the stage's figures
    eval_images: int = knob(32, minimum=1)         # held-out images measured (the first by sha256)
    max_side: int = knob(1024, minimum=16)         # larger images are reduced to this longer side first (memory)
    checkpoint_steps: int = knob(100, minimum=1)   # resume checkpoint interval (.resume/)
    log_steps: int = knob(50, minimum=1)           # loss and held-out PSNR logged to dvclive this often
    # Degradations of the high-resolution patch before the reduction, drawn per patch (pipeline.sr.degrade)
    blur: float = knob(1.2, minimum=0)             # Gaussian blur sigma up to this (high-resolution px): generator softness
    noise: float = knob(2.0, minimum=0)            # Gaussian noise sigma up to this, in levels of 255, on the small image
    jpeg: float = knob(0.2, minimum=0, maximum=1)  # share of small patches JPEG-compressed
    jpeg_quality: int = knob(75, minimum=1, maximum=100)   # lowest JPEG quality drawn (up to 95)

    @classmethod
    def from_params(cls, section: Mapping) -> "UpscaleConfig":
        cfg = build(cls, section, "upscale")
        if cfg.patch % cfg.scale:
            raise ParamError("upscale.patch", f"must be a multiple of upscale.scale ({cfg.scale}), got {cfg.patch}")
        if cfg.patch // cfg.scale < 2 * cfg.depth // 4 + 4:
            raise ParamError("upscale.patch", f"{cfg.patch} px leaves {cfg.patch // cfg.scale} px patches at the "
                             "small side, too few for the net's reach; raise it")
        return cfg
