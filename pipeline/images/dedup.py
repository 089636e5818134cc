"""Near-duplicate detection for images: fingerprints, a matching rule, grouping and lookup.

No DVC or params.yaml here: arguments in, values out. The public API::

    Rule(hash_bits=8, colour=0.095, crop=0.12, trim_tol=6.0, trim_max=0.06)
        Thresholds: two images are copies when a pHash of one is within hash_bits
        of a pHash of the other (candidate search) AND their colour distance is
        <= colour (crop boxes up to ``crop`` of each axis searched).
    Fingerprints(phash: uint64 (N, VIEWS), thumb: uint8 (N, 2, 32, 32, 3), content: int64 (N, 2))
        One row per image. pHash views: whole, border-trimmed core, three crops of
        the core; colour thumbnails of the whole and of the core; ``content`` is
        the (width, height) left after trimming borders.
        ``len(fps)``, ``fps[idx]`` (index/slice/mask), ``Fingerprints.concat([...])``.
    fingerprint(image, rule=Rule()) -> (pHashes, thumbnails, content size)
        One image (PIL.Image or uint8 HxWx3 / HxW array).
    fingerprints(images, rule=Rule()) -> Fingerprints
        Many images (an iterable of PIL images or uint8 arrays, or an (N, H, W, 3) array).
    pairs(fps, rule=Rule()) -> (i, j, hash_dist, colour_dist)
        Every matching pair i < j, as four aligned arrays, sorted by (i, j).
    group(fps, rule=Rule()) -> np.ndarray[int64] (N,)
        Group id of every image: connected components of ``pairs``; ids are
        0, 1, 2, ... in order of each group's first member.
    match(query_fps, ref_fps, rule=Rule()) -> np.ndarray[int64] (len(query),)
        For each query, the index of the closest matching reference (smallest
        colour distance among those passing both tests), or -1.
    colour_distance(a, b, i, j, rule=Rule()) -> float32 (len(i),)
        The colour distance of a[i] and b[j] (aligned index arrays).
    hamming_pairs(a, max_dist, b=None) -> (i, j, dist)
        Sub-quadratic search for 64-bit codes within ``max_dist`` (multi-index
        hashing); with ``b=None`` pairs within ``a`` with i < j, else a[i] ~ b[j].
    phash_hex(code) -> str ; colour_hex(thumb) -> str    (manifest forms)
    trim_border(rgb: np.ndarray, tol, max_frac) -> (top, bottom, left, right)
        The box of ``rgb`` left after cutting a uniform border / letterbox.

Why two tests: a grey-level pHash sees layout but not colour, so two colour-field
paintings sharing a layout in other colours collide; the colour thumbnail (after
removing global brightness/contrast) separates them. pHash is only the fast
candidate search, so it may be loose: crops of each image are hashed too, and
the colour test decides. The colour test searches crop boxes because an 8 %
crop moves a 16 px thumbnail by more than the colours of two different
same-layout paintings differ. Borders are trimmed before hashing, so
letterboxed copies hash like the original.
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

from pipeline.images.rule import Rule

THUMB_SIDE = 32        # stored colour thumbnail of the border-trimmed view, THUMB_SIDE x THUMB_SIDE RGB
COMPARE_SIDE = 16      # (divides THUMB_SIDE)      # thumbnails are compared at this size, after cropping
CROP_STEPS = 4         # crop boxes per end of an axis: 0 .. Rule.crop in this many steps
WORK_SIDE = 256        # images are reduced to at most this side before hashing (speed)
TRIM_SIDE = 128        # borders are found on a copy of this size
# Hash views: whole image, border-trimmed core, and crops of the core (x0, y0, x1, y1
# as shares of a side: centre 94 %, two opposite corners 92 %). pHash moves by more
# than hash_bits under an 8 % crop (median 8, p90 18 bits), so the crops of each
# image are searched against the whole views of the others (never crop vs crop).
# More crop views find few more copies and cost search time (each adds N codes).
CROP_VIEWS = ((0.03, 0.03, 0.97, 0.97), (0.0, 0.0, 0.92, 0.92), (0.08, 0.08, 1.0, 1.0))
BASE_VIEWS = 2
THUMB_VIEWS = 2        # colour thumbnails of the whole image and of the trimmed core
VIEWS = BASE_VIEWS + len(CROP_VIEWS)


@dataclass
class Fingerprints:
    phash: np.ndarray    # (N, VIEWS) uint64: pHash of the whole image, its border-trimmed core, crops of the core
    thumb: np.ndarray    # (N, THUMB_VIEWS, THUMB_SIDE, THUMB_SIDE, 3) uint8: colour thumbnails, whole and trimmed
    content: np.ndarray  # (N, 2) int64: width, height after trimming borders

    def __len__(self) -> int:
        return len(self.phash)

    def __getitem__(self, idx) -> "Fingerprints":
        return Fingerprints(self.phash[idx], self.thumb[idx], self.content[idx])

    @staticmethod
    def concat(parts: Sequence["Fingerprints"]) -> "Fingerprints":
        return Fingerprints(*(np.concatenate([getattr(p, f) for p in parts])
                              for f in ("phash", "thumb", "content")))

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


def _code_pairs(q: np.ndarray, r: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, smallest hash distance) of image pairs with a base view of q[i] near any view of r[j].

    ``q`` and ``r`` are (N, VIEWS) codes. Equal codes (views that hash alike,
    exact copies) are searched once.
    """
    q_codes, q_inv = np.unique(q[:, :BASE_VIEWS].reshape(-1), return_inverse=True)
    r_codes, r_inv = np.unique(r.reshape(-1), return_inverse=True)
    ci, cj, chd = hamming_pairs(q_codes, bits, r_codes)
    # expand code pairs to view pairs: views grouped by code (CSR)
    q_views, q_start, q_count = _members(q_inv, len(q_codes))
    r_views, r_start, r_count = _members(r_inv, len(r_codes))
    per = q_count[ci] * r_count[cj]
    pair = np.repeat(np.arange(len(ci)), per)
    k = np.arange(len(pair)) - np.repeat(np.cumsum(per) - per, per)
    i = q_views[q_start[ci][pair] + k // r_count[cj][pair]] // BASE_VIEWS
    j = r_views[r_start[cj][pair] + k % r_count[cj][pair]] // r.shape[1]
    return i, j, chd[pair]


def _members(inverse: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views sorted by code, with each code's start and count in that order."""
    views = np.argsort(inverse, kind="stable")
    count = np.bincount(inverse, minlength=n)
    return views, np.cumsum(count) - count, count


def _closest(i: np.ndarray, j: np.ndarray, hd: np.ndarray, n_j: int):
    """One row per (i, j): the smallest hash distance."""
    order = np.lexsort((hd, j, i))
    i, j, hd = i[order], j[order], hd[order]
    first = np.unique(i * n_j + j, return_index=True)[1]
    return i[first], j[first], hd[first]


def _axis_boxes(crop: float) -> list[tuple[float, float]]:
    """(cut at start, cut at end) of one axis, each 0 .. crop in CROP_STEPS steps, total <= crop; (0, 0) first."""
    cuts = np.linspace(0, crop, CROP_STEPS) if crop > 0 else np.zeros(1)
    return [(float(a), float(b)) for a in cuts for b in cuts if a + b <= crop + 1e-9]


def _resample_matrices(boxes: Sequence[tuple[float, float]]) -> np.ndarray:
    """(boxes, COMPARE_SIDE, THUMB_SIDE): area-average the box of a thumbnail axis to COMPARE_SIDE px."""
    box = np.asarray(boxes, np.float64).reshape(-1, 2)
    lo, hi = box[:, :1] * THUMB_SIDE, (1 - box[:, 1:]) * THUMB_SIDE
    step = (hi - lo) / COMPARE_SIDE                                   # (B, 1)
    x0 = (lo + np.arange(COMPARE_SIDE) * step)[..., None]             # (B, C, 1)
    pix = np.arange(THUMB_SIDE)
    overlap = np.minimum(pix + 1, x0 + step[..., None]) - np.maximum(pix, x0)
    return (np.maximum(overlap, 0) / step[..., None]).astype(np.float32)


def _normalise(v: np.ndarray) -> np.ndarray:
    """Remove global brightness/contrast (one gain for all channels) along the last axis.

    A floor on the spread keeps flat images from amplifying noise.
    """
    v = v - v.mean(axis=-1, keepdims=True)
    return v / np.maximum(v.std(axis=-1, keepdims=True), 16.0)


def _crop_thumbs(thumb: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(n, len(rows) * len(cols), COMPARE_SIDE**2 * 3) normalised thumbnails of every crop box.

    ``thumb`` is (n, S, S, 3); ``rows`` / ``cols`` are resample matrices of the
    boxes along y / x. Two matrix products (BLAS via tensordot).
    """
    n = len(thumb)
    r = np.tensordot(rows, thumb.astype(np.float32), axes=([2], [1]))   # (ky, C, n, S, 3)
    both = np.tensordot(r, cols, axes=([3], [2]))                       # (ky, C, n, 3, kx, C)
    both = both.transpose(2, 0, 4, 1, 5, 3)                             # (n, ky, kx, C, C, 3)
    return _normalise(both.reshape(n, len(rows) * len(cols), -1))


def _whole_thumbs(thumb: np.ndarray) -> np.ndarray:
    """(n, THUMB_VIEWS, COMPARE_SIDE**2 * 3) normalised whole thumbnails.

    Block means (the sides divide), summed from strided slices in uint16: numpy's
    mean over non-adjacent axes is several times slower on the 100k benchmark.
    """
    f = THUMB_SIDE // COMPARE_SIDE
    t = thumb.astype(np.uint16)
    rows = sum(t[:, :, k::f] for k in range(f))
    blocks = sum(rows[:, :, :, k::f] for k in range(f)).astype(np.float32) / (f * f)
    return _normalise(blocks.reshape(len(thumb), THUMB_VIEWS, -1))


def _rms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(((x - y) ** 2).mean(-1), 0))


# Refine the coarse best box when its distance is below this: a box end off by half a
# grid step (0.02) costs up to ~0.2 on a busy photo, ~0.05 on a colour field.
REFINE_GATE = 0.25
REFINE = (-0.02, -0.01, 0.0, 0.01, 0.02)   # moves of each box end tried around the coarse best


def _refine(thumb: np.ndarray, target: np.ndarray, ybox, xbox, crop: float) -> float:
    """Best distance near a coarse box: each axis's two ends moved by REFINE steps, y then x, twice."""
    best = float(_rms(_crop_thumbs(thumb[None], _resample_matrices([ybox]), _resample_matrices([xbox]))[0, 0], target))
    for _ in range(2):
        for axis in (0, 1):
            a, b = (ybox, xbox)[axis]
            options = [(a + da, b + db) for da in REFINE for db in REFINE
                       if a + da >= 0 and b + db >= 0 and a + da + b + db <= crop + 1e-9]
            m = _resample_matrices(options)
            fixed = _resample_matrices([xbox if axis == 0 else ybox])
            d = _rms(_crop_thumbs(thumb[None], *((m, fixed) if axis == 0 else (fixed, m)))[0], target)
            k = int(np.argmin(d))
            if d[k] < best:
                best = float(d[k])
                ybox, xbox = (options[k], xbox) if axis == 0 else (ybox, options[k])
    return best


def colour_distance(a: Fingerprints, b: Fingerprints, i: np.ndarray, j: np.ndarray,
                    rule: Rule = Rule()) -> np.ndarray:
    """Colour distance of a[i] and b[j] for aligned index arrays.

    The RMS difference of normalised COMPARE_SIDE px thumbnails (whole image or
    trimmed core, whichever pair is closest). Where the wholes differ by more than
    ``rule.colour``: the best over crop boxes (up to ``rule.crop`` of each axis)
    of either image against the other whole, searched on a coarse grid (crops cut
    from the stored thumbnails of a chunk of images at a time, so each comparison
    is one matrix product), then refined around the best box where that is near.
    """
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    if len(i) == 0:
        return np.zeros(0, np.float32)
    boxes = _axis_boxes(rule.crop)
    grid = _resample_matrices(boxes)
    d = COMPARE_SIDE * COMPARE_SIDE * 3
    a_ids, a_loc = np.unique(i, return_inverse=True)
    b_ids, b_loc = np.unique(j, return_inverse=True)
    whole = [_whole_thumbs(fp.thumb[ids]) for fp, ids in ((a, a_ids), (b, b_ids))]
    best = _rms(whole[0][a_loc][:, :, None], whole[1][b_loc][:, None]).min(axis=(1, 2))
    todo = np.flatnonzero(best > rule.colour)
    if len(todo) == 0 or rule.crop == 0:
        return best
    sides = ((a, a_ids, a_loc, whole[1], b_loc), (b, b_ids, b_loc, whole[0], a_loc))
    coarse = np.full((2, len(todo)), np.inf, np.float32)
    where = np.zeros((2, len(todo), 3), np.int64)      # src view, target view, box
    for side, (crops_fp, ids, loc, other, other_loc) in enumerate(sides):
        # crops of this side's image, against the other side's whole views
        src = loc[todo]
        order = np.argsort(src, kind="stable")
        uniq, starts = np.unique(src[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        for c0 in range(0, len(uniq), 32):
            chunk = uniq[c0:c0 + 32]
            crops = _crop_thumbs(crops_fp.thumb[ids[chunk]].reshape(-1, THUMB_SIDE, THUMB_SIDE, 3), grid, grid)
            crops = crops.reshape(len(chunk), -1, d)       # (chunk, views * boxes, D)
            c_sq = (crops ** 2).sum(-1)
            for n in range(len(chunk)):
                sel = order[starts[c0 + n]:ends[c0 + n]]
                w = other[other_loc[todo[sel]]].reshape(-1, d)  # (pairs * views, D)
                sq = c_sq[n][None] + (w ** 2).sum(1)[:, None] - 2 * w @ crops[n].T
                sq = sq.reshape(len(sel), THUMB_VIEWS, -1)
                flat = sq.reshape(len(sel), -1).argmin(1)
                coarse[side, sel] = np.sqrt(np.maximum(sq.reshape(len(sel), -1)[np.arange(len(sel)), flat], 0) / d)
                tv, rest = np.divmod(flat, sq.shape[2])
                where[side, sel] = np.stack([rest // (len(boxes) ** 2), tv, rest % (len(boxes) ** 2)], 1)
    for n in np.flatnonzero(coarse.min(0) <= max(REFINE_GATE, rule.colour)):
        side = int(np.argmin(coarse[:, n]))
        crops_fp, ids, loc, other, other_loc = sides[side]
        sv, tv, box = where[side, n]
        thumb = crops_fp.thumb[ids[loc[todo[n]]], sv]
        ky, kx = divmod(int(box), len(boxes))
        coarse[side, n] = min(coarse[side, n], _refine(thumb, other[other_loc[todo[n]], tv], boxes[ky], boxes[kx], rule.crop))
    best[todo] = np.minimum(best[todo], coarse.min(0))
    return best


def _matches(qa: Fingerprints, rb: Fingerprints | None, rule: Rule):
    """(i, j, hash dist, colour dist) of image pairs passing both tests; ``rb=None``: pairs within qa, i < j."""
    if rb is None:
        i, j, hd = _code_pairs(qa.phash, qa.phash, rule.hash_bits)
        keep = i != j
        i, j, hd = np.minimum(i, j)[keep], np.maximum(i, j)[keep], hd[keep]
        r = qa
    else:
        i1, j1, hd1 = _code_pairs(qa.phash, rb.phash, rule.hash_bits)
        j2, i2, hd2 = _code_pairs(rb.phash, qa.phash, rule.hash_bits)
        i, j, hd = np.concatenate([i1, i2]), np.concatenate([j1, j2]), np.concatenate([hd1, hd2])
        r = rb
    i, j, hd = _closest(i, j, hd, len(r))
    cd = colour_distance(qa, r, i, j, rule)
    keep = cd <= rule.colour
    return i[keep], j[keep], hd[keep], cd[keep]


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
