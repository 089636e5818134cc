"""The quality watch and its collapse rule, on real paintings standing in for generators.

A "generator" here is a set of rendered paintings (``pipeline.synthetic.render``)
drawn from a chosen mode mix: all 24 modes evenly (healthy), only half of them, or 90%
of its samples in 3 modes. One call of the watch is one watch interval.
"""
import copy
import math

import numpy as np
import pytest
import torch

from pipeline.gan.sampling import to_uint8
from pipeline.gan.watch import CollapseRule, QualityWatch, plateau_figure
from pipeline.synthetic import MODES, render
from pipeline.metrics import swd

N = 256
SIZE = 16


def paintings(modes_of: np.ndarray, size: int = SIZE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([render(int(m), size, rng) for m in modes_of])


def healthy(rng, n=N):
    return rng.permutation(np.arange(n) % len(MODES))


def half_the_modes(rng, n=N):
    return rng.integers(0, len(MODES) // 2, n)


def piled_in_three(rng, n=N):
    """90% of the samples in modes 0-2, the rest spread over all modes."""
    return np.where(rng.random(n) < 0.9, rng.integers(0, 3, n), rng.integers(0, len(MODES), n))


@pytest.fixture(scope="module")
def watch():
    reals = paintings(healthy(np.random.default_rng(1), 2 * N), seed=1)
    return QualityWatch(reals, N)


def test_the_reals_floor_is_what_a_perfect_generator_scores(watch):
    assert watch.synthetic
    assert watch.floor["real_modes"] == len(MODES)
    assert watch.floor["real_unclassified"] < 0.05
    assert 0.8 < watch.floor["real_precision"] <= 1 and 0.8 < watch.floor["real_recall"] <= 1
    assert watch.floor["real_swd"] > 0


@pytest.mark.parametrize("seed", [2, 3])
def test_a_healthy_generator_is_not_flagged(watch, seed):
    w = watch(paintings(healthy(np.random.default_rng(seed)), seed=seed))
    assert CollapseRule().reasons(w) == []
    assert w["modes"] == len(MODES) and w["top3_share"] < 0.25


@pytest.mark.parametrize("draw", [half_the_modes, piled_in_three])
@pytest.mark.parametrize("seed", [2, 3])
def test_partial_collapse_is_flagged_at_the_first_watch(watch, draw, seed):
    w = watch(paintings(draw(np.random.default_rng(seed)), seed=seed))
    reasons = CollapseRule().reasons(w)
    assert reasons, w
    assert w["recall"] < w["real_recall"] and w["swd"] > w["real_swd"]   # the other figures see it too
    if draw is half_the_modes:
        assert w["modes"] == len(MODES) // 2 and "modes of" in reasons[0]
    else:
        assert w["top3_share"] > 0.85 and any("in 3 modes" in r for r in reasons)


def test_the_held_out_family_is_watched_with_its_own_modes():
    """Reals of the blocks family: the watch counts its 24 modes with its own classifier, so half of
    them is seen and flagged as on the tuned family."""
    from pipeline.synthetic import BLOCKS
    draw = lambda modes_of, seed: np.stack([BLOCKS.render(int(m), SIZE, np.random.default_rng([seed, i]))   # noqa: E731
                                            for i, m in enumerate(modes_of)])
    watch = QualityWatch(draw(healthy(np.random.default_rng(1), 2 * N), 1), N)
    assert watch.synthetic and watch.family is BLOCKS and watch.floor["real_modes"] == len(BLOCKS.modes)
    w = watch(draw(half_the_modes(np.random.default_rng(2)), 2))
    assert w["n_modes"] == 24 and w["modes"] == 12 and any("modes of" in r for r in CollapseRule().reasons(w))


def test_an_untrained_generator_is_not_judged_on_modes_or_coverage(watch):
    """Noise: nothing classified, precision ~0 -- not trained yet, not collapsed."""
    noise = np.random.default_rng(0).integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8)
    w = watch(noise)
    assert w["classified"] == 0 and w["unclassified"] == 1 and w["precision"] < 0.1
    assert CollapseRule().reasons(w) == []


def test_coverage_alone_flags_collapse_on_data_without_modes(watch):
    """Mode figures absent (other data): a realistic generator covering one mode is flagged by recall."""
    w = watch(paintings(np.zeros(N, int), seed=4))
    without_modes = {k: v for k, v in w.items() if k in ("precision", "recall", "real_precision", "real_recall")}
    assert any(r.startswith("recall") for r in CollapseRule().reasons(without_modes))


def test_other_data_has_no_mode_figures_and_small_images_no_swd():
    rng = np.random.default_rng(0)
    grey = rng.integers(100, 140, (64, 8, 8, 3), dtype=np.uint8)   # nothing the classifier knows, 8 px
    watch = QualityWatch(grey, 32)
    w = watch(grey[:32])
    assert not watch.synthetic and "modes" not in w
    assert math.isnan(w["swd"]) and 0 <= w["recall"] <= 1


def test_swd_against_a_cached_reference_is_swd_to_the_bit():
    a, b = paintings(healthy(np.random.default_rng(5), 32), seed=5), paintings(half_the_modes(np.random.default_rng(6), 32), seed=6)
    reference = swd.Reference(a, 3)
    assert swd.swd_to(reference, b) == swd.swd(a, b, 3)
    assert swd.swd_to(reference, a) == swd.swd(a, a, 3) != swd.swd_to(reference, b)   # reused, not stale
    assert swd.swd_to(swd.Reference(a, 4), b) == swd.swd(a, b, 4) != swd.swd(a, b, 3)
    with pytest.raises(ValueError, match="equal shape"):
        swd.swd_to(reference, b[:-1])


def test_the_train_stage_logs_the_watch_at_every_interval(tmp_path):
    """A short 16 px stage: every watch figure is a dvclive series (one row per watch), the summary has the verdict."""
    import json

    from train_helpers import make_project, run_stage

    root = make_project(tmp_path / "p", size=16, n=64, train={"watch_samples": 32})
    done = run_stage(root, size=16, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    series = root / "dvclive" / "16" / "plots" / "metrics"
    for name in ("precision", "recall", "swd", "modes", "unclassified", "collapse", "real_recall"):
        rows = (series / f"{name}.tsv").read_text().splitlines()[1:]
        assert [int(r.split("\t")[0]) for r in rows] == [200, 400], name     # steps: images shown
    summary = json.loads((root / "dvclive" / "16" / "metrics.json").read_text())
    assert summary["collapse_flag"] is bool(summary["collapse_reason"])   # the verdict of the watch handed on
    assert 0 <= summary["recall"] <= 1 and 0 < summary["real_recall"] <= 1 and summary["watch_seconds"] > 0


class FourPaintings(torch.nn.Module):
    """A generator collapsed to 4 kinds of image: each latent picks one of 4 paintings (modes 0, 9, 17, 21).

    Its one weight scales the output; lr 0 keeps it at 1, so the stage trains the discriminator
    against a generator that stays collapsed.
    """

    def __init__(self, size: int):
        super().__init__()
        bank = paintings(np.array([0, 9, 17, 21]), size, seed=3)
        self.register_buffer("bank", torch.as_tensor(bank).permute(0, 3, 1, 2).float() / 127.5 - 1)
        self.gain = torch.nn.Parameter(torch.ones(()))

    def forward(self, z, alpha=1.0, mix=None):
        quartile = (z[:, :1] > torch.tensor([-0.674, 0.0, 0.674])).sum(1)   # N(0, 1) quartiles: a quarter each
        return self.bank[quartile] * self.gain


def run_collapsed_stage(monkeypatch, tmp_path, **settings) -> dict:
    """A 16 px stage of train() whose generator is FourPaintings; its summary."""
    from pipeline.gan import checkpoint as ckpt
    from pipeline.gan import loop
    from pipeline.gan.config import TrainConfig

    cfg = TrainConfig(resolution=SIZE, base=SIZE, z_dim=8, channels={4: 8, 8: 8, 16: 4}, batch=8, lr=0.0, kimg=0.1,
                      watch_kimg=0.1, checkpoint_kimg=0.1, watch_samples=128, device="cpu", **settings)
    G = FourPaintings(SIZE)
    D = ckpt.build_discriminator(cfg.model_config())
    monkeypatch.setattr(loop, "build", lambda cfg, start: (
        G, D, copy.deepcopy(G).requires_grad_(False), torch.optim.Adam(G.parameters(), lr=0.0),
        torch.optim.Adam(D.parameters(), lr=0.0)))
    monkeypatch.setattr(ckpt, "write_model_dir", lambda *a, **k: None)   # its weights are no ProGAN's
    monkeypatch.setattr(loop, "generate", lambda g, z: to_uint8(g(z)))
    reals = paintings(healthy(np.random.default_rng(1), 2 * N), seed=1)
    run = tmp_path / str(len(list(tmp_path.iterdir())))   # a fresh folder: no resume from an earlier run
    return loop.train(cfg, reals, None, run / "out", run / "resume", None)


def test_a_generator_collapsed_to_four_paintings_raises_the_stage_flag(monkeypatch, tmp_path):
    summary = run_collapsed_stage(monkeypatch, tmp_path)
    assert summary["collapse_flag"] is True and summary["collapse_watches"] == 1
    assert "4 modes of" in summary["collapse_reason"] and summary["modes"] == 4


def test_the_collapse_settings_decide_the_flag(monkeypatch, tmp_path):
    """train.collapse_* set so that 4 modes of ~24 expected, ~3/4 of the samples in 3 modes and low recall pass."""
    summary = run_collapsed_stage(monkeypatch, tmp_path, collapse_modes=0.1, collapse_top3=0.9, collapse_recall=0.0)
    assert summary["collapse_flag"] is False and summary["collapse_reason"] == ""
    summary = run_collapsed_stage(monkeypatch, tmp_path, collapse_modes=0.0, collapse_top3=0.6, collapse_recall=0.0)
    assert summary["collapse_flag"] is True and summary["collapse_reason"].endswith("of classified samples in 3 modes")


def test_the_collapse_rule_at_its_thresholds():
    """Each test of the rule at its edge, as CollapseRule's docstring states it: the mode tests from
    min_classified x 24 classified samples on; "fewer than" modes x expected; "at least" top3; recall
    "below" while precision is "at least" recall x the reals'. (Mutation benchmark: kills watch.py:54
    ``min_classified`` 2.0 -> 4.0 and the comparison swaps in CollapseRule.reasons.)"""
    rule = CollapseRule()
    edge = {"n_modes": len(MODES), "classified": 2 * len(MODES), "modes": 18, "modes_expected": 24.0, "top3_share": 0.49,
            "recall": 0.5, "real_recall": 1.0, "precision": 0.5, "real_precision": 1.0}
    assert rule.reasons(edge) == []                       # 18 = 0.75 x 24 modes; recall = 0.5 x the reals'
    assert len(rule.reasons(edge | {"modes": 17})) == 1
    assert len(rule.reasons(edge | {"top3_share": 0.5})) == 1
    assert len(rule.reasons(edge | {"recall": 0.49})) == 1
    assert rule.reasons(edge | {"recall": 0.49, "precision": 0.49}) == []    # not trained yet
    assert rule.reasons(edge | {"classified": 2 * len(MODES) - 1, "modes": 0, "top3_share": 1.0}) == []


def test_the_plateau_figure_is_the_harmonic_mean_of_precision_and_recall():
    """F1 of the watch: 2pr / (p + r), 0 when both are 0. (Mutation benchmark: kills watch.py:76
    ``/ (p + r)`` -> ``* (p + r)`` and ``2`` -> ``4``.)"""
    assert plateau_figure({"precision": 0.5, "recall": 1.0}) == pytest.approx(2 / 3)
    assert plateau_figure({"precision": 0.25, "recall": 0.25}) == pytest.approx(0.25)
    assert plateau_figure({"precision": 0.0, "recall": 0.0}) == 0.0


def test_reals_of_the_first_mode_alone_are_synthetic_data():
    """Label 0 is a mode (the first), not "unclassified" (-1): reals painted in mode 0 alone get mode figures.
    (Mutation benchmark: kills watch.py:99 ``labels >= 0`` -> ``>= 1``.)"""
    assert QualityWatch(paintings(np.zeros(64, int), seed=7), 32).synthetic
