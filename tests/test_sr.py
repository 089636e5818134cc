"""The upscaler's library: its degradation keeps pairs aligned, its net starts as bicubic, tiles leave no
seams, and its quality measures agree with independent implementations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from model_helpers import random_upscaler
from pipeline.sr.degrade import Degradation, Patches
from pipeline.sr.net import Upscaler
from pipeline.sr.quality import CLASSIC, compare, gradient_energy, psnr, reduce, ssim
from pipeline.sr.tiles import crop_box, enlarge, passes_for, upscale
from pipeline.synthetic import render

torch.set_num_threads(1)


def painting(seed: int = 0, size: int = 128) -> np.ndarray:
    return render(seed % 24, size, np.random.default_rng(seed))


def best_shift(small: torch.Tensor, large: torch.Tensor, scale: int, reach: int = 3) -> tuple[int, int]:
    """The shift (dy, dx), in large px, that best lines the bicubic enlargements of ``small`` up with ``large``
    (one pair (3, h, w), or a batch of pairs summed over)."""
    small, large = (x if x.ndim == 4 else x[None] for x in (small, large))
    up = F.interpolate(small.float() / 255, scale_factor=scale, mode="bicubic", align_corners=False)
    ref = large.float() / 255
    m = 2 * reach + scale
    errors = {}
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            a = up[..., m:-m, m:-m]
            b = ref[..., m + dy:ref.shape[-2] - m + dy, m + dx:ref.shape[-1] - m + dx]
            errors[dy, dx] = float((a - b).abs().mean())
    return min(errors, key=errors.get)


@pytest.mark.parametrize("deg", [Degradation(blur=0, noise=0, jpeg=0), Degradation()], ids=["plain", "default"])
def test_a_degraded_pair_lines_up_to_the_pixel(deg):
    torch.manual_seed(0)
    patches = Patches([torch.from_numpy(painting(i)).permute(2, 0, 1).contiguous() for i in range(6)], 96, deg)
    small, large = patches.batch(12)
    assert small.shape == (12, 3, 24, 24) and large.shape == (12, 3, 96, 96)
    assert best_shift(small * 255, large * 255, 4) == (0, 0)


def test_the_alignment_check_sees_a_one_pixel_shift():
    """The test above would fail on pairs cut one pixel apart: the check finds that pixel."""
    torch.manual_seed(0)
    image = torch.from_numpy(painting(3)).permute(2, 0, 1).contiguous()
    deg = Degradation(blur=0, noise=0, jpeg=0)
    large = image[:, 20:116, 20:116]
    assert best_shift(deg(large), large, 4) == (0, 0)
    assert best_shift(deg(image[:, 21:117, 20:116]), large, 4) == (1, 0)    # cut one pixel lower than its partner
    assert best_shift(deg(image[:, 20:116, 19:115]), large, 4) == (0, -1)   # one pixel to the left


def test_degradations_draw_their_own_strength_per_patch():
    torch.manual_seed(0)
    image = torch.from_numpy(painting(5, 96)).permute(2, 0, 1).contiguous()
    plain = Degradation(blur=0, noise=0, jpeg=0)(image)
    # bicubic or bilinear per draw, blur and noise of random strength: copies differ from each other
    copies = [Degradation(blur=2.0, noise=4.0, jpeg=0.5)(image) for _ in range(6)]
    diffs = [float((c.float() - plain.float()).abs().mean()) for c in copies]
    assert len({round(d, 3) for d in diffs}) == 6 and max(diffs) > 1.0
    assert all(c.dtype == torch.uint8 and c.shape == (3, 24, 24) for c in copies)


def test_patches_replay_from_the_saved_rng_state():
    images = [torch.from_numpy(painting(i)).permute(2, 0, 1).contiguous() for i in range(3)]
    patches = Patches(images, 64, Degradation())
    torch.manual_seed(1)
    state = torch.get_rng_state()
    a = patches.batch(4)
    torch.set_rng_state(state)
    b = patches.batch(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_a_fresh_net_is_bicubic_and_its_reach_bounds_what_an_output_pixel_sees():
    x = torch.rand(1, 3, 20, 20)
    net = Upscaler(8, 3, 4)
    bicubic = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(net(x), bicubic)
    net = random_upscaler(8, 3)
    y = x.clone()
    y[..., 0, 0] = 1 - y[..., 0, 0]       # change one input pixel: outputs beyond the reach stay put
    changed = (net(x) - net(y)).abs().amax(1)[0] > 0
    rows, cols = torch.nonzero(changed, as_tuple=True)
    assert rows.max() < (net.reach + 1) * 4 and cols.max() < (net.reach + 1) * 4


@pytest.mark.parametrize("tile", [7, 16, 33])
def test_tiles_give_the_whole_image_result_within_rounding(tile):
    net = random_upscaler(8, 3)
    image = painting(2, 64)[:50, :61]
    whole = upscale(net, image, tile=1000)
    tiled = upscale(net, image, tile=tile)
    assert whole.shape == (200, 244, 3)
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_a_print_chains_learned_passes_then_lanczos():
    net = random_upscaler(8, 2)
    box = crop_box(64, 64, 3600 / 4500)
    assert box == pytest.approx((6.4, 0, 57.6, 64))
    assert passes_for(box, (3600, 4500), 4) == 3          # 64 -> 256 -> 1024 -> 4096 px high, Lanczos to 4500
    assert passes_for(crop_box(128, 128, 0.8), (3600, 4500), 4) == 2
    assert passes_for(crop_box(64, 64, 1.0), (200, 200), 4) == 0
    out, n = enlarge(painting(1, 64), (360, 450), net)
    assert out.size == (360, 450) and n == 1
    plain, n0 = enlarge(painting(1, 64), (360, 450), None)
    assert n0 == 0 and plain.size == (360, 450)


def test_psnr_and_ssim_agree_with_torchmetrics_and_scikit_image():
    from skimage.metrics import structural_similarity
    from torchmetrics.functional.image import peak_signal_noise_ratio

    a = painting(4, 64)
    b = np.clip(a.astype(int) + np.random.default_rng(0).normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None].double() for x in (a, b))
    assert psnr(a, b) == pytest.approx(float(peak_signal_noise_ratio(tb, ta, data_range=255.0)), rel=1e-6)
    # scikit-image's Gaussian-weighted SSIM, like this one, averages only the windows that fit inside
    ref = structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                data_range=255)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9)


def test_texture_and_gain_tell_sharp_from_blurred():
    image = painting(6, 128)
    blurred = np.asarray(Image.fromarray(image).resize((32, 32), Image.LANCZOS).resize((128, 128), Image.BICUBIC))
    assert gradient_energy(blurred) < 0.8 * gradient_energy(image)
    exact = lambda small, scale: image          # noqa: E731  an oracle: the original itself
    table = compare([image], {"exact": exact, **CLASSIC}, 4)
    assert table["exact"]["gain_db"] > 3 and table["exact"]["texture"] == pytest.approx(1.0)
    assert table["lanczos"]["gain_db"] == 0 and table["lanczos"]["texture"] < 0.8
    assert reduce(image, 4).shape == (32, 32, 3)
