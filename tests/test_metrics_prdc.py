import numpy as np
import torch

from metrics_helpers import paintings
from pipeline.metrics.prdc import features, prdc


def test_features_are_fixed_and_resolution_independent_in_shape():
    x = paintings(4, 32)
    f = features(x)
    assert f.shape == (4, 480)
    assert torch.equal(f, features(x))
    assert features(paintings(4, 64)).shape == (4, 480)


def test_same_distribution_has_high_precision_and_recall():
    real, fake = features(paintings(120, 32, seed=1)), features(paintings(120, 32, seed=2))
    m = prdc(real, fake)
    assert m["precision"] > 0.8 and m["recall"] > 0.8 and m["coverage"] > 0.7


def test_collapse_keeps_precision_but_loses_recall():
    real = features(paintings(120, 32, seed=1))
    collapsed = features(paintings(120, 32, seed=2, modes=[0, 9]))
    m = prdc(real, collapsed)
    assert m["precision"] > 0.7
    assert m["recall"] < 0.3 and m["coverage"] < 0.3


def test_noise_has_low_precision():
    real = features(paintings(120, 32, seed=1))
    noise = features(np.random.default_rng(0).integers(0, 256, (120, 32, 32, 3), dtype=np.uint8))
    assert prdc(real, noise)["precision"] < 0.1
