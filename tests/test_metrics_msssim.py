import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from metrics_helpers import paintings
from pipeline.metrics.msssim import _ssim_cs, mean_pairwise, ms_ssim, random_pairs


def test_identical_images_score_one_and_repeated_set_scores_one():
    x = paintings(4, 32)
    np.testing.assert_allclose(ms_ssim(x, x), 1.0, atol=1e-5)
    assert mean_pairwise(np.repeat(x[:1], 10, axis=0), pairs=20, seed=0) == pytest.approx(1.0, abs=1e-5)


def test_real_pairs_are_far_from_one():
    assert mean_pairwise(paintings(48, 32), pairs=40, seed=0) < 0.6


def test_single_scale_ssim_matches_scikit_image():
    a, b = paintings(3, 64, seed=1), paintings(3, 64, seed=2)
    x = torch.tensor(a).permute(0, 3, 1, 2).float()
    y = torch.tensor(b).permute(0, 3, 1, 2).float()
    mine = _ssim_cs(x, y, 255.0)[0].numpy()
    ref = [structural_similarity(a[i], b[i], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=255, channel_axis=2) for i in range(3)]
    np.testing.assert_allclose(mine, ref, atol=1e-4)


def test_ms_ssim_matches_torchmetrics():
    tm = pytest.importorskip("torchmetrics.functional.image")
    # 5 scales of an 11x11 window need >= 176 px in torchmetrics
    a = paintings(4, 192, seed=1)
    b = np.concatenate([paintings(2, 192, seed=2, modes=[0, 1]), a[2:] // 2 + 60])
    mine = ms_ssim(a, b)
    ref = tm.multiscale_structural_similarity_index_measure(
        torch.tensor(a).permute(0, 3, 1, 2).float(), torch.tensor(b).permute(0, 3, 1, 2).float(),
        data_range=255.0, reduction="none", normalize="relu").numpy()
    # torchmetrics averages the last scale's SSIM over its reflection-padded border as well;
    # everything else is identical, which leaves differences of about 0.01
    np.testing.assert_allclose(mine, ref, atol=0.02)
    assert np.argsort(mine).tolist() == np.argsort(ref).tolist()


def test_random_pairs_never_pair_an_image_with_itself():
    i, j = random_pairs(5, 500, seed=0)
    assert np.all(i != j) and set(i) == set(range(5))


def test_smallest_images_for_five_scales():
    x = paintings(3, 16)
    np.testing.assert_allclose(ms_ssim(x, x), 1.0, atol=1e-5)
    assert np.all(ms_ssim(x, x[::-1].copy())[[0, 2]] < 1)


def test_random_pairs_draw_every_ordered_pair():
    """Uniform over pairs i != j: with 4 images all 12 ordered pairs come up, and 2 images still pair.
    (Mutation benchmark: kills msssim.py:85 ``rng.integers(1, n)`` -> ``(2, n)``, which never pairs i with i + 1.)"""
    i, j = random_pairs(4, 400, seed=0)
    assert set(zip(i.tolist(), j.tolist())) == {(a, b) for a in range(4) for b in range(4) if a != b}
    i, j = random_pairs(2, 10, seed=0)
    assert set(zip(i.tolist(), j.tolist())) <= {(0, 1), (1, 0)}


@pytest.mark.parametrize("side", [9, 10])
def test_single_scale_ssim_below_the_window_matches_scikit_image(side):
    """Scales under 11 px (the coarse scales of 16-32 px images) use the largest odd window, sigma scaled
    with it, as scikit-image does. (Mutation benchmark: kills msssim.py:41 ``side % 2`` -> ``side % 4``,
    an even window at 10 px.)"""
    a = np.ascontiguousarray(paintings(2, 32, seed=1)[:, :side, :side])
    b = np.ascontiguousarray(paintings(2, 32, seed=2)[:, :side, :side])
    mine = _ssim_cs(torch.tensor(a).permute(0, 3, 1, 2).float(), torch.tensor(b).permute(0, 3, 1, 2).float(),
                    255.0)[0].numpy()
    window = side if side % 2 else side - 1
    ref = [structural_similarity(a[i], b[i], gaussian_weights=True, sigma=1.5 * window / 11,
                                 use_sample_covariance=False, data_range=255, channel_axis=2) for i in range(2)]
    np.testing.assert_allclose(mine, ref, atol=1e-4)
