"""Pairwise precision and recall of near-duplicate grouping on a labelled set.

Originals: the scikit-image sample photographs (plus quadrants of the four
largest colour ones, distinct images that share colours) and synthetic
colour-field paintings, three per mode -- same-mode paintings are different
artworks with the same layout and palette, the hardest negatives. Every original
gets one planted copy of each kind in ``pipeline.images.nearcopy.KINDS``.

    PYTHONPATH=. python benchmarks/dedup_quality.py [--hash-bits N] [--colour X] [--crop X]

Prints pairwise precision/recall of ``group`` at the given (default) rule, the
recall per kind of copy, and the false merges by family.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from PIL import Image

from pipeline.images import dedup as D
from pipeline.images.nearcopy import KINDS
from pipeline.images import colourfield

PHOTOS = ["astronaut", "brick", "camera", "chelsea", "cell", "checkerboard", "clock", "coffee", "coins",
          "colorwheel", "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "logo", "moon",
          "page", "retina", "rocket", "text"]
QUARTERED = ["astronaut", "hubble_deep_field", "retina", "coffee"]
PAINTINGS_PER_MODE = 3


def originals(seed: int = 0) -> tuple[list[Image.Image], list[str]]:
    """(images, family) of every distinct original artwork."""
    import skimage.data

    from pipeline.images.load import to_rgb

    images, family = [], []
    for name in PHOTOS:
        a = getattr(skimage.data, name)()
        im = Image.fromarray(a) if a.ndim == 3 else Image.fromarray(a, "L")
        images.append(to_rgb(im))
        family.append("photo")
        if name in QUARTERED:
            full = images[-1]
            w, h = full.size
            for x, y in ((0, 0), (1, 0), (0, 1), (1, 1)):
                images.append(full.crop((x * w // 2, y * h // 2, (x + 1) * w // 2, (y + 1) * h // 2)))
                family.append("photo")
    rng = np.random.default_rng(seed)
    for mode in range(len(colourfield.MODES)):
        for _ in range(PAINTINGS_PER_MODE):
            images.append(Image.fromarray(colourfield.render(mode, 256, rng)))
            family.append("painting")
    return images, family


def dataset(seed: int = 0):
    """Images with their artwork id, kind of copy ('original' or a KINDS name) and family."""
    base, family = originals(seed)
    rng = np.random.default_rng(seed + 1)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hash-bits", type=int)
    ap.add_argument("--colour", type=float)
    ap.add_argument("--crop", type=float)
    args = ap.parse_args()
    rule = D.Rule()
    for field in ("hash_bits", "colour", "crop"):
        if getattr(args, field) is not None:
            rule = replace(rule, **{field: getattr(args, field)})

    t = time.perf_counter()
    images, art, kind, fam = dataset(args.seed)
    t_data = time.perf_counter() - t
    t = time.perf_counter()
    fps = D.fingerprints(images, rule)
    t_hash = time.perf_counter() - t
    t = time.perf_counter()
    groups = D.group(fps, rule)
    t_group = time.perf_counter() - t

    precision, recall, tp, predicted = pair_scores(groups, art)
    print(f"rule: {rule}")
    print(f"{len(images)} images ({len(np.unique(art))} artworks: {int((fam[kind == 'original'] == 'photo').sum())} photos, "
          f"{int((fam[kind == 'original'] == 'painting').sum())} paintings), "
          f"data {t_data:.1f}s, fingerprints {t_hash:.1f}s, grouping {t_group:.2f}s")
    print(f"pairwise precision {precision:.4f}  recall {recall:.4f}  ({tp} of {predicted} predicted pairs correct)")
    originals_idx = np.flatnonzero(kind == "original")
    group_of_original = dict(zip(art[originals_idx], groups[originals_idx]))
    print("recall per kind (copy grouped with its original):")
    for name in KINDS:
        idx = np.flatnonzero(kind == name)
        hit = np.array([groups[i] == group_of_original[art[i]] for i in idx])
        by_fam = "  ".join(f"{f} {hit[fam[idx] == f].mean():.3f}" for f in ("photo", "painting"))
        print(f"  {name:11s} {hit.mean():.3f}   ({by_fam})")
    merged = [g for g in np.unique(groups) if len(np.unique(art[groups == g])) > 1]
    for f in ("photo", "painting"):
        bad = sum(1 for g in merged if fam[groups == g][0] == f)
        print(f"groups mixing different {f}s: {bad}")


if __name__ == "__main__":
    main()
