"""PacGAN (train.pack): the discriminator scores packs of samples, so it can tell a generator that repeats
itself from the reals even where every single image is a faithful one."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from pipeline.gan.config import TrainConfig
from pipeline.gan.ladder import Ladder
from pipeline.gan.losses import ns_r1_d, rpgan_d, wgan_gp_d
from pipeline.gan.networks import Discriminator
from pipeline.params import ParamError
from pipeline.synthetic import MODES, render
from train_helpers import make_project, run_stage

torch.set_num_threads(1)
CH = {4: 8, 8: 8, 16: 4}


def test_a_packing_discriminator_gives_one_score_per_pack_from_that_pack_alone():
    torch.manual_seed(0)
    D = Discriminator(CH, 8, 8, mbstd_group=1, pack=2)
    x = torch.randn(6, 3, 8, 8)
    scores = D(x)
    assert scores.shape == (3,)
    y = x.clone()
    y[1] += 1.0                       # the second image of the first pack
    changed = D(y)
    assert changed[0] != scores[0] and torch.equal(changed[1:], scores[1:])
    with pytest.raises(ValueError, match="packs of 2"):
        D(x[:5])


def duplicate_detection_accuracy(pack: int, steps: int = 300) -> float:
    """Train D to tell packs of independent draws from a set of images (real) from packs of one draw
    repeated (fake): both sides have the same images, so only the pack shows the difference."""
    torch.manual_seed(0)
    images = torch.rand(32, 3, 8, 8) * 2 - 1
    D = Discriminator(CH, 8, 8, mbstd_group=1, pack=pack)
    opt = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.0, 0.99))

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        real = images[torch.randint(len(images), (n * 2,))]
        fake = images[torch.randint(len(images), (n,))].repeat_interleave(2, 0)   # pairs of one image
        return real, fake

    for _ in range(steps):
        real, fake = draw(16)
        loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real, fake = draw(256)
        return ((D(real) > 0).float().mean().item() + (D(fake) < 0).float().mean().item()) / 2


def test_packs_of_two_tell_repeated_samples_from_reals_and_single_samples_cannot():
    assert duplicate_detection_accuracy(pack=2) > 0.9
    assert duplicate_detection_accuracy(pack=1) < 0.65     # the same images one at a time: chance


def test_penalties_are_taken_per_pack():
    """D(x) = sum of each pack's pixels: every input gradient is 1, so a pack of two 3x2x2 images has
    a squared gradient norm of 24 (12 alone). R1 = 24, R1 + R2 = 48, and the WGAN-GP term (sqrt(24) - 1)^2."""
    D = lambda x, parts=1: x.reshape(len(x) // 2, -1).sum(1)   # noqa: E731
    real, fake = torch.ones(4, 3, 2, 2), torch.zeros(4, 3, 2, 2)
    _, logs, scores = ns_r1_d(D, real, fake, gamma=1.0)
    assert scores.shape == (2,) and logs["penalty"] == pytest.approx(24.0)
    assert rpgan_d(D, real, fake, gamma=1.0)[1]["penalty"] == pytest.approx(48.0)
    assert wgan_gp_d(D, real, fake, gamma=1.0)[1]["penalty"] == pytest.approx((math.sqrt(24) - 1) ** 2)


def config(pack: int, batch: int, mbstd_group: int = 4) -> TrainConfig:
    ladder = Ladder(16, {}, 16)
    return TrainConfig.from_params({"pack": pack, "mbstd_group": mbstd_group, "channels": CH},
                                   {"16": {"batch": batch, "lr": 0.002, "kimg": 1}}, ladder, 16)


def test_pack_must_divide_the_batch_and_leave_whole_stddev_groups():
    assert config(2, 16).pack == 2 and config(2, 16).model_config()["pack"] == 2
    assert config(4, 8, mbstd_group=4).pack == 4            # 2 packs: one stddev group of 2
    with pytest.raises(ParamError, match=r"res\.16\.batch.*train\.pack \(3\)"):
        config(3, 16)
    with pytest.raises(ParamError, match=r"res\.16\.batch.*mbstd_group \(4\) times train\.pack \(2\)"):
        config(2, 20)                                       # 10 packs: not whole groups of 4
    with pytest.raises(ParamError, match=r"train\.pack"):
        config(0, 16)


def test_a_packed_stage_trains_with_stddev_and_augmentation_and_grows(tmp_path):
    """train.pack through the train stage (minibatch stddev and DiffAugment at p 0.5 on), then the
    next rung grows from its checkpoint with the packed discriminator."""
    root = make_project(tmp_path / "p", size=8, train={"pack": 2, "augment_p": 0.5, "ada_kimg": 0})
    done = run_stage(root, size=8, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    state = torch.load(root / "models" / "8" / "state.pt", weights_only=False)
    assert state["D"]["from_rgb.8.weight"].shape[1] == 6       # two RGB images per input

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["ladder"]["grow"] = {"16": 8}
    params["res"]["16"] = {"batch": 8, "lr": 0.002, "fade_kimg": 0.2, "stable_kimg": 0.2}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    rng = np.random.default_rng(1)
    np.save(root / "data" / "prepared" / "16.npy", np.stack([render(i % len(MODES), 16, rng) for i in range(48)]))
    done = run_stage(root, size=16, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    grown = torch.load(root / "models" / "16" / "state.pt", weights_only=False)
    assert grown["D"]["from_rgb.16.weight"].shape[1] == 6
    assert '"pack": 2' in (root / "models" / "16" / "info.json").read_text()
