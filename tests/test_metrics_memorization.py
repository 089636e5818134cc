import numpy as np

from metrics_helpers import paintings
from pipeline.neardup.detect import Rule
from pipeline.metrics.memorization import memorization, nearest_panel


def test_planted_copies_are_flagged_and_located():
    train = paintings(80, 32, seed=1)
    samples = paintings(40, 32, seed=2)
    planted = [3, 11, 25]
    samples[planted] = train[[5, 40, 77]]
    result = memorization(samples, train, Rule())
    assert result.copy_of[planted].tolist() == [5, 40, 77]
    assert result.nn_index[planted].tolist() == [5, 40, 77]
    np.testing.assert_allclose(result.nn_distance[planted], 0.0, atol=1e-6)
    m = result.metrics()
    assert m["copy_share"] == 3 / 40
    # novel samples are about as close to the training set as training images are to each other
    novel = memorization(paintings(40, 32, seed=2), train, Rule()).metrics()
    assert novel["copy_share"] == 0.0
    assert 0.2 < novel["closer_than_train_share"] < 0.8


def test_a_generator_that_copies_everything_is_always_closer_than_train():
    train = paintings(60, 32, seed=1)
    m = memorization(train[::2].copy(), train, Rule()).metrics()
    assert m["closer_than_train_share"] == 1.0
    assert m["copy_share"] == 1.0
    assert m["nn_distance_median"] < 1e-6 < m["train_nn_distance_median"]


def test_panel_puts_the_closest_pair_first():
    train = paintings(20, 16, seed=1)
    samples = paintings(6, 16, seed=2)
    samples[4] = train[9]
    result = memorization(samples, train, Rule())
    panel = nearest_panel(samples, train, result, pairs=3)
    assert panel.shape == (2 * 18 + 2, 3 * 18 + 2, 3)
    np.testing.assert_array_equal(panel[2:18, 2:18], samples[4])
    np.testing.assert_array_equal(panel[20:36, 2:18], train[9])
