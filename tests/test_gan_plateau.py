"""Plateau stopping (res.<size>.patience_kimg): real short runs at 8 px on 48 synthetic paintings.

On these, the watched quality is 0 until about 6 kimg, peaks near 7.5 kimg and then falls, so a
patience of 1 kimg stops a 16 kimg stage soon after the peak.
"""
import json
import shutil

import numpy as np
import pytest
import torch

from pipeline.gan import checkpoint as ckpt
from pipeline.gan.loop import WATCH_SEED, TrainConfig, train
from pipeline.gan.sampling import latents, to_uint8
from pipeline.gan.watch import QualityWatch, plateau_figure
from pipeline.synthetic import MODES, render
from train_helpers import generator_weights, make_project, run_stage

torch.set_num_threads(1)

CAP = 16.0


def paintings(n=48, size=8):
    rng = np.random.default_rng(0)
    return np.stack([render(i % len(MODES), size, rng) for i in range(n)])


def config(**kw) -> TrainConfig:
    args = dict(resolution=8, base=8, z_dim=16, channels={4: 8, 8: 8}, batch=16, lr=0.002, kimg=CAP,
                watch_kimg=0.5, checkpoint_kimg=0.5, patience_kimg=1.0, device="cpu")
    return TrainConfig(**(args | kw))


@pytest.fixture(scope="module")
def plateau_run(tmp_path_factory):
    """One stage with patience on: its config, summary, model dir and resume dir (train() keeps it)."""
    root = tmp_path_factory.mktemp("plateau")
    cfg = config()
    summary = train(cfg, paintings(), None, root / "out", root / "resume")
    return cfg, summary, root


def test_patience_ends_the_stage_on_a_plateau_before_the_cap(plateau_run):
    cfg, summary, _ = plateau_run
    assert summary["stop_reason"] == "plateau"
    assert summary["best_kimg"] < summary["stop_kimg"] < CAP
    assert summary["stop_kimg"] - summary["best_kimg"] >= cfg.patience_kimg
    assert summary["best_quality"] > 0


def test_the_saved_model_is_the_best_watched_snapshot(plateau_run):
    cfg, summary, root = plateau_run
    state = ckpt.load(root / "out" / "state.pt")
    assert state["nimg"] == round(summary["best_kimg"] * 1000)            # not the last step
    weights = generator_weights(root / "out")                             # generator.pt agrees with state.pt
    assert weights.keys() == state["g_ema"].keys() and all(torch.equal(weights[k], state["g_ema"][k]) for k in weights)
    # The saved EMA generator, on the watch's own latents, scores the best figure again.
    reals = paintings()
    watch = QualityWatch(reals, cfg.watch_samples)
    G, _ = ckpt.load_generator(root / "out")
    with torch.no_grad():
        images = to_uint8(G(latents(cfg.watch_samples, cfg.z_dim, WATCH_SEED)[:watch.n], 1.0))
    w = watch(images)
    assert plateau_figure(w) == pytest.approx(summary["best_quality"], abs=1e-6)
    assert (w["precision"], w["recall"]) == pytest.approx((summary["precision"], summary["recall"]), abs=1e-6)


def test_the_summary_counts_kimg_and_seconds_of_the_run(plateau_run):
    """kimg and stop_kimg are the images shown / 1000, the run took real seconds, and kimg_per_s is their
    ratio. (Mutation benchmark: kills loop.py:405-406 and 413 ``/ 1000`` -> ``* 1000`` or ``/ 1001``
    and ``time.time() - t0`` -> ``+``.)"""
    _, summary, _ = plateau_run
    assert summary["kimg"] == summary["stop_kimg"] and round(summary["kimg"] * 1000) % 16 == 0   # whole batches
    assert 0 < summary["seconds"] < 3600
    assert summary["kimg_per_s"] == pytest.approx(summary["kimg"] / summary["seconds"], rel=1e-4)


def test_the_summary_diversity_is_the_last_watchs(tmp_path):
    """The summary's diversity is the last watch's, beside the run's minimum.
    (Mutation benchmark: kills loop.py:407 ``history[-1]`` -> ``history[0]``.)"""
    import pandas as pd
    from dvclive import Live

    live = Live(dir=str(tmp_path / "live"), dvcyaml=False, save_dvc_exp=False)
    summary = train(config(kimg=1.0, patience_kimg=0.0), paintings(), None, tmp_path / "out", tmp_path / "r", live)
    live.end()
    diversity = pd.read_csv(tmp_path / "live" / "plots" / "metrics" / "diversity.tsv", sep="\t")["diversity"].tolist()
    assert len(diversity) >= 2 and diversity[0] != diversity[-1]
    assert summary["diversity"] == diversity[-1] and summary["diversity_min"] == min(diversity)


def test_a_resumed_stage_keeps_the_best_snapshot_it_had_before_the_kill(plateau_run, tmp_path):
    cfg, summary, root = plateau_run
    # The last checkpoint, every 0.5 kimg, came after the best watch: the stop waited 1 kimg past it.
    saved = ckpt.load(root / "resume" / "checkpoint.pt")
    assert saved["best"]["nimg"] == saved["state"]["best_nimg"] < saved["state"]["nimg"] < summary["stop_kimg"] * 1000
    # As if killed just after that checkpoint: the rerun ends with the same model and summary.
    shutil.copytree(root / "resume", tmp_path / "resume")
    again = train(cfg, paintings(), None, tmp_path / "out", tmp_path / "resume")
    assert {k: again[k] for k in ("stop_reason", "stop_kimg", "best_kimg", "best_quality")} == \
           {k: summary[k] for k in ("stop_reason", "stop_kimg", "best_kimg", "best_quality")}
    a, b = generator_weights(root / "out"), generator_weights(tmp_path / "out")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_with_patience_off_the_stage_runs_to_the_cap_and_says_so(tmp_path):
    root = make_project(tmp_path / "p")             # res.8: kimg 0.4, patience_kimg unset (0)
    done = run_stage(root)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((root / "dvclive" / "8" / "metrics.json").read_text())
    assert metrics["stop_reason"] == "cap" and metrics["stop_kimg"] == 0.4
    assert ckpt.load(root / "models" / "8" / "state.pt")["nimg"] == 400   # the last step, not a snapshot
