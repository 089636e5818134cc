"""How much evaluation measures: ``Settings``, read from params.yaml's ``evaluate`` section.

Apart from the metrics (and from torch) so the stage checks its params before the heavy imports.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from pipeline.params import ParamError, build, expand_path, knob


@dataclass(frozen=True)
class Settings:
    n_samples: int = knob(1000, minimum=2)      # samples drawn; the mode count uses all of them
    seed: int = knob(123, minimum=0)          # latents, real halves, patches, pairs
    swd_images: int = knob(256, minimum=2)      # per set; real floor uses two disjoint halves
    msssim_pairs: int = knob(200, minimum=1)
    distinct_images: int = knob(500, minimum=2)
    memorization_samples: int = knob(500, minimum=1)
    prdc_images: int = knob(500, minimum=4)
    modes_min_count: int = knob(5, minimum=1)
    panel_pairs: int = knob(12, minimum=1)
    inception_weights: str = ""                 # local FID Inception weights; empty: no FID

    @classmethod
    def from_params(cls, evaluate: Mapping) -> "Settings":
        """From params.yaml's ``evaluate`` section; errors name the key. Nothing is downloaded."""
        s = build(cls, evaluate, "evaluate")
        if s.inception_weights:
            s = replace(s, inception_weights=expand_path(s.inception_weights))
            if not Path(s.inception_weights).is_file():
                raise ParamError("evaluate.inception_weights", f"{s.inception_weights} is not a file "
                                 "(leave it empty to skip FID; nothing is downloaded)")
        return s
