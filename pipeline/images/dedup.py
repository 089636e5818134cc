"""Near-duplicate detection for images: fingerprints, a matching rule, grouping and lookup.

No DVC or params.yaml here: arguments in, values out. The public API::

    Rule(hash_bits: int = 8, colour: float = 0.15, trim_tol: float = 6.0, trim_max: float = 0.06)
        Thresholds: two images are copies when their pHash Hamming distance is
        <= hash_bits AND their colour-thumbnail distance is <= colour.
    Fingerprints(phash: np.ndarray[uint64] (N, 2), colour: np.ndarray[float32] (N, 2, D),
                 content: np.ndarray[int64] (N, 2))
        One row per image, two views each (whole image, border-trimmed core);
        ``content`` is the (width, height) left after trimming borders.
        ``len(fps)``, ``fps[idx]`` (index/slice/mask), ``Fingerprints.concat([...])``.
    fingerprint(image, rule=Rule()) -> tuple[tuple[int, int], np.ndarray, tuple[int, int]]
        One image (PIL.Image or uint8 HxWx3 / HxW array) -> (pHashes, colour vectors, content size).
    fingerprints(images, rule=Rule()) -> Fingerprints
        Many images (an iterable of PIL images or uint8 arrays, or an (N, H, W, 3) array).
    pairs(fps, rule=Rule()) -> (i, j, hash_dist, colour_dist)
        Every matching pair i < j, as four aligned arrays, sorted by (i, j).
    group(fps, rule=Rule()) -> np.ndarray[int64] (N,)
        Group id of every image: connected components of ``pairs``; ids are
        0, 1, 2, ... in order of each group's first member.
    match(query_fps, ref_fps, rule=Rule()) -> np.ndarray[int64] (len(query),)
        For each query, the index of the closest matching reference (smallest
        colour distance among those within both thresholds), or -1.
    hamming_pairs(a, max_dist, b=None) -> (i, j, dist)
        Sub-quadratic search for 64-bit codes within ``max_dist`` (multi-index
        hashing); with ``b=None`` pairs within ``a`` with i < j, else a[i] ~ b[j].
    phash_hex(code) -> str ; colour_hex(vector) -> str    (manifest forms of the two values)
    trim_border(rgb: np.ndarray, tol, max_frac) -> (top, bottom, left, right)
        The box of ``rgb`` left after cutting a uniform border / letterbox.

Two images match when SOME view of one and some view of the other pass both
tests. Why two tests: a grey-level pHash sees layout but not colour, so two colour-field
paintings sharing a layout in other colours collide; the colour thumbnail (after
removing global brightness/contrast) separates them. Borders are trimmed before
either is computed, so letterboxed copies hash like the original.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Iterable, Sequence

import imagehash
import numpy as np
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

COLOUR_SIDE = 8        # colour thumbnail is COLOUR_SIDE x COLOUR_SIDE RGB
WORK_SIDE = 256        # images are reduced to at most this side before hashing (speed)
TRIM_SIDE = 128        # borders are found on a copy of this size
VIEWS = 2              # each image is hashed whole and border-trimmed


@dataclass(frozen=True)
class Rule:
    """Thresholds of the "same artwork" decision (defaults measured by benchmarks/dedup_quality.py)."""

    hash_bits: int = 8        # max pHash Hamming distance (of 64 bits)
    colour: float = 0.15      # max RMS distance of normalised colour thumbnails
    trim_tol: float = 6.0     # a border line's pixels lie within this RGB distance of the border colour
    trim_max: float = 0.06    # borders wider than this share of a side are content, not trimmed

    def __post_init__(self):
        if not 0 <= self.hash_bits <= 63:
            raise ValueError(f"hash_bits must be in 0..63, got {self.hash_bits}")
        if self.colour < 0:
            raise ValueError(f"colour must be >= 0, got {self.colour}")
        if not 0 <= self.trim_max < 0.5:
            raise ValueError(f"trim_max must be in [0, 0.5), got {self.trim_max}")


@dataclass
class Fingerprints:
    phash: np.ndarray    # (N, VIEWS) uint64: pHash of the whole image and of its border-trimmed core
    colour: np.ndarray   # (N, VIEWS, D) float32: colour vector of each view
    content: np.ndarray  # (N, 2) int64: width, height after trimming

    def __len__(self) -> int:
        return len(self.phash)

    def __getitem__(self, idx) -> "Fingerprints":
        return Fingerprints(self.phash[idx], self.colour[idx], self.content[idx])

    @staticmethod
    def concat(parts: Sequence["Fingerprints"]) -> "Fingerprints":
        return Fingerprints(np.concatenate([p.phash for p in parts]),
                            np.concatenate([p.colour for p in parts]),
                            np.concatenate([p.content for p in parts]))

    @staticmethod
    def from_rows(rows: Sequence[tuple[tuple[int, ...], np.ndarray, tuple[int, int]]]) -> "Fingerprints":
        d = COLOUR_SIDE * COLOUR_SIDE * 3
        return Fingerprints(np.array([r[0] for r in rows], np.uint64).reshape(len(rows), VIEWS),
                            np.array([r[1] for r in rows], np.float32).reshape(len(rows), VIEWS, d),
                            np.array([r[2] for r in rows], np.int64).reshape(len(rows), 2))


# ---------------------------------------------------------------- one image

def _as_rgb_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        if max(image.size) > WORK_SIDE:
            image = image.copy()
            image.draft("RGB", (WORK_SIDE, WORK_SIDE))  # cheap JPEG DCT scaling when possible
            image.thumbnail((WORK_SIDE, WORK_SIDE), Image.BOX)
        return np.asarray(image.convert("RGB"))
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {a.shape}")
    a = a[..., :3]
    if a.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {a.dtype}")
    if max(a.shape[:2]) > WORK_SIDE:
        im = Image.fromarray(a)
        im.thumbnail((WORK_SIDE, WORK_SIDE), Image.BOX)
        a = np.asarray(im)
    return a


def _uniform_lines(lines: np.ndarray, colour: np.ndarray, tol: float) -> np.ndarray:
    """Share of each line's pixels (lines along axis 1) within ``tol`` of ``colour``."""
    dist = np.abs(lines.astype(np.float32) - colour).max(axis=2)
    return np.mean(dist <= tol, axis=1)


