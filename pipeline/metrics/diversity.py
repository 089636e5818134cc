"""Distinct share: how many images of a set are not near-duplicates of another.

Uses the project's own near-duplicate rule (``pipeline.neardup.detect``), the one
that deduplicates the training data, so "distinct" means the same thing for
samples and for the real images. A generator reduced to "3 or 4 kinds of
images" scores near 0; a healthy one scores about what the real images score.
"""
from __future__ import annotations

import numpy as np

from pipeline.neardup import detect as dedup


def distinct_share(images: np.ndarray, rule: dedup.Rule = dedup.Rule()) -> float:
    """Share of ``images`` ((N, H, W, 3) uint8) that match no other image of the set under ``rule``."""
    if len(images) == 0:
        raise ValueError("distinct share of an empty set")
    groups = dedup.group(dedup.fingerprints(images, rule), rule)
    sizes = np.bincount(groups)
    return float(np.mean(sizes[groups] == 1))
