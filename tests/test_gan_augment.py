"""DiffAugment and the adaptive strength controller."""
import pytest
import torch

from pipeline.gan.augment import POLICIES, TRANSFORMS, AdaptiveP, augment

torch.set_num_threads(1)


def images(n=8, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_p0_is_identity():
    x = images()
    assert torch.equal(augment(x, 0.0, POLICIES, torch.Generator().manual_seed(1)), x)


@pytest.mark.parametrize("name", POLICIES)
def test_p1_changes_the_images(name):
    x = images(64)
    y = augment(x, 1.0, (name,), torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    changed = (y - x).flatten(1).abs().amax(dim=1) > 1e-4
    # Translation draws a shift of up to 1/8 of the side and rounds it to whole
    # pixels, so at 16 px about 1 image in 16 stays put (DiffAugment draws 0 too).
    need = 0.8 if name == "translation" else 1.0
    assert changed.float().mean() >= need, f"{name} changed only {int(changed.sum())} of {len(x)} images at p=1"


@pytest.mark.parametrize("name", POLICIES)
def test_each_transform_is_identity_for_unchosen_images(name):
    x = images()
    y = TRANSFORMS[name](x, 0.0, torch.Generator().manual_seed(1))
    torch.testing.assert_close(y, x)


def test_gradients_flow_to_the_input():
    x = images().requires_grad_(True)
    w = torch.randn(3, 16, 16)
    (augment(x, 1.0, POLICIES, torch.Generator().manual_seed(2)) * w).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # Every image gets a gradient (cutout only zeroes part of it).
    assert (x.grad.flatten(1).abs().sum(1) > 0).all()


def test_same_generator_state_same_augmentation():
    x = images()
    a = augment(x, 0.5, POLICIES, torch.Generator().manual_seed(3))
    b = augment(x, 0.5, POLICIES, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_adaptive_p_rises_when_reals_are_too_certain_and_falls_otherwise():
    ada = AdaptiveP(0.5, target=0.6, speed_kimg=10)
    ada.observe(torch.ones(16))            # every real scored positive: r_t = 1 > 0.6
    ada.update(1000)
    assert ada.p == pytest.approx(0.6) and ada.last_rt == pytest.approx(1.0)
    ada.observe(-torch.ones(16))           # r_t = -1 < 0.6
    ada.observe(torch.ones(16))            # mean over observations: 0
    ada.update(2000)
    assert ada.p == pytest.approx(0.4) and ada.last_rt == pytest.approx(0.0)
    ada.observe(-torch.ones(4))
    ada.update(100_000)                    # clamped at 0
    assert ada.p == 0.0
    ada.update(1000)                       # nothing observed since: unchanged
    assert ada.p == 0.0


def test_adaptive_p_state_round_trip():
    ada = AdaptiveP(0.2, 0.6, 10)
    ada.observe(torch.ones(4))
    ada.update(500)
    other = AdaptiveP(0.0, 0.6, 10)
    other.load_state_dict(ada.state_dict())
    assert (other.p, other.last_rt) == (ada.p, ada.last_rt)