def trim_border(rgb: np.ndarray, tol: float = 6.0, max_frac: float = 0.06) -> tuple[int, int, int, int]:
    """Return (top, bottom, left, right) of ``rgb`` without a uniform border or letterbox.

    Decided on a TRIM_SIDE px copy, so grain and JPEG ringing average out the same
    way at any input size. A side is cut while its lines are nearly all (90 %)
    within ``tol`` of the side's outermost colour, only where that border ends in
    a clear step (the next lines are mostly unlike it) and only when it is at most
    ``max_frac`` of the side: a colour-field painting's canvas margin (>= 7 %) is
    a "border" too, and must stay. Written by hand: Pillow's getbbox trims exact
    zeros only.
    """
    h, w = rgb.shape[:2]
    small = np.asarray(Image.fromarray(rgb).resize((TRIM_SIDE, TRIM_SIDE), Image.BOX), np.float32)
    limit = int(max_frac * TRIM_SIDE)
    cut = []
    for lines in (small, small[::-1], small.transpose(1, 0, 2), small.transpose(1, 0, 2)[::-1]):
        share = _uniform_lines(lines[:limit + 2], np.median(lines[0], axis=0), tol)
        run = int(np.argmin(share >= 0.9)) if not (share >= 0.9).all() else len(share)
        after = share[run + 1:run + 3]   # skip one line: resampling blends border and content
        cut.append(run if 0 < run <= limit and len(after) and after.max() <= 0.5 else 0)
    top, bottom = cut[0] * h // TRIM_SIDE, h - cut[1] * h // TRIM_SIDE
    left, right = cut[2] * w // TRIM_SIDE, w - cut[3] * w // TRIM_SIDE
    return top, bottom, left, right


def _colour_vector(rgb: np.ndarray) -> np.ndarray:
    """8x8 RGB thumbnail with global brightness/contrast removed (one gain for all channels)."""
    thumb = np.asarray(Image.fromarray(rgb).resize((COLOUR_SIDE, COLOUR_SIDE), Image.BOX), np.float32)
    v = thumb.reshape(-1)
    # A floor on the spread keeps flat images from amplifying noise.
    return (v - v.mean()) / max(float(v.std()), 16.0)


