"""Images that must not become training data by accident: mostly transparent, or blank.

``Screen.check(image, transparent)`` returns ``(reason, detail)`` for an image to
refuse (``image`` as ``open_rgb`` gives it, ``transparent`` its ``transparent_share``),
or None. Its two thresholds are keys of params.yaml's ``dedup`` section:

- ``transparent``: refuse when more than this share of the pixels is more than half
  transparent. Why refuse rather than composite: where the design lives in the alpha
  channel (white shapes over transparency), any background chosen for it is invented,
  and white -- what a viewer shows -- erases it. Rounded corners or an anti-aliased
  cut-out edge stay far below the default (corners of radius 10 % of the side: 0.9 %).
- ``blank``: refuse when the colour spread is below this: the RMS distance (0-255 RGB
  units) of the pixels from the image's mean colour, at 64 px. Measured
  (benchmarks/blank_threshold.py): 216 uniform canvases with JPEG artefacts (quality
  50-95) and sensor noise (sigma up to 4) spread at most 2.9; the least varied of 480
  synthetic paintings 38.3, of 300 photograph tiles 4.6 (a patch of night sky with a few
  stars). A monochrome painting whose scan shows no texture may spread less; set
  ``dedup.blank: 0`` to keep it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

import numpy as np
from PIL import Image

from pipeline.params import build, knob

SIDE = 64


def colour_spread(image: Image.Image) -> float:
    """RMS RGB distance of the pixels from the mean colour, after a box downscale to at most SIDE px."""
    small = image.copy()
    small.thumbnail((SIDE, SIDE), Image.BOX)
    x = np.asarray(small, np.float64).reshape(-1, 3)
    return float(np.sqrt(np.mean(np.sum((x - x.mean(0)) ** 2, axis=1))))


@dataclass(frozen=True)
class Screen:
    blank: float = knob(3.5, minimum=0)          # refuse a colour spread below this (0: keep every image)
    transparent: float = knob(0.1, minimum=0, maximum=1)   # refuse a larger share of transparent pixels

    @classmethod
    def from_params(cls, dedup: Mapping) -> "Screen":
        """From params.yaml's ``dedup`` section (its near-duplicate keys are the Rule's)."""
        return build(cls, {k: v for k, v in dedup.items() if k in KEYS}, "dedup")

    def check(self, image: Image.Image, transparent: float) -> tuple[str, str] | None:
        """``("transparent" | "blank", detail)`` for an image to refuse, else None."""
        if transparent > self.transparent:
            return "transparent", (f"{transparent:.0%} of the pixels are transparent "
                                   f"(dedup.transparent: {self.transparent})")
        spread = colour_spread(image)
        if spread < self.blank:
            return "blank", f"colour spread {spread:.1f} < dedup.blank {self.blank}"
        return None


KEYS = tuple(f.name for f in fields(Screen))   # the dedup keys that are the screen's, not the Rule's
