"""What a training run writes besides its outputs' contents: torch files and dvclive rows.

Shared by the GAN stages and the upscaler, so both save checkpoints and log curves the same way.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from pipeline.fsutil import atomic_path


def save(obj: Any, path: Path | str) -> None:
    """``torch.save`` atomically. Through a file object: given a path, torch.save names the zip's
    records after the (random) temporary file, so equal weights would give different bytes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def log_row(live, row: dict, samples: Image.Image | None = None) -> None:
    """One dvclive step of ``row``'s finite figures at ``row["step"]`` (images shown, so curves of runs
    align), with ``samples`` as samples.png when given."""
    live.step = row["step"]
    for k, v in row.items():
        if k != "step" and math.isfinite(v):
            live.log_metric(k, v)
    if samples is not None:
        live.log_image("samples.png", samples)
    live.next_step()
