"""KID in the texture feature space: the unbiased estimator against a direct sum, and what it sees."""
import itertools

import numpy as np
import scipy.ndimage
import torch

from metrics_helpers import paintings
from pipeline.metrics import kid


def _direct_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 written as the plain double sums (Gretton et al. 2012, eq. 3)."""
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_kid_is_the_unbiased_mmd_of_the_cubic_kernel():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(0.5, 1, size=(9, 5))
    assert abs(kid.kid(torch.as_tensor(x), torch.as_tensor(y)) - _direct_mmd(x, y)) < 1e-9


def test_same_distribution_scores_near_zero_and_blur_far_above():
    reals = paintings(120, 64, seed=0)
    f = kid.features(reals)
    standard = kid.standardiser(f)
    a, b = standard(f[:60]), standard(f[60:])
    blurred = scipy.ndimage.gaussian_filter(reals[60:].astype(np.float32), (0, 1, 1, 0)).round().astype(np.uint8)
    same, blur = kid.kid(a, b), kid.kid(a, standard(kid.features(blurred)))
    assert abs(same) < 0.3
    assert blur > 1.0


def test_features_measure_every_resolution_at_one_side():
    reals = paintings(4, 32, seed=1)
    assert kid.features(reals).shape == kid.features(np.repeat(np.repeat(reals, 2, 1), 2, 2)).shape
