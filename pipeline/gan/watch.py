"""Quality watch: the evaluation's figures on a few hundred samples, during training, and the collapse rule.

``QualityWatch(reals, n)`` is built once per stage from the training images at the
stage's resolution; calling it with ``n`` generator samples (uint8 NHWC) returns
k-NN precision/recall in the evaluation's fixed feature space (``pipeline.metrics.prdc``),
SWD x1e3 (``pipeline.metrics.swd``, from 16 px up) and, where the reals are the
synthetic colour fields (a family of ``pipeline.synthetic`` labels at least
SYNTHETIC_SHARE of them), the mode figures. Its ``floor`` holds the same figures
of a second, disjoint set of reals: what a perfect generator would show at this count.

``CollapseRule`` turns one watch into a verdict; see its docstring for the rule.
``plateau_figure`` is the one number a stage's plateau rule (``patience_kimg``) follows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.synthetic import detect
from pipeline.metrics import modes, prdc, swd

SEED = 7
# Mode figures only where this share of the reals is a clean painting of a known mode:
# the synthetic source gives 0.95 at 8 px and >= 0.99 from 16 px up; other data gives ~0.
SYNTHETIC_SHARE = 0.9
TOP = 3   # "piles into few modes": share of classified samples in the TOP most frequent modes
# A watch counts as better than the best so far only by more than this: with 256 samples,
# precision and recall move in steps of 1/256, and a few samples either way is noise (not measured).
MIN_DELTA = 0.01


@dataclass(frozen=True)
class CollapseRule:
    """When a watch says "collapsed"; every threshold is relative to the reals' own figures.

    - Missing modes: fewer than ``modes`` x the modes a faithful generator would show
      with as many classified samples (the expectation under the reals' mode mix);
    - piled modes: at least ``top3`` of the classified samples in the 3 most frequent modes;
    - lost coverage: recall below ``recall`` x the reals' recall while precision is at
      least ``recall`` x the reals' (low precision too means "not trained yet", not collapse).

    The mode tests need at least ``min_classified`` x the number of modes of classified
    samples, so an untrained generator (nothing classified) is not judged on them.
    Measured on rendered paintings, 128 and 256 per set, 16-64 px (as tests/test_gan_watch.py
    draws them): all 24 modes give 1.0x modes, top-3 share 0.13-0.20, recall 0.98-1.12x the
    reals'; half the modes give 0.5x modes, top-3 0.30-0.37, recall 0.52-0.80x; 90% in 3 modes
    gives 0.38-0.79x modes, top-3 0.86-0.94, recall 0.51-0.96x. Recall alone separates them
    poorly, so on synthetic data the mode tests do the work; recall catches coarser collapse.
    """
    modes: float = 0.75
    top3: float = 0.5
    recall: float = 0.5
    min_classified: float = 2.0

    def reasons(self, w: dict) -> list[str]:
        """Why watch figures ``w`` (a ``QualityWatch`` result) count as collapse; empty if they do not."""
        out = []
        if w.get("classified", 0) >= self.min_classified * w.get("n_modes", float("inf")):
            if w["modes"] < self.modes * w["modes_expected"]:
                out.append(f"{w['modes']:.0f} modes of {w['modes_expected']:.1f} expected")
            if w["top3_share"] >= self.top3:
                out.append(f"{w['top3_share']:.0%} of classified samples in {TOP} modes")
        if w["recall"] < self.recall * w["real_recall"] and w["precision"] >= self.recall * w["real_precision"]:
            out.append(f"recall {w['recall']:.2f} against the reals' {w['real_recall']:.2f}")
        return out


def plateau_figure(w: dict) -> float:
    """The watched quality of a ``QualityWatch`` result: the harmonic mean of precision and recall.

    Exists on any data (unlike modes) and at any size (unlike SWD); recall alone rises with noisy,
    wide-spread samples and precision alone with collapse, so the stage must improve both.
    """
    p, r = w["precision"], w["recall"]
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def expected_modes(real_labels: np.ndarray, k: int, n_modes: int) -> float:
    """Modes a generator drawing ``k`` classified samples from the reals' mode mix covers on average."""
    p = modes.histogram(real_labels, n_modes) / max(int(np.sum(real_labels >= 0)), 1)
    return float(np.sum(1 - (1 - p) ** k))


class QualityWatch:
    """Figures of ``n`` samples against ``n`` fixed reals; the reals' side is computed once."""

    def __init__(self, reals: np.ndarray, n: int, seed: int = SEED):
        rng = np.random.default_rng(seed)
        n = min(n, len(reals) // 2)
        if n <= prdc.K:
            raise ValueError(f"the watch needs more than {2 * prdc.K} training images, got {len(reals)}")
        perm = rng.permutation(len(reals))
        ref, other = reals[np.sort(perm[:n])], reals[np.sort(perm[n:2 * n])]
        self.n, self.seed = n, seed
        self.features = prdc.features(ref)
        self.swd_reference = swd.Reference(ref, seed) if ref.shape[1] >= swd.MIN_RESOLUTION else None
        self.family, self.labels = detect(ref)
        self.synthetic = float(np.mean(self.labels >= 0)) >= SYNTHETIC_SHARE
        self.floor = {f"real_{k}": v for k, v in self.measure(other).items()
                      if k in ("precision", "recall", "swd", "modes", "unclassified", "top3_share")}

    def measure(self, samples: np.ndarray) -> dict[str, float]:
        """precision, recall, swd (NaN below 16 px) and, on synthetic reals, n_modes (of their family),
        modes, modes_expected, classified (count), unclassified (share) and top3_share (of the classified)."""
        if len(samples) != self.n:
            raise ValueError(f"the watch compares {self.n} samples, got {len(samples)}")
        pr = prdc.prdc(self.features, prdc.features(samples))
        out = {"precision": pr["precision"], "recall": pr["recall"],
               "swd": swd.swd_to(self.swd_reference, samples)[1] if self.swd_reference is not None else float("nan")}
        if self.synthetic:
            n_modes = len(self.family.modes)
            labels = self.family.classify(samples)
            counts = modes.histogram(labels, n_modes)
            classified = int(counts.sum())
            out |= {"n_modes": n_modes, "modes": int(np.sum(counts > 0)), "modes_expected": expected_modes(self.labels, classified, n_modes),
                    "classified": classified, "unclassified": 1 - classified / len(samples),
                    "top3_share": float(np.sort(counts)[-TOP:].sum() / classified) if classified else float("nan")}
        return out

    def __call__(self, samples: np.ndarray) -> dict[str, float]:
        """``measure(samples)`` with the reals' floor (``real_*``) beside it."""
        return self.measure(samples) | self.floor
