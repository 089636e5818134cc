"""Near-duplicate detection for images: fingerprints, a matching rule, grouping and lookup.

No DVC or params.yaml here: arguments in, values out. The public API::

    Rule(hash_bits=8, colour_bits=5, colour=0.11, crop=0.2, trim_tol=6.0, trim_max=0.08)
        Thresholds: two images are copies when they are candidates (a pHash of one
        within hash_bits of a pHash of the other, OR their colour codes within
        colour_bits) AND their colour distance is <= colour (crop boxes up to
        ``crop`` of each axis searched).
    Fingerprints(phash: uint64 (N, VIEWS), thumb: uint8 (N, 2, 32, 32, 3), content: int64 (N, 2))
        One row per image. pHash views: whole, border-trimmed core, three crops of
        the core; colour thumbnails of the whole and of the core; ``content`` is
        the (width, height) left after trimming borders; ``colour_code`` (N, 3) is
        made from the thumbnails (whole, core, core cut by 6 % per side). ``len(fps)``, ``fps[idx]``, ``Fingerprints.concat([...])``.
    fingerprint(image, rule=Rule()) -> (pHashes, thumbnails, content size)
        One image (PIL.Image or uint8 HxWx3 / HxW array).
    fingerprints(images, rule=Rule()) -> Fingerprints
        Many images (an iterable of PIL images or uint8 arrays, or an (N, H, W, 3) array).
    pairs(fps, rule=Rule()) -> (i, j, hash_dist, colour_dist)
        Every matching pair i < j, as four aligned arrays, sorted by (i, j);
        hash_dist is the smallest pHash distance of the two (above hash_bits
        where the colour code found the pair).
    group(fps, rule=Rule()) -> np.ndarray[int64] (N,)
        Group id of every image: connected components of ``pairs``; ids are
        0, 1, 2, ... in order of each group's first member.
    match(query_fps, ref_fps, rule=Rule()) -> np.ndarray[int64] (len(query),)
        For each query, the index of the closest matching reference (smallest
        colour distance among those passing both tests), or -1.
    colour_distance(a, b, i, j, rule=Rule()) -> float32 (len(i),)
        The colour distance of a[i] and b[j] (aligned index arrays; ``colourtest``).
    phash_hex(code) -> str ; colour_hex(thumb) -> str    (manifest forms)
    trim_border(rgb: np.ndarray, tol, max_frac) -> (top, bottom, left, right)
        The box of ``rgb`` left after cutting a uniform border, mat or letterbox.

Why two tests: a grey-level pHash sees layout but not colour, so two colour-field
paintings sharing a layout in other colours collide; the colour thumbnail
separates them. The candidate search may be loose: crops of each image are
hashed too, and the colour test decides. pHash alone misses flat images (their
DCT coefficients sit near the median, so bits flip under re-encoding), hence the
colour code, a SimHash of the colour thumbnail, as a second key. The colour test
searches crop boxes (``colourtest``) because a crop moves a 16 px thumbnail by
more than the colours of two different same-layout paintings differ. Borders are
trimmed before hashing, so matted and letterboxed copies hash like the original.
The Hamming search itself is ``pipeline.neardup.hamming``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import imagehash
import numpy as np
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipeline.neardup import colourtest as C
from pipeline.neardup.colourtest import THUMB_SIDE
from pipeline.neardup.colourtest import VIEWS as THUMB_VIEWS
from pipeline.neardup.hamming import hamming_pairs
from pipeline.neardup.rule import Rule

WORK_SIDE = 256        # images are reduced to at most this side before hashing (speed)
TRIM_SIDE = 256        # borders are found on a copy of this size
# Hash views: whole image, border-trimmed core, and centred crops of the core (x0, y0,
# x1, y1 as shares of a side: 94, 88 and 82 %). A crop of 2-10 % per side moves pHash
# by more than hash_bits, so the crops of each image are searched against the whole
# views of the others (never crop vs crop). Centred crops found 90 % of such copies
# (tuning part), the former centre-and-two-corners set 79 %; each further view adds N
# codes to the search.
CROP_VIEWS = ((0.03, 0.03, 0.97, 0.97), (0.06, 0.06, 0.94, 0.94), (0.09, 0.09, 0.91, 0.91))
BASE_VIEWS = 2
VIEWS = BASE_VIEWS + len(CROP_VIEWS)


@dataclass
class Fingerprints:
    phash: np.ndarray    # (N, VIEWS) uint64: pHash of the whole image, its border-trimmed core, crops of the core
    thumb: np.ndarray    # (N, THUMB_VIEWS, THUMB_SIDE, THUMB_SIDE, 3) uint8: colour thumbnails, whole and trimmed
    content: np.ndarray  # (N, 2) int64: width, height after trimming borders
    colour_code: np.ndarray | None = None   # (N, THUMB_VIEWS + 1) uint64: ``colourtest.codes(thumb)``, made when left out

    def __post_init__(self):
        if self.colour_code is None:
            self.colour_code = C.codes(self.thumb)

    def __len__(self) -> int:
        return len(self.phash)

    def __getitem__(self, idx) -> "Fingerprints":
        return Fingerprints(self.phash[idx], self.thumb[idx], self.content[idx], self.colour_code[idx])

    @staticmethod
    def concat(parts: Sequence["Fingerprints"]) -> "Fingerprints":
        return Fingerprints(*(np.concatenate([getattr(p, f) for p in parts])
                              for f in ("phash", "thumb", "content", "colour_code")))

    @staticmethod
    def from_rows(rows: Sequence[tuple]) -> "Fingerprints":
        """From ``fingerprint`` results."""
        n = len(rows)
        return Fingerprints(np.array([r[0] for r in rows], np.uint64).reshape(n, VIEWS),
                            np.array([r[1] for r in rows], np.uint8).reshape(n, THUMB_VIEWS, THUMB_SIDE, THUMB_SIDE, 3),
                            np.array([r[2] for r in rows], np.int64).reshape(n, 2))


# ---------------------------------------------------------------- one image

def _as_rgb_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        if max(image.size) > WORK_SIDE:
            image = image.copy()
            image.draft("RGB", (WORK_SIDE, WORK_SIDE))  # cheap JPEG DCT scaling when possible
            image.thumbnail((WORK_SIDE, WORK_SIDE), Image.BOX)
        return np.asarray(image.convert("RGB"))
    a = _check_array(image)
    if max(a.shape[:2]) > WORK_SIDE:
        im = Image.fromarray(a)
        im.thumbnail((WORK_SIDE, WORK_SIDE), Image.BOX)
        a = np.asarray(im)
    return a


def _check_array(image) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {a.shape}")
    if a.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {a.dtype}")
    return a[..., :3]


def _side_cut(lines: np.ndarray, tol: float, limit: int) -> int:
    """Lines to cut from the start of ``lines`` (axis 0; a side of the image seen from outside in).

    The border colour is the median of the outermost line; its noise (95th
    percentile distance) is measured on the two outermost lines, and the tolerance
    is the larger of ``tol`` and twice that noise: a JPEG'd mat is uneven (a
    saturated mat at quality 60: noise 19 levels), a fixed ``tol`` stopped the trim
    at the first line. The border runs while nearly all (90 %) of a line's pixels
    are within tolerance. JPEG ringing makes the last lines before the content fail
    that test while staying near the border colour on average, so the step is where
    the mean distance first exceeds 1.5x the tolerance, and the cut where it crosses
    halfway from the border's to the content's. No cut unless the border ends in a
    clear step (the three lines past it mostly, 60 %, unlike the border) within
    ``limit`` lines. Mats cut to within 2 % of the picture: 95-98 % of the tuning
    part's mats, 43-62 % with the former fixed tolerance.
    """
    colour = np.median(lines[0], axis=0)
    dist = np.abs(lines - colour).max(axis=2)                     # (lines, pixels)
    tol = max(tol, 2.0 * float(np.percentile(dist[:2], 95)))
    share = np.mean(dist <= tol, axis=1)
    level = dist.mean(axis=1)
    run = int(np.argmin(share >= 0.9)) if not (share >= 0.9).all() else len(share)
    past = np.flatnonzero(level[run:] > 1.5 * tol)
    if run == 0 or len(past) == 0:
        return 0
    step = run + int(past[0])
    after = slice(step + 1, step + 4)
    if step > limit or step + 4 > len(share) or share[after].max() > 0.6 or level[after].min() <= 1.5 * tol:
        return 0
    # a line that resampling blends from border and content goes with the side it is nearer
    half = (level[:run].mean() + np.median(level[after])) / 2
    cut = run + int(np.argmax(np.append(level[run:step + 1] >= half, True)))
    return cut if cut <= limit else 0


def trim_border(rgb: np.ndarray, tol: float = 6.0, max_frac: float = 0.08) -> tuple[int, int, int, int]:
    """Return (top, bottom, left, right) of ``rgb`` without a uniform border, mat or letterbox.

    Decided on a TRIM_SIDE px copy, so the cut is found at the same resolution for
    any input size; each side by ``_side_cut``, only when the border is at most
    ``max_frac`` of the side. Written by hand: Pillow's getbbox trims exact zeros only.
    """
    h, w = rgb.shape[:2]
    small = np.asarray(Image.fromarray(rgb).resize((TRIM_SIDE, TRIM_SIDE), Image.BOX), np.float32)
    limit = int(max_frac * TRIM_SIDE)
    depth = limit + 8
    cut = [_side_cut(lines[:depth], tol, limit)
           for lines in (small, small[::-1], small.transpose(1, 0, 2), small.transpose(1, 0, 2)[::-1])]
    top, bottom = cut[0] * h // TRIM_SIDE, h - cut[1] * h // TRIM_SIDE
    left, right = cut[2] * w // TRIM_SIDE, w - cut[3] * w // TRIM_SIDE
    return top, bottom, left, right


def _phash(rgb: np.ndarray) -> int:
    bits = imagehash.phash(Image.fromarray(rgb)).hash.reshape(-1)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def fingerprint(image, rule: Rule = Rule()) -> tuple[tuple[int, ...], np.ndarray, tuple[int, int]]:
    """(pHash of each view, colour thumbnails (THUMB_VIEWS, THUMB_SIDE, THUMB_SIDE, 3) uint8, content (w, h)).

    Both the whole image and its trimmed core are hashed because trimming is a
    threshold decision: a painted frame trimmed in the original may survive in a
    JPEG copy. The crop views let a cropped copy find its original.
    """
    full_size = image.size if isinstance(image, Image.Image) else np.asarray(image).shape[1::-1]
    rgb = _as_rgb_array(image)
    top, bottom, left, right = trim_border(rgb, rule.trim_tol, rule.trim_max)
    core = np.ascontiguousarray(rgb[top:bottom, left:right])
    ch, cw = core.shape[:2]
    views = [rgb, core] + [core[round(y0 * ch):round(y1 * ch), round(x0 * cw):round(x1 * cw)]
                           for x0, y0, x1, y1 in CROP_VIEWS]
    thumb = np.stack([np.asarray(Image.fromarray(v).resize((THUMB_SIDE, THUMB_SIDE), Image.BOX)) for v in views[:2]])
    scale_w, scale_h = full_size[0] / rgb.shape[1], full_size[1] / rgb.shape[0]
    content = (round((right - left) * scale_w), round((bottom - top) * scale_h))
    return tuple(_phash(np.ascontiguousarray(v)) for v in views), thumb, content


def fingerprints(images: Iterable, rule: Rule = Rule()) -> Fingerprints:
    """Fingerprints of many images (PIL images, uint8 arrays, or one (N, H, W, 3) array)."""
    return Fingerprints.from_rows([fingerprint(im, rule) for im in images])


def phash_hex(code: int) -> str:
    """The 64-bit pHash as 16 hex digits (imagehash's string form)."""
    return f"{int(code):016x}"


def colour_hex(thumb: np.ndarray) -> str:
    """A colour thumbnail as hex, reduced to 8x8 RGB bytes (for manifests)."""
    small = Image.fromarray(np.asarray(thumb, np.uint8)).resize((8, 8), Image.BOX)
    return np.asarray(small).tobytes().hex()


# ---------------------------------------------------------------- search

def _code_pairs(q: np.ndarray, r: np.ndarray, bits: int, base: int = BASE_VIEWS) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of image pairs with one of the first ``base`` codes of q[i] within ``bits`` of any code of r[j].

    ``q`` and ``r`` are (N, views) codes. Equal codes (views that hash alike,
    exact copies) are searched once.
    """
    q_codes, q_inv = np.unique(q[:, :base].reshape(-1), return_inverse=True)
    r_codes, r_inv = np.unique(r.reshape(-1), return_inverse=True)
    ci, cj, _ = hamming_pairs(q_codes, bits, r_codes)
    # expand code pairs to view pairs: views grouped by code (CSR)
    q_views, q_start, q_count = _members(q_inv, len(q_codes))
    r_views, r_start, r_count = _members(r_inv, len(r_codes))
    per = q_count[ci] * r_count[cj]
    pair = np.repeat(np.arange(len(ci)), per)
    k = np.arange(len(pair)) - np.repeat(np.cumsum(per) - per, per)
    i = q_views[q_start[ci][pair] + k // r_count[cj][pair]] // base
    j = r_views[r_start[cj][pair] + k % r_count[cj][pair]] // r.shape[1]
    return i, j


def _members(inverse: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views sorted by code, with each code's start and count in that order."""
    views = np.argsort(inverse, kind="stable")
    count = np.bincount(inverse, minlength=n)
    return views, np.cumsum(count) - count, count


def _hash_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest pHash distance of a base view of one image to any view of the other, per aligned row."""
    one = np.bitwise_count(a[:, :BASE_VIEWS, None] ^ b[:, None]).min(axis=(1, 2))
    other = np.bitwise_count(b[:, :BASE_VIEWS, None] ^ a[:, None]).min(axis=(1, 2))
    return np.minimum(one, other).astype(np.int64)


def colour_distance(a: Fingerprints, b: Fingerprints, i: np.ndarray, j: np.ndarray,
                    rule: Rule = Rule()) -> np.ndarray:
    """Colour distance of a[i] and b[j] for aligned index arrays (``colourtest.distances``)."""
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    return C.distances(a.thumb[i], b.thumb[j], rule.crop, rule.colour)


def _candidates(qa: Fingerprints, rb: Fingerprints | None, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) image pairs, each once, near in pHash or in colour code; ``rb=None``: pairs within qa, i < j."""
    r = qa if rb is None else rb
    found = [_code_pairs(qa.phash, r.phash, rule.hash_bits),
             _code_pairs(qa.colour_code, r.colour_code, rule.colour_bits, THUMB_VIEWS)]
    if rb is not None:      # views are searched one way (base against all): search back too
        found.append(_code_pairs(rb.phash, qa.phash, rule.hash_bits)[::-1])
    i, j = (np.concatenate(x) for x in zip(*found))
    if rb is None:
        keep = i != j
        i, j = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
    key = np.unique(i * len(r) + j)
    return key // len(r), key % len(r)


def _matches(qa: Fingerprints, rb: Fingerprints | None, rule: Rule):
    """(i, j, hash dist, colour dist) of image pairs passing both tests; ``rb=None``: pairs within qa, i < j."""
    r = qa if rb is None else rb
    i, j = _candidates(qa, rb, rule)
    cd = colour_distance(qa, r, i, j, rule)
    keep = cd <= rule.colour
    i, j = i[keep], j[keep]
    return i, j, _hash_distance(qa.phash[i], r.phash[j]), cd[keep]


def pairs(fps: Fingerprints, rule: Rule = Rule()) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair i < j judged the same artwork: (i, j, hash distance, colour distance), sorted by (i, j)."""
    return _matches(fps, None, rule)


def group(fps: Fingerprints, rule: Rule = Rule()) -> np.ndarray:
    """Group id per image (connected components of matching pairs), numbered by first member."""
    n = len(fps)
    i, j, _, _ = pairs(fps, rule)
    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # renumber 0, 1, 2 ... in order of first appearance so ids do not depend on scipy's order
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].astype(np.int64)


def match(query: Fingerprints, ref: Fingerprints, rule: Rule = Rule()) -> np.ndarray:
    """Index of the closest matching reference for each query, or -1 when none matches."""
    out = np.full(len(query), -1, np.int64)
    if len(query) == 0 or len(ref) == 0:
        return out
    i, j, _, cd = _matches(query, ref, rule)
    order = np.lexsort((j, cd, i))     # per query: smallest colour distance first
    i, j = i[order], j[order]
    first = np.unique(i, return_index=True)[1]
    out[i[first]] = j[first]
    return out
