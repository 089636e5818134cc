"""The "same artwork" decision's thresholds: ``Rule``, read from params.yaml's ``dedup`` section.

Apart from the hashing code (imagehash, scipy) so stages check their params before the heavy imports;
``pipeline.neardup.detect`` applies it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from pipeline.params import build, knob


@dataclass(frozen=True)
class Rule:
    """Thresholds of the "same artwork" decision (defaults measured by benchmarks/dedup_quality.py)."""

    hash_bits: int = knob(8, minimum=0, maximum=63)  # max pHash Hamming distance (of 64 bits) for a candidate pair
    colour_bits: int = knob(5, minimum=0, maximum=63)  # max colour-code Hamming distance for a candidate pair
    colour: float = knob(0.11, minimum=0)   # max RMS distance of compared colour thumbnails, best crop box
    crop: float = knob(0.2, minimum=0, below=0.5)       # crop boxes cut up to this share of each axis in the colour test
    trim_tol: float = knob(6.0, minimum=0)  # a border line's pixels lie within this RGB distance of the border colour
    trim_max: float = knob(0.08, minimum=0, below=0.5)  # borders wider than this share of a side are content, not trimmed

    @classmethod
    def from_params(cls, dedup: Mapping) -> "Rule":
        """From params.yaml's ``dedup`` section; errors name the key."""
        from pipeline.images import screen   # its keys share the section: refusing blank and transparent images
        return build(cls, {k: v for k, v in dedup.items() if k not in screen.KEYS}, "dedup")
