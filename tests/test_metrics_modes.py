import math

import numpy as np
import pytest

from metrics_helpers import paintings
from pipeline.metrics.modes import classify_in_chunks, kl, mode_metrics
from pipeline.synthetic import classify


def test_matching_histograms_have_near_zero_kl_and_full_coverage():
    labels = np.arange(240) % 24
    m = mode_metrics(labels, labels, 24)
    assert m["covered"] == 24 == m["train_modes"]
    assert m["kl"] == pytest.approx(0.0, abs=1e-12)
    assert m["unclassified_share"] == 0.0


def test_collapse_to_three_modes():
    train = np.arange(2400) % 24
    samples = np.array([0, 5, 9] * 333 + [-1])
    m = mode_metrics(samples, train, 24, min_count=5)
    assert m["covered"] == 3 == m["covered_min_count"]
    assert m["kl"] == pytest.approx(math.log(8), abs=0.1)  # log 8 less the smoothing
    assert m["unclassified_share"] == pytest.approx(1 / 1000)


def test_min_count_separates_stray_samples_from_covered_modes():
    samples = np.array([0] * 50 + [1] * 50 + [2, 3])
    m = mode_metrics(samples, np.arange(24), 24, min_count=5)
    assert m["covered"] == 4 and m["covered_min_count"] == 2


def test_kl_is_finite_with_missing_modes_and_grows_with_concentration():
    p = np.full(24, 10)
    assert math.isfinite(kl(np.r_[100, np.zeros(23)], p))
    assert kl(np.r_[100, np.zeros(23)], p) > kl(np.r_[50, 50, np.zeros(22)], p) > 0


def test_classified_paintings_give_their_modes():
    x = paintings(30, 32, modes=[4, 17])
    labels = classify_in_chunks(classify, x, chunk=7)
    assert labels.tolist() == [4, 17] * 15
    noise = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    assert mode_metrics(classify(noise), labels, 24)["unclassified_share"] == 1.0
