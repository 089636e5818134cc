"""Modes of the synthetic paintings: how many a generator covers and how its mix differs from the training mix.

Labels come from ``pipeline.synthetic.classify`` (mode index, or -1 for
"no clean painting of any mode"). Unclassified samples are left out of the
histogram and reported as their own share.

KL direction and smoothing: KL(q || p) in nats, q the samples' mode histogram,
p the training one, both with a Jeffreys pseudocount of 0.5 per mode. This
direction stays finite when samples miss modes and grows as samples pile into
few modes (all in 3 of 24 equally likely modes: log 8 = 2.08). Even a perfect
generator shows a small positive value from sampling noise, about
(modes - 1) / (2 * classified samples), i.e. ~0.012 for 24 modes and 1,000
samples.
"""
from __future__ import annotations

import numpy as np

PSEUDOCOUNT = 0.5


def histogram(labels: np.ndarray, n_modes: int) -> np.ndarray:
    labels = np.asarray(labels)
    return np.bincount(labels[labels >= 0], minlength=n_modes)


def kl(q_counts: np.ndarray, p_counts: np.ndarray, pseudocount: float = PSEUDOCOUNT) -> float:
    q = (q_counts + pseudocount) / (q_counts.sum() + pseudocount * len(q_counts))
    p = (p_counts + pseudocount) / (p_counts.sum() + pseudocount * len(p_counts))
    return float(np.sum(q * np.log(q / p)))


def mode_metrics(sample_labels: np.ndarray, train_labels: np.ndarray, n_modes: int,
                 min_count: int = 5) -> dict[str, float | None]:
    """Mode coverage of samples against training labels (both arrays of ints, -1 = unclassified).

    ``covered``: modes with >= 1 sample; ``covered_min_count``: with >= ``min_count``;
    ``train_modes``: modes present in training; ``kl``: KL(q || p) as above, None
    when no sample is classified; ``unclassified_share``: share of samples labelled -1.
    """
    q, p = histogram(sample_labels, n_modes), histogram(train_labels, n_modes)
    return {
        "covered": int(np.sum(q >= 1)),
        "covered_min_count": int(np.sum(q >= min_count)),
        "train_modes": int(np.sum(p >= 1)),
        "kl": kl(q, p) if q.sum() else None,      # no classified sample: no histogram to compare
        "unclassified_share": float(np.mean(np.asarray(sample_labels) < 0)),
        "n_samples": int(len(sample_labels)),
    }


def classify_in_chunks(classify, images: np.ndarray, chunk: int = 64) -> np.ndarray:
    """``classify`` over ``images`` in chunks (it holds an N x modes x pixels array)."""
    return np.concatenate([classify(images[i:i + chunk]) for i in range(0, len(images), chunk)]) \
        if len(images) else np.zeros(0, np.int64)