def fingerprint(image, rule: Rule = Rule()) -> tuple[tuple[int, int], np.ndarray, tuple[int, int]]:
    """((phash whole, phash trimmed), colour vectors (2, D), (content width, content height)).

    Both views are kept because trimming is a threshold decision: a painted frame
    trimmed in the original may survive in a JPEG copy; comparing every view of
    one image with every view of the other sees through either outcome.
    """
    full_size = image.size if isinstance(image, Image.Image) else np.asarray(image).shape[1::-1]
    rgb = _as_rgb_array(image)
    top, bottom, left, right = trim_border(rgb, rule.trim_tol, rule.trim_max)
    codes, colours = [], []
    for view in (rgb, np.ascontiguousarray(rgb[top:bottom, left:right])):
        ph = imagehash.phash(Image.fromarray(view))
        codes.append(int.from_bytes(np.packbits(ph.hash.reshape(-1)).tobytes(), "big"))
        colours.append(_colour_vector(view))
    scale_w, scale_h = full_size[0] / rgb.shape[1], full_size[1] / rgb.shape[0]
    content = (round((right - left) * scale_w), round((bottom - top) * scale_h))
    return (codes[0], codes[1]), np.stack(colours), content


def fingerprints(images: Iterable, rule: Rule = Rule()) -> Fingerprints:
    """Fingerprints of many images (PIL images, uint8 arrays, or one (N, H, W, 3) array)."""
    return Fingerprints.from_rows([fingerprint(im, rule) for im in images])


def phash_hex(code: int) -> str:
    """The 64-bit pHash as 16 hex digits (imagehash's string form)."""
    return f"{int(code):016x}"


def colour_hex(vector: np.ndarray) -> str:
    """A colour vector as hex, quantised to one signed byte per value (for manifests)."""
    return np.clip(np.rint(np.asarray(vector) * 32), -128, 127).astype(np.int8).tobytes().hex()


# ---------------------------------------------------------------- search

def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).astype(np.int64)


