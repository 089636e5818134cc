"""Colour-field paintings from a known, finite set of modes, and their exact classifier.

A *mode* is a layout (where the soft-edged bands sit) crossed with a palette
(canvas colour and band colours). Within a mode every painting differs: band
edges move, colours drift, brush texture and grain change, and some carry a
painted frame. Because the modes are known exactly, ``classify`` can tell any
image's mode -- or say it is no clean painting of any mode -- which is what lets
evaluation count the modes a generator covers.

Two families of 24 modes each: ``colourfield`` (the default source, on which the
training recipe was tuned) and ``blocks``, with other layouts (a 2 x 2 grid, nested
squares, a tower beside two blocks, one band) and other palettes, kept apart to
check that recipe on content it was never tuned on. ``detect`` tells which family a
set of images is from; the module-level ``MODES``, ``render`` and ``classify`` are
``colourfield``'s.

Library code: ``Family.render`` makes one painting, ``Family.classify`` labels a
batch; the ``synthetic`` scrape source (``pipeline.sources.synthetic``) feeds
``render`` into the raw store.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]
RGB = tuple[int, int, int]

EDGE_JITTER = 0.03   # band edges move by up to this much of the canvas side
COLOUR_JITTER = 14   # per-channel colour drift of each region
SOFTNESS = (0.01, 0.025)
FRAME_PROB = 0.3
FRAME_WIDTH = (0.025, 0.06)
GRAIN_CELLS = 128    # grain cells across the canvas: per pixel up to 128 px, enlarged above

# Classifier: compare with the nominal template at CLASSIFY_SIZE px, ignoring
# pixels near any edge and the frame zone; see ``classify``.
CLASSIFY_SIZE = 32
CORE_MARGIN = EDGE_JITTER + 0.03
TOLERANCE = 50.0      # RGB distance a core pixel may be from its template colour
MIN_INLIERS = 0.9     # share of core pixels that must be within TOLERANCE
CHUNK = 64            # images classified at once


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size
    return np.meshgrid(c, c, indexing="xy")  # xx, yy


def _ramp(t: np.ndarray, width: float) -> np.ndarray:
    """0 outside, 1 inside, smooth over ``width`` around t = 0."""
    s = np.clip(0.5 + t / width, 0.0, 1.0)
    return s * s * (3 - 2 * s)


@dataclass(frozen=True, eq=False)
class Family:
    """Layouts (bands as (x0, y0, x1, y1) in [0, 1] canvas coordinates, band i taking colour i; a later
    band paints over an earlier one) crossed with palettes (canvas, band colours)."""

    name: str
    layouts: dict[str, list[Box]]
    palettes: dict[str, tuple[RGB, list[RGB]]]

    @cached_property
    def modes(self) -> list[tuple[str, str]]:
        return [(lay, pal) for lay in self.layouts for pal in self.palettes]

    @cached_property
    def mode_names(self) -> list[str]:
        return [f"{lay}-{pal}" for lay, pal in self.modes]

    def render(self, mode: int, size: int, rng: np.random.Generator, grain: float = 1.0) -> np.ndarray:
        """One painting of ``mode`` as a (size, size, 3) uint8 array; ``grain`` scales its fine grain
        (0: none), drawing the same random numbers, so the painting is otherwise the same."""
        layout, palette = self.modes[mode]
        canvas, colours = self.palettes[palette]
        xx, yy = _grid(size)
        jitter = lambda c: np.clip(np.asarray(c, float) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3), 0, 255)
        img = np.broadcast_to(jitter(canvas), (size, size, 3)).copy()
        soft = rng.uniform(*SOFTNESS)
        for i, (x0, y0, x1, y1) in enumerate(self.layouts[layout]):
            x0, y0, x1, y1 = np.array([x0, y0, x1, y1]) + rng.uniform(-EDGE_JITTER, EDGE_JITTER, 4)
            mask = _ramp(xx - x0, soft) * _ramp(x1 - xx, soft) * _ramp(yy - y0, soft) * _ramp(y1 - yy, soft)
            img = img * (1 - mask[..., None]) + jitter(colours[i]) * mask[..., None]
        # Brush texture: low-frequency multiplicative patches plus fine grain. The grain has a size on the
        # canvas (1/GRAIN_CELLS of its side), so a painting reduced to a training resolution looks the same
        # whatever size it was painted at, and larger paintings are the same paintings, in more pixels.
        cells = int(rng.integers(3, 8))
        low = Image.fromarray(rng.normal(0, 1, (cells, cells)).astype(np.float32), mode="F")
        low = np.asarray(low.resize((size, size), Image.BICUBIC))
        g = min(size, GRAIN_CELLS)
        fine = grain * rng.normal(0, 3, (g, g))
        if g < size:
            fine = np.asarray(Image.fromarray(fine.astype(np.float32), mode="F").resize((size, size), Image.BICUBIC))
        img = img * (1 + 0.05 * low[..., None]) + fine[..., None]
        if rng.random() < FRAME_PROB:
            w = rng.uniform(*FRAME_WIDTH)
            frame = (np.minimum(np.minimum(xx, 1 - xx), np.minimum(yy, 1 - yy)) < w)[..., None]
            img = np.where(frame, rng.uniform(15, 60) * np.array([1.0, 0.9, 0.75]), img)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    @cached_property
    def templates(self) -> tuple[np.ndarray, np.ndarray]:
        """Nominal colour of every mode at CLASSIFY_SIZE px, and the mask of core pixels.

        A core pixel is far enough from every band edge of its layout and from the frame
        zone that jitter, soft edges and frames cannot change its colour.
        """
        xx, yy = _grid(CLASSIFY_SIZE)
        far = np.minimum(np.minimum(xx, 1 - xx), np.minimum(yy, 1 - yy)) > FRAME_WIDTH[1] + 0.01
        templates = []
        for mode_layout, mode_palette in self.modes:
            canvas, colours = self.palettes[mode_palette]
            t = np.broadcast_to(np.asarray(canvas, float), (CLASSIFY_SIZE, CLASSIFY_SIZE, 3)).copy()
            for i, (x0, y0, x1, y1) in enumerate(self.layouts[mode_layout]):
                inside = (xx > x0) & (xx < x1) & (yy > y0) & (yy < y1)
                t[inside] = colours[i]
            templates.append(t)
        core = np.ones((len(self.modes), CLASSIFY_SIZE, CLASSIFY_SIZE), bool)
        for m, (mode_layout, _) in enumerate(self.modes):
            for x0, y0, x1, y1 in self.layouts[mode_layout]:
                for edge, coord in ((x0, xx), (x1, xx), (y0, yy), (y1, yy)):
                    core[m] &= np.abs(coord - edge) > CORE_MARGIN
            core[m] &= far
        return np.stack(templates), core

    def classify(self, images: np.ndarray) -> np.ndarray:
        """Mode index of each image in an (N, H, W, 3) uint8 batch, or -1 for none.

        An image belongs to the mode whose template it matches best, provided at
        least MIN_INLIERS of that template's core pixels lie within TOLERANCE of the
        template colour; otherwise it is no clean painting of any mode.
        """
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if len(images) > CHUNK:   # the distances below hold N x modes x pixels
            return np.concatenate([self.classify(images[i:i + CHUNK]) for i in range(0, len(images), CHUNK)])
        if not len(images):
            return np.zeros(0, int)
        small = np.stack([
            np.asarray(Image.fromarray(im).resize((CLASSIFY_SIZE, CLASSIFY_SIZE), Image.BOX), float)
            if im.shape[0] != CLASSIFY_SIZE else im.astype(float)
            for im in images])
        templates, core = self.templates
        # distance of every pixel of every image to every template: (N, M, S, S)
        dist = np.linalg.norm(small[:, None] - templates[None], axis=-1)
        inliers = ((dist < TOLERANCE) & core[None]).sum((2, 3)) / core.sum((1, 2))[None]
        err = (dist * core[None]).sum((2, 3)) / core.sum((1, 2))[None]
        best = err.argmin(1)
        ok = inliers[np.arange(len(images)), best] >= MIN_INLIERS
        return np.where(ok, best, -1)


COLOURFIELD = Family("colourfield", layouts={
    "two": [(0.14, 0.12, 0.86, 0.50), (0.14, 0.62, 0.86, 0.88)],
    "three": [(0.14, 0.10, 0.86, 0.32), (0.14, 0.42, 0.86, 0.60), (0.14, 0.70, 0.86, 0.90)],
    "block": [(0.12, 0.10, 0.88, 0.66), (0.12, 0.78, 0.88, 0.90)],
    "zip": [(0.10, 0.10, 0.44, 0.90), (0.58, 0.10, 0.90, 0.90)],
}, palettes={   # every colour differs from the others in its palette
    "maroon": ((95, 22, 28), [(226, 96, 44), (244, 178, 70), (160, 40, 120)]),
    "navy": ((22, 32, 76), [(70, 120, 200), (150, 180, 230), (30, 150, 140)]),
    "ochre": ((205, 155, 55), [(245, 225, 130), (170, 70, 30), (90, 40, 25)]),
    "forest": ((28, 64, 42), [(90, 160, 95), (200, 215, 125), (40, 105, 160)]),
    "violet": ((48, 24, 60), [(140, 70, 160), (225, 150, 200), (15, 10, 20)]),
    "ash": ((205, 203, 196), [(60, 62, 70), (140, 140, 156), (250, 248, 235)]),
})
# Held out from tuning: no layout or palette of colourfield's.
BLOCKS = Family("blocks", layouts={
    "quad": [(0.12, 0.12, 0.46, 0.46), (0.54, 0.12, 0.88, 0.46), (0.12, 0.54, 0.46, 0.88), (0.54, 0.54, 0.88, 0.88)],
    "nest": [(0.20, 0.20, 0.80, 0.80), (0.36, 0.36, 0.64, 0.64)],
    "tower": [(0.10, 0.10, 0.40, 0.90), (0.52, 0.10, 0.90, 0.45), (0.52, 0.57, 0.90, 0.90)],
    "band": [(0.10, 0.36, 0.90, 0.64)],
}, palettes={
    "coral": ((238, 120, 96), [(250, 210, 160), (120, 30, 50), (60, 140, 150), (250, 245, 230)]),
    "teal": ((20, 110, 115), [(230, 200, 90), (10, 50, 60), (200, 90, 60), (150, 210, 200)]),
    "slate": ((90, 100, 115), [(220, 225, 230), (30, 35, 45), (200, 160, 60), (150, 60, 60)]),
    "mustard": ((215, 175, 40), [(60, 40, 30), (240, 235, 210), (170, 40, 40), (90, 120, 60)]),
    "plum": ((100, 40, 80), [(230, 170, 60), (240, 200, 210), (40, 20, 40), (100, 170, 190)]),
    "sand": ((230, 215, 180), [(180, 80, 40), (40, 70, 110), (120, 150, 90), (90, 60, 50)]),
})
FAMILIES = {f.name: f for f in (COLOURFIELD, BLOCKS)}

LAYOUTS, PALETTES = COLOURFIELD.layouts, COLOURFIELD.palettes
MODES, MODE_NAMES = COLOURFIELD.modes, COLOURFIELD.mode_names
render, classify = COLOURFIELD.render, COLOURFIELD.classify


def detect(images: np.ndarray) -> tuple[Family, np.ndarray]:
    """The family that labels the most of ``images`` (N, H, W, 3), with its labels (-1: none)."""
    labelled = [(f, f.classify(images)) for f in FAMILIES.values()]
    return max(labelled, key=lambda fl: int(np.sum(fl[1] >= 0)))


def family_of(names) -> Family | None:
    """The family whose mode names include every one of ``names``, or None."""
    names = set(names)
    return next((f for f in FAMILIES.values() if names <= set(f.mode_names)), None)
