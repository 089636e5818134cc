"""``{kind: synthetic, n: 1200, size: 256, seed: 0, family: colourfield}``: offline colour-field paintings.

The paintings and their modes come from ``pipeline.synthetic`` (``family``: colourfield, the default,
or blocks, held out from tuning); each
stored row records its mode, so evaluation can compare generated modes with
the training mix.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from PIL import Image

from pipeline.images.parallel import imap
from pipeline.synthetic import FAMILIES
from pipeline.sources.store import RawStore
from pipeline.params import build, knob
from pipeline.sources.http import HttpSettings


@dataclass(frozen=True, kw_only=True)
class Source:
    """``n`` paintings of ``size`` px from ``family``, as many of each mode as ``n`` allows; ``seed`` fixes them all."""

    kind: str = knob("synthetic", choices=("synthetic",))
    n: int = knob(1200, minimum=1)
    size: int = knob(256, minimum=16)   # 4x the default train.size, so the upscaler has detail to learn
    seed: int = knob(0, minimum=0)
    family: str = knob("colourfield", choices=tuple(FAMILIES))

    @classmethod
    def from_params(cls, spec: Mapping, name: str) -> "Source":
        """From one entry of ``scrape.sources``; ``name`` (``scrape.sources[i]``) prefixes error keys."""
        return build(cls, spec, name)


def paint(job: tuple[str, int, int, int, int]) -> bytes:
    """The PNG of painting ``i`` (mode ``mode``) of ``family`` at ``size`` px: ``(family, mode, size, seed, i)``."""
    family, mode, size, seed, i = job
    pixels = FAMILIES[family].render(mode, size, np.random.default_rng([seed, i]))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def jobs(source: Source) -> list[tuple[str, int, int, int, int]]:
    """``paint``'s job for each of ``source``'s paintings, in order: as many of each mode as ``n`` allows."""
    n_modes = len(FAMILIES[source.family].modes)
    modes = np.random.default_rng(source.seed).permutation(np.arange(source.n) % n_modes).tolist()
    return [(source.family, mode, source.size, source.seed, i) for i, mode in enumerate(modes)]


def collect(source: Source, store: RawStore, http: HttpSettings) -> None:
    """Render the paintings into ``store`` on every core (``http`` is unused: nothing is fetched).

    Each painting has its own seed, so the bytes are the same on any number of cores.
    """
    work, names = jobs(source), FAMILIES[source.family].mode_names
    for (_, mode, _, seed, i), png in zip(work, imap(paint, work, desc="synthetic paintings")):
        store.add(png, source="synthetic", origin=f"synthetic:{seed}:{i}", mode=names[mode])
