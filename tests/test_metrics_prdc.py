import numpy as np
import pytest
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


def test_a_worked_example_by_hand():
    """k = 1 on a line. Real 0, 1, 2, 6; fake 4, 8, 20, 21.

    Radii (distance to the nearest other point of the same set): real 1, 1, 1, 4; fake 4, 4, 1, 1.
    Precision: fakes within some real ball (strictly): 4 and 8 (both 2 from 6 < 4) -> 2/4.
    Recall: reals within some fake ball: 1 (3 from 4 < 4), 2, 6; not 0 (4 from 4 is not < 4) -> 3/4.
    Density: real balls holding each fake, averaged, over k: (1 + 1 + 0 + 0) / 4 -> 0.5.
    Coverage: reals whose nearest fake is inside their own ball: only 6 -> 1/4.
    Recall computed with the real radii would be 1/4, and radii off by one neighbour move every figure.
    """
    real = torch.tensor([[0.0], [1.0], [2.0], [6.0]])
    fake = torch.tensor([[4.0], [8.0], [20.0], [21.0]])
    assert prdc(real, fake, k=1) == {"precision": 0.5, "recall": 0.75, "density": 0.5, "coverage": 0.25}


def test_the_kth_neighbour_sets_the_radius():
    """k = 2: each radius is the second-nearest other point. Real 0, 1, 3, 7 -> 3, 2, 3, 6; fake 0.5, 10, 11 -> 10.5, 9.5, 10.5.

    Precision: 0.5 (in 0's ball), 10 and 11 (4 from 7 < 6) -> 1. Recall: every real is within 10.5 of 0.5 -> 1.
    Density: fake 0.5 lies in the balls of 0, 1, 3 (0.5 < 3, 0.5 < 2, 2.5 < 3) and not 7's (6.5); 10 in 7's (3 < 6);
    11 in 7's (4 < 6): (3 + 1 + 1) / 3 / k = 5/6. Coverage: 0 (0.5 < 3), 1 (0.5 < 2), 3 (2.5 < 3), 7 (3 < 6) -> 1.
    """
    real = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    fake = torch.tensor([[0.5], [10.0], [11.0]])
    m = prdc(real, fake, k=2)
    assert m["precision"] == 1.0 and m["recall"] == 1.0 and m["coverage"] == 1.0
    assert m["density"] == pytest.approx(5 / 6)


def test_the_feature_network_is_pinned():
    """Precision and recall logged by different versions compare only while the random network is the same:
    the first feature of each layer for one gradient image, recorded from this implementation.
    (Mutation benchmark: kills prdc.py:37 He scale ``2.0`` -> ``3.0`` and prdc.py:55 ``/ 127.5 - 1`` -> ``- 0``.)"""
    y, x = np.mgrid[0:32, 0:32]
    image = np.stack([x * 8, y * 8, (x + y) * 4], -1).astype(np.uint8)[None]
    f = features(image)[0]
    assert f[[0, 32, 96, 224]].tolist() == pytest.approx([0.0645095, 0.0295825, 0.0182528, 0.0238321], rel=1e-4)


def test_evaluate_accepts_the_smallest_set_prdc_can_measure():
    """prdc needs more than K features per set: evaluate.prdc_images accepts K + 1 and refuses K.
    (Mutation benchmark: kills settings.py:22 ``minimum=4`` -> ``5``.)"""
    from pipeline.metrics.prdc import K
    from pipeline.metrics.settings import Settings
    from pipeline.params import ParamError
    f = features(paintings(K + 1, 16))
    assert prdc(f, f)["precision"] == 1.0
    assert Settings.from_params({"prdc_images": K + 1}).prdc_images == K + 1
    with pytest.raises(ParamError, match="prdc_images"):
        Settings.from_params({"prdc_images": K})
