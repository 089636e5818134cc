"""The training loop's state (pipeline.gan.state) and the rollback that restores it."""
import math

import numpy as np
import pytest
import torch

from pipeline.gan import loop
from pipeline.gan.augment import AdaptiveP
from pipeline.gan.config import TrainConfig
from pipeline.gan.losses import d_loss
from pipeline.gan.state import Progress, TrainState

torch.set_num_threads(1)


def tiny_config(**kw) -> TrainConfig:
    args = dict(resolution=8, base=8, z_dim=16, channels={4: 8, 8: 8, 16: 4}, batch=8, lr=0.002, kimg=0.2,
                watch_kimg=0.1, checkpoint_kimg=0.1, watch_samples=32, device="cpu")
    return TrainConfig(**(args | kw))


def tiny_state(cfg: TrainConfig) -> TrainState:
    torch.manual_seed(0)
    gens = {"data": torch.Generator().manual_seed(1), "aug": torch.Generator().manual_seed(2)}
    return TrainState(*loop.build(cfg, None), AdaptiveP(0.1, 0.6, 1.0), gens, Progress(lr=cfg.lr))


def train_a_little(state: TrainState) -> None:
    """Two Adam steps on both networks, an EMA-like change, counters, ADA and every RNG moved."""
    for _ in range(2):
        for net, opt in ((state.G, state.opt_g), (state.D, state.opt_d)):
            opt.zero_grad()
            sum(p.square().sum() for p in net.parameters()).backward()
            opt.step()
    with torch.no_grad():
        next(state.g_ema.parameters()).add_(1.0)
    state.ada.p = 0.3
    state.progress.nimg += 16
    state.progress.history.append({"step": 16})
    state.progress.best_reasons = ["recall"]
    state.best = state.handed_on()
    torch.rand(3), torch.rand(3, generator=state.gens["data"]), torch.rand(3, generator=state.gens["aug"])


def assert_same(a, b, path=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (a != a and b != b), path


def test_a_snapshot_restores_everything_in_place_and_later_steps_leave_it_alone():
    state = tiny_state(tiny_config())
    train_a_little(state)                           # Adam moments exist, so the optimizers have state to lose
    snap, kept = state.snapshot(), state.snapshot()
    progress, G = state.progress, state.G
    train_a_little(state)
    assert_same(snap, kept)                         # the snapshot did not move with the training
    state.load_state_dict(snap)
    assert_same(state.state_dict(), kept)
    assert state.progress is progress and state.G is G    # the loop's handles stay valid
    # The RNGs came back too: after each restore the same numbers follow.
    draws = []
    for _ in range(2):
        state.load_state_dict(snap)
        draws.append([torch.rand(3), torch.rand(3, generator=state.gens["data"]),
                      torch.rand(3, generator=state.gens["aug"])])
    assert all(torch.equal(a, b) for a, b in zip(*draws))


def test_what_a_stage_hands_on_grows_into_the_next_resolution():
    cfg = tiny_config()
    state = tiny_state(cfg)
    train_a_little(state)
    handed = state.handed_on()
    assert list(handed) == ["G", "D", "g_ema", "ada_p", "nimg", "opt_g", "opt_d"]
    assert handed["ada_p"] == 0.3 and handed["nimg"] == 16
    G, D, g_ema, *_ = loop.build(tiny_config(resolution=16), {"config": cfg.model_config(), **handed})
    assert G.resolution == 16 and g_ema.resolution == 16
    with torch.no_grad():
        assert D(G(torch.randn(2, 16), 1.0), 1.0).shape == (2,)


def test_a_skip_rung_grows_from_a_base_of_either_growth_but_not_from_a_faded_rung():
    base = tiny_config()
    handed = tiny_state(base).handed_on()
    z = torch.randn(2, 16)
    G, *_ = loop.build(tiny_config(resolution=16, growth="skip"), {"config": base.model_config(), **handed})
    low, *_ = loop.build(base, None)
    low.load_state_dict(handed["G"])
    with torch.no_grad():   # the base is the same network either way, and the new rung starts as its upsampled picture
        torch.testing.assert_close(G(z, 1.0), torch.nn.functional.interpolate(low(z), scale_factor=2, mode="bilinear"))
    faded = tiny_config(resolution=16, base=8, channels={4: 8, 8: 8, 16: 4, 32: 4}, growth="fade")
    grown = loop.build(faded, {"config": base.model_config(), **handed})
    rung = {"config": faded.model_config(), "G": grown[0].state_dict(), "D": grown[1].state_dict(),
            "g_ema": grown[2].state_dict()}
    with pytest.raises(ValueError, match="grown with train.growth=fade; retrain every rung with train.growth=skip"):
        loop.build(tiny_config(resolution=32, channels=faded.channels | {32: 4}, growth="skip"), rung)


def test_a_late_rollback_redoes_its_images_and_the_stage_still_ends(tmp_path, monkeypatch, capsys):
    """A non-finite loss near the end throws most of the stage away; the redone images count once."""
    calls = 0

    def nan_at_1_kimg(*args, **kw):
        nonlocal calls
        calls += 1
        loss, logs, real_scores = d_loss(*args, **kw)
        return (loss * math.nan if calls == 125 else loss), logs, real_scores   # step 125: 0.992 kimg shown

    monkeypatch.setattr(loop, "d_loss", nan_at_1_kimg)
    cfg = tiny_config(kimg=1.2, checkpoint_kimg=2.0, watch_kimg=0.4)   # no checkpoint but the start
    reals = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    summary = loop.train(cfg, reals, None, tmp_path / "out", tmp_path / "resume")
    out = capsys.readouterr()
    rolled = [line for line in (out.out + out.err).splitlines() if "rolled back to" in line]
    assert len(rolled) == 1 and "rolled back to 0.0 kimg" in rolled[0], rolled
    assert summary["rollbacks"] == 1 and summary["kimg"] == 1.2
    assert (tmp_path / "out" / "generator.pt").exists()


def test_a_second_rollback_to_the_same_checkpoint_restores_the_same_optimizer_state():
    cfg = tiny_config(max_rollbacks=3)
    state = tiny_state(cfg)
    train_a_little(state)
    last_good = state.snapshot()
    expected = state.snapshot()
    loop.roll_back(state, last_good, cfg, rank=1, ld=math.nan, lg=math.nan, penalty=0.0)
    train_a_little(state)   # Adam moves its moments in place
    loop.roll_back(state, last_good, cfg, rank=1, ld=math.nan, lg=math.nan, penalty=0.0)
    assert_same(state.opt_g.state_dict()["state"], expected["opt_g"]["state"])
    assert_same(state.opt_d.state_dict()["state"], expected["opt_d"]["state"])
