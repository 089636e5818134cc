import numpy as np
import pytest

from metrics_helpers import paintings
from pipeline.metrics.swd import laplacian_pyramid, levels, swd


def test_levels_go_down_to_16_px():
    assert levels(64) == [64, 32, 16]
    assert levels(32) == [32, 16]
    assert levels(16) == [16]


def test_laplacian_pyramid_reconstructs_the_image():
    from pipeline.metrics.swd import _pyr_up
    images = paintings(2, 32).transpose(0, 3, 1, 2)
    x = images.astype(np.float32)
    fine, coarse = laplacian_pyramid(images, 2)
    assert fine.shape == (2, 3, 32, 32) and coarse.shape == (2, 3, 16, 16)
    np.testing.assert_allclose(fine + _pyr_up(coarse), x, atol=1e-3)


def test_same_distribution_is_near_the_real_floor_and_shifted_colours_rise():
    real_a, real_b = paintings(64, 32, seed=1), paintings(64, 32, seed=2)
    samples = paintings(64, 32, seed=3)
    _, floor = swd(real_a, real_b)
    _, same = swd(real_a, samples)
    # identical sets: only the random patches differ, so the value sits at or below the floor
    _, identical = swd(real_a, real_a.copy())
    # Half the samples turn warmer: the colour distribution across images shifts. (A shift of
    # every image alike is normalised away by ProGAN's per-set descriptor normalisation.)
    shifted = samples.copy()
    shifted[::2] = np.clip(samples[::2].astype(int) + [70, 0, -70], 0, 255)
    _, shift = swd(real_a, shifted)
    assert identical <= floor * 1.3
    assert same < floor * 1.5
    assert shift > 1.6 * max(floor, same)


def test_collapse_to_few_modes_rises_far_above_the_floor():
    real_a, real_b = paintings(64, 32, seed=1), paintings(64, 32, seed=2)
    _, floor = swd(real_a, real_b)
    _, collapsed = swd(real_a, paintings(64, 32, seed=3, modes=[0, 7]))
    assert collapsed > 3 * floor


def test_per_level_values_and_determinism():
    a, b = paintings(32, 64, seed=1), paintings(32, 64, seed=2)
    per_level, avg = swd(a, b, seed=5)
    assert list(per_level) == [64, 32, 16]
    assert avg == pytest.approx(np.mean(list(per_level.values())))
    assert swd(a, b, seed=5) == (per_level, avg)


def test_rejects_unequal_sets():
    with pytest.raises(ValueError):
        swd(paintings(4, 32), paintings(5, 32))


def test_a_flat_image_lies_in_the_coarsest_level():
    """The 5x5 binomial filter sums to one, so a flat image keeps its value when reduced and its finer
    Laplacian level is zero. (Mutation benchmark: kills swd.py:27-30 ``_GAUSS`` entries ``1`` -> ``2``,
    ``24`` -> ``48``, ``16`` -> ``32``.)"""
    fine, coarse = laplacian_pyramid(np.full((1, 3, 32, 32), 100, np.uint8), 2)
    np.testing.assert_allclose(coarse, 100, atol=1e-3)
    np.testing.assert_allclose(fine, 0, atol=1e-3)
