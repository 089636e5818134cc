"""Seconds to group 100,000 pHashes (random plus planted near-duplicates) on one core.

    PYTHONPATH=. python benchmarks/dedup_grouping.py [--n 100000] [--bits 8]

Planted copies differ from their original by up to ``--bits`` random bit flips;
the script checks every planted pair was found and prints the time of
``hamming_pairs`` (the candidate search) and of ``group`` (search + colour test +
connected components).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from pipeline.images import dedup as D


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--bits", type=int, default=D.Rule().hash_bits)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n_planted = args.n // 10
    base = rng.integers(0, 2**64, args.n - n_planted, dtype=np.uint64, endpoint=False)
    src = rng.integers(0, len(base), n_planted)
    flips = np.zeros(n_planted, np.uint64)
    for k in range(n_planted):
        for b in rng.choice(64, int(rng.integers(0, args.bits + 1)), replace=False):
            flips[k] |= np.uint64(1) << np.uint64(b)
    codes = np.concatenate([base, base[src] ^ flips])

    t = time.perf_counter()
    i, j, _ = D.hamming_pairs(codes, args.bits)
    t_search = time.perf_counter() - t
    found = set(zip(i.tolist(), j.tolist()))
    missed = sum((int(s), len(base) + k) not in found for k, s in enumerate(src))

    d = D.COLOUR_SIDE ** 2 * 3
    colour = rng.normal(0, 1, (len(base), d)).astype(np.float32)
    colour = np.concatenate([colour, colour[src]])
    fps = D.Fingerprints(np.stack([codes, codes], 1), np.stack([colour, colour], 1),
                         np.ones((len(codes), 2), np.int64))
    t = time.perf_counter()
    groups = D.group(fps, D.Rule(hash_bits=args.bits))
    t_group = time.perf_counter() - t
    print(f"{len(codes)} codes ({n_planted} planted copies within {args.bits} bits): "
          f"candidate search {t_search:.2f}s, {len(i)} pairs, {missed} planted pairs missed; "
          f"group (2 views per image, {2 * len(codes)} codes) {t_group:.2f}s -> {groups.max() + 1} groups")


if __name__ == "__main__":
    main()
