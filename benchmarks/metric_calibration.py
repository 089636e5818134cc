"""Do the evaluation's metrics rank known-bad generators below real images, beyond their intervals?

Two sets of real images: scikit-image's colour photographs in 96 px tiles, and
synthetic paintings. Each set is split in two: ``train`` (what a generator
learnt from: the metrics' reference) and ``held-out`` real images, scored
exactly like a generator's samples -- the row every known-bad generator
(``pipeline.metrics.knownbad``, made from the train images) must fall behind on
the metric meant to catch it. Intervals are the 10th-90th percentile over random
real halves (KID, precision, recall) or an 80 % Wilson interval (copies).

    python benchmarks/metric_calibration.py            # both sets at about 85 train images
    python benchmarks/metric_calibration.py --n 40     # fewer: where do the metrics stop telling?

"Before" columns are today's evaluation before calibration: one real half,
random-conv k-NN precision and recall, no interval.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.metrics import knownbad  # noqa: E402
from pipeline.metrics.calibration import calibrate, verdicts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=0, help="train images per set (0: all, about 85)")
    args = ap.parse_args()
    for name, images in (("photos", knownbad.photo_tiles(tile=96, per_photo=30)),
                         ("synthetic", knownbad.synthetic_set(170))):
        order = np.random.default_rng(1).permutation(len(images))
        train, held = images[order[0::2]], images[order[1::2]]
        if args.n:
            train, held = train[:args.n], held[:args.n]
        rows = calibrate(train, held, seed=0)
        print(f"\n## {name}: {len(train)} train images, {len(held)} held-out real images, "
              f"{len(held)} samples per generator, {len(train) // 2} real images per half")
        print("| generator | caught by | KID | precision | recall | copies | SWD x1e3 "
              "| before: precision | before: recall | verdict |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for gen, r in rows.items():
            v = verdicts(rows).get(gen, "")
            print(f"| {gen} | {r['caught_by']} | {r['kid']:.2f} [{r['kid_lo']:.2f}, {r['kid_hi']:.2f}] "
                  f"| {r['precision']:.2f} [{r['precision_lo']:.2f}, {r['precision_hi']:.2f}] "
                  f"| {r['recall']:.2f} [{r['recall_lo']:.2f}, {r['recall_hi']:.2f}] "
                  f"| {r['copies']:.2f} [{r['copies_lo']:.2f}, {r['copies_hi']:.2f}] | {r['swd']:.1f} "
                  f"| {r['before_precision']:.2f} | {r['before_recall']:.2f} | {v} |")


if __name__ == "__main__":
    main()
