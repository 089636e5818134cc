"""Score real held-out images and the known-bad generators with the evaluation's metrics.

``calibrate(train, held_out)`` measures, for the held-out real images and for every
generator of ``pipeline.metrics.knownbad`` (made from ``train``), what the evaluate
stage reports: KID, k-NN precision/recall with their split intervals, the copy share
with its interval and SWD. ``verdicts`` says whether each generator falls behind the
held-out reals, beyond both intervals, on the metric meant to catch it.
"""
from __future__ import annotations

import numpy as np

from pipeline.metrics import knownbad, memorization, prdc, swd
from pipeline.metrics.report import split_metrics
from pipeline.neardup.rule import Rule

REALS = "held-out reals"


def score(samples: np.ndarray, train: np.ndarray, seed: int = 0) -> dict:
    """The evaluation's figures of ``samples`` against ``train`` (uint8 NHWC, same size)."""
    half = len(train) // 2
    n = min(half, len(samples))
    pr, kd = split_metrics(samples[:n], train, n, seed)
    mem = memorization.memorization(samples, train, Rule()).metrics()
    a = train[np.random.default_rng(seed).permutation(len(train))[:n]]
    before = prdc.prdc(prdc.features(a), prdc.features(samples[:n]))
    return {"kid": kd["samples"], "kid_lo": kd["samples_lo"], "kid_hi": kd["samples_hi"],
            **{k: pr[k] for k in ("precision", "precision_lo", "precision_hi", "recall", "recall_lo", "recall_hi")},
            "copies": mem["copy_share"], "copies_lo": mem["copy_share_lo"], "copies_hi": mem["copy_share_hi"],
            "swd": swd.swd(a, samples[:n], seed=seed)[1],
            "before_precision": before["precision"], "before_recall": before["recall"]}


def calibrate(train: np.ndarray, held_out: np.ndarray, seed: int = 0) -> dict[str, dict]:
    """Rows by generator name (the held-out reals first), each with the metric meant to catch it."""
    rng = np.random.default_rng(seed)
    rows = {REALS: {**score(held_out, train, seed), "caught_by": ""}}
    for name, (make, caught_by) in knownbad.GENERATORS.items():
        rows[name] = {**score(make(train, len(held_out), rng), train, seed), "caught_by": caught_by}
    return rows


# metric meant to catch a generator -> (figure, True when worse means higher)
CATCH = {"realism": ("kid", True), "coverage": ("recall", False), "copies": ("copies", True)}


def verdicts(rows: dict[str, dict]) -> dict[str, str]:
    """``caught`` or ``MISSED`` per generator: its interval on its metric clear of the held-out reals'."""
    real = rows[REALS]
    out = {}
    for name, row in rows.items():
        if name == REALS:
            continue
        key, higher_is_worse = CATCH[row["caught_by"]]
        caught = row[f"{key}_lo"] > real[f"{key}_hi"] if higher_is_worse else row[f"{key}_hi"] < real[f"{key}_lo"]
        out[name] = "caught" if caught else "MISSED"
    return out
