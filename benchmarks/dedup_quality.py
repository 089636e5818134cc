"""Pairwise precision and recall of near-duplicate grouping, on tuning parts and a held-out test part.

Originals are made here, independently of the synthetic scrape source
(``pipeline.synthetic``), in four families:

- ``flat``: colour fields of 2-3 soft horizontal bands, no brush texture or grain;
- ``geometric``: hard-edged rectangles, discs and bars on a plain ground;
- ``mono``: near-monochrome canvases, a faint gradient and one or two faint shapes;
- ``photo``: scikit-image photographs, plus adjacent tiles of large ones.

Every painting layout is drawn in two palettes, and tiles of one photograph sit
side by side: these are the hard negatives (same layout other colours, similar
photographs) that must stay apart. The parts share no base image: other
photographs, other random layouts and palettes (other seeds). Thresholds and
gates are chosen on ``tune`` and ``seen`` (a former test part whose failures
were studied) and measured on ``test``, which tuning never looked at. Every original gets one planted
copy of each kind in ``benchmarks.nearcopy.KINDS``.

    PYTHONPATH=. python benchmarks/dedup_quality.py [--part tune|seen|test|all] [--hash-bits N] [--colour X] ...

Prints pairwise precision/recall of ``group`` at the given (default) rule, the
recall per kind of copy and family, and the false merges by family.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one core; BLAS threads on small products are slower

import argparse
import time
from dataclasses import dataclass, fields, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipeline.neardup import detect as D
from benchmarks.nearcopy import KINDS


@dataclass(frozen=True)
class Part:
    seed: int
    photos: tuple[str, ...]   # scikit-image sample names
    tiled: tuple[str, ...]    # large photos cut into 2 x 2 adjacent tiles (similar photographs)


PARTS = {
    "tune": Part(0, ("astronaut", "camera", "coffee", "coins", "grass", "page", "rocket", "colorwheel",
                     "checkerboard", "horse"), ("hubble_deep_field", "astronaut", "coffee")),
    # the first test part: its false merges (two palettes of one near-monochrome layout, matted
    # tiles of one micrograph) were studied to design the mean-colour and layout gates, so it is
    # tuning data now
    "seen": Part(1, ("chelsea", "brick", "cell", "clock", "gravel", "immunohistochemistry", "moon", "text",
                     "logo", "stereo_motorcycle"), ("retina", "immunohistochemistry", "cell")),
    # never looked at while tuning: the last of scikit-image's offline pictures, and random blobs
    "test": Part(2, ("shepp_logan_phantom", "microaneurysms", "binary_blobs:2"), ("binary_blobs:3",)),
}
LAYOUTS_PER_FAMILY = 10   # each drawn in two palettes
MIN_COLOUR_STEP = 40      # the two palettes' mean colours differ by this much in some channel


def _photo(name: str) -> Image.Image:
    import skimage.data

    from pipeline.images.load import to_rgb

    name, _, seed = name.partition(":")           # "binary_blobs:<seed>": random blobs drawn with that seed
    a = getattr(skimage.data, name)(**({"rng": int(seed)} if seed else {}))
    a = a[0] if isinstance(a, tuple) else a        # stereo pair: the left view
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":                      # the phantom: floats in [0, 1]
        a = np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8)
    return to_rgb(Image.fromarray(a) if a.ndim == 3 else Image.fromarray(a, "L"))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _size(rng: np.random.Generator) -> tuple[int, int]:
    w = int(rng.integers(240, 480))
    return w, int(w * rng.uniform(0.7, 1.4))


def flat(layout: np.random.Generator, palette: np.random.Generator) -> Image.Image:
    """2-3 soft horizontal bands on a canvas; no texture."""
    w, h = _size(layout)
    n = int(layout.integers(2, 4))
    edges = np.sort(layout.uniform(0.08, 0.92, 2 * n))
    x0, x1 = layout.uniform(0.06, 0.16), layout.uniform(0.84, 0.94)
    soft = layout.uniform(0.005, 0.03)
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = (yy + 0.5) / h, (xx + 0.5) / w
    ramp = lambda t: np.clip(0.5 + t / soft, 0, 1)
    img = np.broadcast_to(np.array(_colour(palette), float), (h, w, 3)).copy()
    for k in range(n):
        mask = (ramp(yy - edges[2 * k]) * ramp(edges[2 * k + 1] - yy) * ramp(xx - x0) * ramp(x1 - xx))[..., None]
        img = img * (1 - mask) + np.array(_colour(palette), float) * mask
    return Image.fromarray(np.rint(img).astype(np.uint8))


def geometric(layout: np.random.Generator, palette: np.random.Generator) -> Image.Image:
    """Hard-edged rectangles, discs and bars on a plain ground."""
    size = _size(layout)
    im = Image.new("RGB", size, _colour(palette))
    draw = ImageDraw.Draw(im)
    w, h = size
    for _ in range(int(layout.integers(3, 8))):
        x0, x1 = np.sort(layout.uniform(0, w, 2))
        y0, y1 = np.sort(layout.uniform(0, h, 2))
        shape = int(layout.integers(3))
        if shape == 0:
            draw.rectangle((x0, y0, x1, y1), fill=_colour(palette))
        elif shape == 1:
            draw.ellipse((x0, y0, x0 + (x1 - x0 + y1 - y0) / 2, y0 + (x1 - x0 + y1 - y0) / 2), fill=_colour(palette))
        else:
            draw.rectangle((x0, 0, x0 + w * layout.uniform(0.01, 0.04), h), fill=_colour(palette))
    return im


def mono(layout: np.random.Generator, palette: np.random.Generator) -> Image.Image:
    """One colour with a faint gradient and one or two faint shapes (6-20 levels)."""
    w, h = _size(layout)
    base = np.array(_colour(palette), float)
    yy, xx = np.mgrid[0:h, 0:w]
    angle = layout.uniform(0, 2 * np.pi)
    grad = (np.cos(angle) * xx / w + np.sin(angle) * yy / h) * layout.uniform(6, 20)
    img = base + grad[..., None]
    shapes = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(shapes)
    for _ in range(int(layout.integers(1, 3))):
        x0, x1 = np.sort(layout.uniform(0.1, 0.9, 2)) * w
        y0, y1 = np.sort(layout.uniform(0.1, 0.9, 2)) * h
        draw.rectangle((x0, y0, x1, y1), fill=255)
    mask = np.asarray(shapes.filter(ImageFilter.GaussianBlur(layout.uniform(1, 6))), float)[..., None] / 255
    img = img + mask * layout.uniform(6, 20) * np.sign(palette.uniform(-1, 1, 3))
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))


FAMILIES = {"flat": flat, "geometric": geometric, "mono": mono}


def originals(part: Part) -> tuple[list[Image.Image], list[str]]:
    """(images, family) of every distinct original artwork of a part."""
    images, family = [], []
    for name in part.photos:
        images.append(_photo(name))
        family.append("photo")
    for name in part.tiled:
        full = _photo(name)
        w, h = full.size
        for x, y in ((0, 0), (1, 0), (0, 1), (1, 1)):
            images.append(full.crop((x * w // 2, y * h // 2, (x + 1) * w // 2, (y + 1) * h // 2)))
            family.append("photo")
    for f, (name, paint) in enumerate(FAMILIES.items()):
        for k in range(LAYOUTS_PER_FAMILY):
            first = paint(np.random.default_rng([part.seed, f, k]), np.random.default_rng([part.seed, f, k, 0]))
            # the same layout in another palette: a hard negative, but one a viewer tells apart
            # (mean colours MIN_COLOUR_STEP apart in some channel; random colours can be near-identical)
            for attempt in range(1, 100):
                second = paint(np.random.default_rng([part.seed, f, k]), np.random.default_rng([part.seed, f, k, attempt]))
                if np.abs(_mean_colour(first) - _mean_colour(second)).max() >= MIN_COLOUR_STEP:
                    break
            images += [first, second]
            family += [name, name]
    return images, family


def _mean_colour(im: Image.Image) -> np.ndarray:
    return np.asarray(im, np.float64).reshape(-1, 3).mean(0)


def dataset(part: Part):
    """Images with their artwork id, kind of copy ('original' or a KINDS name) and family."""
    base, family = originals(part)
    rng = np.random.default_rng([part.seed, 99])
    images, art, kind, fam = [], [], [], []
    for a, (im, f) in enumerate(zip(base, family)):
        images.append(im)
        art.append(a), kind.append("original"), fam.append(f)
        for name, edit in KINDS.items():
            images.append(edit(im, rng))
            art.append(a), kind.append(name), fam.append(f)
    return images, np.array(art), np.array(kind), np.array(fam)


def pair_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, int, int]:
    """Pairwise (precision, recall, true pairs found, predicted pairs) of a grouping."""
    def n_pairs(labels):
        _, counts = np.unique(labels, return_counts=True)
        return int((counts * (counts - 1) // 2).sum())
    joint = pred.astype(np.int64) * (truth.max() + 1) + truth
    tp, predicted, actual = n_pairs(joint), n_pairs(pred), n_pairs(truth)
    return tp / max(predicted, 1), tp / max(actual, 1), tp, predicted


def report(name: str, rule: D.Rule) -> dict:
    """Print one part's scores; return them (precision, recall, per-kind recall)."""
    t = time.perf_counter()
    images, art, kind, fam = dataset(PARTS[name])
    t_data = time.perf_counter() - t
    t = time.perf_counter()
    fps = D.fingerprints(images, rule)
    t_hash = time.perf_counter() - t
    t = time.perf_counter()
    groups = D.group(fps, rule)
    t_group = time.perf_counter() - t

    precision, recall, tp, predicted = pair_scores(groups, art)
    counts = "  ".join(f"{f} {int((fam[kind == 'original'] == f).sum())}" for f in ["photo", *FAMILIES])
    print(f"== part {name}: {len(images)} images, {len(np.unique(art))} artworks ({counts}); "
          f"data {t_data:.1f}s, fingerprints {t_hash:.1f}s, grouping {t_group:.2f}s")
    print(f"pairwise precision {precision:.4f}  recall {recall:.4f}  ({tp} of {predicted} predicted pairs correct)")
    originals_idx = np.flatnonzero(kind == "original")
    group_of_original = dict(zip(art[originals_idx], groups[originals_idx]))
    hit = np.array([k != "original" and groups[i] == group_of_original[art[i]] for i, k in enumerate(kind)])
    print(f"recall per kind (copy grouped with its original)   {'  '.join(f'{f:>9s}' for f in ['photo', *FAMILIES])}")
    per_kind = {}
    for k in KINDS:
        per_kind[k] = hit[kind == k].mean()
        by_fam = "  ".join(f"{hit[(kind == k) & (fam == f)].mean():9.2f}" for f in ["photo", *FAMILIES])
        print(f"  {k:11s} {per_kind[k]:.3f}                               {by_fam}")
    merged = [g for g in np.unique(groups) if len(np.unique(art[groups == g])) > 1]
    print("groups mixing different artworks: " + ", ".join(
        f"{f} {sum(1 for g in merged if f in fam[groups == g])}" for f in ["photo", *FAMILIES]))
    return {"precision": precision, "recall": recall, "per_kind": per_kind}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=[*PARTS, "all"], default="all",
                    help="tune and seen are the tuning data; test was never looked at while tuning")
    for f in fields(D.Rule):
        ap.add_argument("--" + f.name.replace("_", "-"), type=type(f.default))
    args = ap.parse_args()
    rule = replace(D.Rule(), **{f.name: getattr(args, f.name) for f in fields(D.Rule) if getattr(args, f.name) is not None})
    print(f"rule: {rule}")
    for name in (list(PARTS) if args.part == "all" else [args.part]):
        report(name, rule)


if __name__ == "__main__":
    main()
