"""Colour-field paintings from a known, finite set of modes, and their exact classifier.

A *mode* is a layout (where the soft-edged bands sit) crossed with a palette
(canvas colour and band colours). Within a mode every painting differs: band
edges move, colours drift, brush texture and grain change, and some carry a
painted frame. Because the modes are known exactly, ``classify`` can tell any
image's mode -- or say it is no clean painting of any mode -- which is what lets
evaluation count the modes a generator covers.

Library code: ``render`` makes one painting, ``classify`` labels a batch; the
``synthetic`` scrape source (``pipeline.sources.synthetic``) feeds ``render``
into the raw store.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

# Bands as (x0, y0, x1, y1) in [0, 1] canvas coordinates; band i takes colour i.
LAYOUTS: dict[str, list[tuple[float, float, float, float]]] = {
    "two": [(0.14, 0.12, 0.86, 0.50), (0.14, 0.62, 0.86, 0.88)],
    "three": [(0.14, 0.10, 0.86, 0.32), (0.14, 0.42, 0.86, 0.60), (0.14, 0.70, 0.86, 0.90)],
    "block": [(0.12, 0.10, 0.88, 0.66), (0.12, 0.78, 0.88, 0.90)],
    "zip": [(0.10, 0.10, 0.44, 0.90), (0.58, 0.10, 0.90, 0.90)],
}
# (canvas, band colours); every colour differs from the others in its palette.
PALETTES: dict[str, tuple[tuple[int, int, int], list[tuple[int, int, int]]]] = {
    "maroon": ((95, 22, 28), [(226, 96, 44), (244, 178, 70), (160, 40, 120)]),
    "navy": ((22, 32, 76), [(70, 120, 200), (150, 180, 230), (30, 150, 140)]),
    "ochre": ((205, 155, 55), [(245, 225, 130), (170, 70, 30), (90, 40, 25)]),
    "forest": ((28, 64, 42), [(90, 160, 95), (200, 215, 125), (40, 105, 160)]),
    "violet": ((48, 24, 60), [(140, 70, 160), (225, 150, 200), (15, 10, 20)]),
    "ash": ((205, 203, 196), [(60, 62, 70), (140, 140, 156), (250, 248, 235)]),
}
MODES: list[tuple[str, str]] = [(lay, pal) for lay in LAYOUTS for pal in PALETTES]
MODE_NAMES = [f"{lay}-{pal}" for lay, pal in MODES]

EDGE_JITTER = 0.03   # band edges move by up to this much of the canvas side
COLOUR_JITTER = 14   # per-channel colour drift of each region
SOFTNESS = (0.01, 0.025)
FRAME_PROB = 0.3
FRAME_WIDTH = (0.025, 0.06)

# Classifier: compare with the nominal template at CLASSIFY_SIZE px, ignoring
# pixels near any edge and the frame zone; see ``classify``.
CLASSIFY_SIZE = 32
CORE_MARGIN = EDGE_JITTER + 0.03
TOLERANCE = 50.0      # RGB distance a core pixel may be from its template colour
MIN_INLIERS = 0.9     # share of core pixels that must be within TOLERANCE


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size
    return np.meshgrid(c, c, indexing="xy")  # xx, yy


def _ramp(t: np.ndarray, width: float) -> np.ndarray:
    """0 outside, 1 inside, smooth over ``width`` around t = 0."""
    s = np.clip(0.5 + t / width, 0.0, 1.0)
    return s * s * (3 - 2 * s)


def render(mode: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One painting of ``mode`` as a (size, size, 3) uint8 array."""
    layout, palette = MODES[mode]
    canvas, colours = PALETTES[palette]
    xx, yy = _grid(size)
    jitter = lambda c: np.clip(np.asarray(c, float) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3), 0, 255)
    img = np.broadcast_to(jitter(canvas), (size, size, 3)).copy()
    soft = rng.uniform(*SOFTNESS)
    for i, (x0, y0, x1, y1) in enumerate(LAYOUTS[layout]):
        x0, y0, x1, y1 = np.array([x0, y0, x1, y1]) + rng.uniform(-EDGE_JITTER, EDGE_JITTER, 4)
        mask = _ramp(xx - x0, soft) * _ramp(x1 - xx, soft) * _ramp(yy - y0, soft) * _ramp(y1 - yy, soft)
        img = img * (1 - mask[..., None]) + jitter(colours[i]) * mask[..., None]
    # Brush texture: low-frequency multiplicative patches plus fine grain.
    cells = int(rng.integers(3, 8))
    low = Image.fromarray(rng.normal(0, 1, (cells, cells)).astype(np.float32), mode="F")
    low = np.asarray(low.resize((size, size), Image.BICUBIC))
    img = img * (1 + 0.05 * low[..., None]) + rng.normal(0, 3, (size, size, 1))
    if rng.random() < FRAME_PROB:
        w = rng.uniform(*FRAME_WIDTH)
        frame = (np.minimum(np.minimum(xx, 1 - xx), np.minimum(yy, 1 - yy)) < w)[..., None]
        img = np.where(frame, rng.uniform(15, 60) * np.array([1.0, 0.9, 0.75]), img)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@lru_cache(maxsize=None)
