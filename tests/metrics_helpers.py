"""Small synthetic image sets for the metric tests (no trained model needed)."""
from __future__ import annotations

import numpy as np

from pipeline.synthetic import MODE_NAMES, render


def paintings(n: int, size: int = 32, seed: int = 0, modes=None) -> np.ndarray:
    """``n`` synthetic paintings cycling through ``modes`` (default: all 24), as (n, size, size, 3) uint8."""
    modes = list(range(len(MODE_NAMES))) if modes is None else list(modes)
    return np.stack([render(modes[i % len(modes)], size, np.random.default_rng([seed, i])) for i in range(n)])