def hamming_pairs(a: np.ndarray, max_dist: int, b: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (i, j, dist) with popcount(a[i] ^ b[j]) <= max_dist, by multi-index hashing.

    Split the 64-bit codes into m chunks: two codes within ``max_dist`` agree
    within ``max_dist // m`` bits on at least one chunk (pigeonhole). For each
    chunk and each flip pattern of that many bits, look up the codes whose chunk
    equals the flipped one in a table, then check the full distance. Chunks are
    wide (about log2(N) + 6 bits, at most 22) so table lookups, which are cheap vectorised
    gathers, outnumber candidates, which are not. A pair is kept only in the
    first chunk that finds it, so no global dedup sort is needed. Hand-written
    because no kept library does Hamming range search (BK-tree packages are pure
    Python and visit most of the tree at radius 10).
    With ``b=None`` the pairs are within ``a`` with i < j.
    """
    a = np.ascontiguousarray(a, np.uint64)
    same = b is None
    b = a if same else np.ascontiguousarray(b, np.uint64)
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    width = int(np.clip(np.ceil(np.log2(len(b) + 1)) + 6, 8, 22))
    m = -(-64 // width)
    edges = [64 * c // m for c in range(m + 1)]
    radius = max_dist // m

    def chunk(x, c):
        lo, hi = edges[c], edges[c + 1]
        return ((x >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)).astype(np.int64)

    qa = [chunk(a, c) for c in range(m)]
    rb = [chunk(b, c) for c in range(m)]
    found_i, found_j = [], []
    for c in range(m):
        order = np.argsort(rb[c], kind="stable")
        counts = np.bincount(rb[c], minlength=1 << (edges[c + 1] - edges[c])).astype(np.int32)
        starts = np.cumsum(counts, dtype=np.int64) - counts
        for flip in _flip_masks(edges[c + 1] - edges[c], radius):
            key = qa[c] ^ flip
            n = counts[key]
            hit = np.flatnonzero(n)
            if len(hit) == 0:
                continue
            n = n[hit]
            key = key[hit]
            qi = np.repeat(hit, n)
            offset = np.arange(len(qi)) - np.repeat(np.cumsum(n) - n, n)
            rj = order[starts[key].repeat(n) + offset]
            keep = qi < rj if same else np.ones(len(qi), bool)
            for e in range(c):   # found by an earlier chunk already
                keep &= np.bitwise_count((qa[e][qi] ^ rb[e][rj]).astype(np.uint64)) > radius
            qi, rj = qi[keep], rj[keep]
            keep = _popcount(a[qi] ^ b[rj]) <= max_dist
            found_i.append(qi[keep])
            found_j.append(rj[keep])
    if not found_i:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    order = np.lexsort((j, i))
    i, j = i[order], j[order]
    return i, j, _popcount(a[i] ^ b[j])


def _flip_masks(bits: int, radius: int) -> np.ndarray:
    """Every ``bits``-bit integer with at most ``radius`` bits set."""
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << p for p in combo) for combo in combinations(range(bits), r)]
    return np.array(masks, np.int64)


def _colour_dist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((x - y) ** 2, axis=-1))


def _view_matches(qa: Fingerprints, rb: Fingerprints | None, rule: Rule):
    """(i, j, hash dist, colour dist) of image pairs with some view of each passing both tests.

    With ``rb=None``, pairs within ``qa`` (i < j). Per image pair the view pair
    with the smallest colour distance is reported. Equal codes (an image whose
    two views hash alike, exact copies) are searched once.
    """
    r = qa if rb is None else rb
    q_codes, q_inv = np.unique(qa.phash.reshape(-1), return_inverse=True)
    r_codes, r_inv = (q_codes, q_inv) if rb is None else np.unique(r.phash.reshape(-1), return_inverse=True)
    ci, cj, chd = hamming_pairs(q_codes, rule.hash_bits, None if rb is None else r_codes)
    if rb is None:   # equal codes pair with themselves too; the search gives only ci < cj
        ci, cj = np.concatenate([ci, np.arange(len(q_codes))]), np.concatenate([cj, np.arange(len(q_codes))])
        chd = np.concatenate([chd, np.zeros(len(q_codes), np.int64)])
    # expand code pairs to view pairs: views grouped by code (CSR)
    q_views, q_start, q_count = _members(q_inv, len(q_codes))
    r_views, r_start, r_count = (q_views, q_start, q_count) if rb is None else _members(r_inv, len(r_codes))
    per = q_count[ci] * r_count[cj]
    pair = np.repeat(np.arange(len(ci)), per)
    k = np.arange(len(pair)) - np.repeat(np.cumsum(per) - per, per)
    fi = q_views[q_start[ci][pair] + k // r_count[cj][pair]]
    fj = r_views[r_start[cj][pair] + k % r_count[cj][pair]]
    hd = chd[pair]
    i, j = fi // VIEWS, fj // VIEWS
    keep = i != j if rb is None else np.ones(len(i), bool)
    fi, fj, hd, i, j = fi[keep], fj[keep], hd[keep], i[keep], j[keep]
    cd = _colour_dist(qa.colour.reshape(-1, qa.colour.shape[-1])[fi], r.colour.reshape(-1, r.colour.shape[-1])[fj])
    keep = cd <= rule.colour
    if rb is None:
        i, j = np.minimum(i, j), np.maximum(i, j)
    i, j, hd, cd = i[keep], j[keep], hd[keep], cd[keep]
    order = np.lexsort((hd, cd, j, i))
    i, j, hd, cd = i[order], j[order], hd[order], cd[order]
    first = np.unique(i * len(r) + j, return_index=True)[1]
    return i[first], j[first], hd[first], cd[first]


def _members(inverse: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views sorted by code, with each code's start and count in that order."""
    views = np.argsort(inverse, kind="stable")
    count = np.bincount(inverse, minlength=n)
    return views, np.cumsum(count) - count, count


def pairs(fps: Fingerprints, rule: Rule = Rule()) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair i < j judged the same artwork: (i, j, hash distance, colour distance)."""
    return _view_matches(fps, None, rule)


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
    i, j, _, cd = _view_matches(query, ref, rule)
    order = np.lexsort((j, cd, i))     # per query: smallest colour distance first
    i, j = i[order], j[order]
    first = np.unique(i, return_index=True)[1]
    out[i[first]] = j[first]
    return out
