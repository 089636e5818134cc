"""Seconds to group 100,000 images' hashes (random plus planted near-duplicates) on one core.

    PYTHONPATH=. python benchmarks/dedup_grouping.py [--n 100000] [--bits 8] [--colour-bits 5]

Planted copies differ from their original by up to ``--bits`` random bit flips;
the script checks every planted pair was found and prints the time of
``hamming_pairs`` (the candidate search, one code per image) and of ``group``
(every image with ``VIEWS`` distinct pHash codes and two colour codes: whole and
trimmed views searched against all views, colour codes against colour codes,
colour test, connected components). The colour codes are made from the
thumbnails before the clock starts, as the dedup stage makes them while reading
the fingerprints.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one core

import argparse
import time

import numpy as np

from pipeline.neardup import detect as D
from pipeline.neardup.hamming import hamming_pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--bits", type=int, default=D.Rule().hash_bits)
    ap.add_argument("--colour-bits", type=int, default=D.Rule().colour_bits)
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
    i, j, _ = hamming_pairs(codes, args.bits)
    t_search = time.perf_counter() - t
    found = set(zip(i.tolist(), j.tolist()))
    missed = sum((int(s), len(base) + k) not in found for k, s in enumerate(src))

    # every image gets distinct codes for all its views (worst case for the search: no
    # equal codes to share), and a random colour thumbnail that its planted copy shares
    views = rng.integers(0, 2**64, (len(codes), D.VIEWS), dtype=np.uint64, endpoint=False)
    views[:, 0] = codes
    views[len(base):] = views[src] ^ flips[:, None]
    thumb = rng.integers(0, 256, (len(base), D.THUMB_VIEWS, D.THUMB_SIDE, D.THUMB_SIDE, 3), dtype=np.uint8)
    fps = D.Fingerprints(views, np.concatenate([thumb, thumb[src]]), np.ones((len(codes), 2), np.int64))
    t = time.perf_counter()
    groups = D.group(fps, D.Rule(hash_bits=args.bits, colour_bits=args.colour_bits))
    t_group = time.perf_counter() - t
    print(f"{len(codes)} codes ({n_planted} planted copies within {args.bits} bits): "
          f"candidate search {t_search:.2f}s, {len(i)} pairs, {missed} planted pairs missed; "
          f"group ({D.VIEWS} distinct views per image, {D.VIEWS * len(codes)} codes) {t_group:.2f}s -> {groups.max() + 1} groups")


if __name__ == "__main__":
    main()
