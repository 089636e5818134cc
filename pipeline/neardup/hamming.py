"""Hamming-radius search over 64-bit codes: every pair within a distance, sub-quadratic.

No image knowledge here: uint64 arrays in, index pairs out. Used by
``pipeline.neardup.detect`` for its candidate search over perceptual hashes.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np


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
        occupied = counts > 0       # a quarter of the table's bytes: the gather below stays in cache
        for flip in _flip_masks(edges[c + 1] - edges[c], radius):
            key = qa[c] ^ flip
            hit = np.flatnonzero(occupied[key])
            if len(hit) == 0:
                continue
            key = key[hit]
            n = counts[key]
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