def _templates() -> tuple[np.ndarray, np.ndarray]:
    """Nominal colour of every mode at CLASSIFY_SIZE px, and the mask of core pixels.

    A core pixel is far enough from every band edge (of every layout) and from
    the frame zone that jitter, soft edges and frames cannot change its colour.
    """
    xx, yy = _grid(CLASSIFY_SIZE)
    far = np.minimum(np.minimum(xx, 1 - xx), np.minimum(yy, 1 - yy)) > FRAME_WIDTH[1] + 0.01
    templates = []
    for mode_layout, mode_palette in MODES:
        canvas, colours = PALETTES[mode_palette]
        t = np.broadcast_to(np.asarray(canvas, float), (CLASSIFY_SIZE, CLASSIFY_SIZE, 3)).copy()
        for i, (x0, y0, x1, y1) in enumerate(LAYOUTS[mode_layout]):
            inside = (xx > x0) & (xx < x1) & (yy > y0) & (yy < y1)
            t[inside] = colours[i]
        templates.append(t)
    core = np.ones((len(MODES), CLASSIFY_SIZE, CLASSIFY_SIZE), bool)
    for m, (mode_layout, _) in enumerate(MODES):
        for x0, y0, x1, y1 in LAYOUTS[mode_layout]:
            for edge, coord in ((x0, xx), (x1, xx), (y0, yy), (y1, yy)):
                core[m] &= np.abs(coord - edge) > CORE_MARGIN
        core[m] &= far
    return np.stack(templates), core


def classify(images: np.ndarray) -> np.ndarray:
    """Mode index of each image in an (N, H, W, 3) uint8 batch, or -1 for none.

    An image belongs to the mode whose template it matches best, provided at
    least MIN_INLIERS of that template's core pixels lie within TOLERANCE of the
    template colour; otherwise it is no clean painting of any mode.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    small = np.stack([
        np.asarray(Image.fromarray(im).resize((CLASSIFY_SIZE, CLASSIFY_SIZE), Image.BOX), float)
        if im.shape[0] != CLASSIFY_SIZE else im.astype(float)
        for im in images])
    templates, core = _templates()
    # distance of every pixel of every image to every template: (N, M, S, S)
    dist = np.linalg.norm(small[:, None] - templates[None], axis=-1)
    inliers = ((dist < TOLERANCE) & core[None]).sum((2, 3)) / core.sum((1, 2))[None]
    err = (dist * core[None]).sum((2, 3)) / core.sum((1, 2))[None]
    best = err.argmin(1)
    ok = inliers[np.arange(len(images)), best] >= MIN_INLIERS
    return np.where(ok, best, -1)
