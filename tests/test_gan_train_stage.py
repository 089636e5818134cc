"""The train stage end to end in a tiny project: output, determinism, resume after kill -9, NaN guard."""

import numpy as np
import pytest
import torch

from pipeline.gan.loop import TrainConfig, TrainingDiverged, train
from train_helpers import generator_weights, kill_at_first_checkpoint, make_project, run_stage

torch.set_num_threads(1)


# kimg 1.2 with a checkpoint every 0.4: a kill after the first checkpoint leaves most of the run to do.
TRAIN = {"checkpoint_kimg": 0.4}
RES = {"kimg": 1.2}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run of the tiny stage: its models/8 directory."""
    root = make_project(tmp_path_factory.mktemp("ref"), train=TRAIN, res=RES)
    done = run_stage(root)
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "models" / "8"


def assert_same_model(a_dir, b_dir):
    a, b = generator_weights(a_dir), generator_weights(b_dir)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # Same bytes on disk, so DVC sees the same outputs.
    for name in ("generator.pt", "state.pt"):
        assert (a_dir / name).read_bytes() == (b_dir / name).read_bytes(), name


def test_same_params_and_seed_give_identical_generator(reference, tmp_path):
    root = reference.parents[1]
    assert {"generator.pt", "state.pt", "info.json", "samples.png"} <= {p.name for p in reference.iterdir()}
    assert (root / "dvclive" / "8").is_dir()
    assert not list((root / ".resume").glob("8-*/checkpoint.pt"))   # removed once the stage is done
    again = make_project(tmp_path / "again", train=TRAIN, res=RES)
    done = run_stage(again)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_model(reference, again / "models" / "8")


def test_killed_stage_resumes_from_its_checkpoint_and_ends_as_if_never_killed(reference, tmp_path):
    root = make_project(tmp_path / "p", train=TRAIN, res=RES)
    checkpoint = kill_at_first_checkpoint(["pipeline.train", "8"], root, ".resume/8-*/checkpoint.pt")
    assert not (root / "models" / "8" / "generator.pt").exists()
    saved = torch.load(checkpoint, weights_only=False)
    kimg = saved["state"]["nimg"] / 1000
    assert 0.4 <= kimg < 1.2

    done = run_stage(root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming at {kimg:.1f} kimg" in done.stdout
    assert "1.2 kimg" in done.stdout
    # Models, optimizers, EMA, p, counters and RNG all came back: the run ends where an unkilled one does.
    assert_same_model(reference, root / "models" / "8")


def tiny_config(**kw) -> TrainConfig:
    args = dict(resolution=8, base=8, z_dim=16, channels={4: 8, 8: 8}, batch=8, lr=0.002, kimg=0.2,
                watch_kimg=0.1, checkpoint_kimg=0.1, device="cpu")
    return TrainConfig(**(args | kw))


def reals(n=32, size=8):
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_non_finite_losses_roll_back_then_fail_naming_the_lr_key(tmp_path, capsys):
    cfg = tiny_config(lr=1e9, max_rollbacks=2)
    with pytest.raises(TrainingDiverged, match=r"res\.8\.lr") as err:
        train(cfg, reals(), None, tmp_path / "out", tmp_path / "resume")
    assert "3 times" in str(err.value)
    out = capsys.readouterr()
    rolled = [line for line in (out.out + out.err).splitlines() if "rolled back to" in line]
    assert len(rolled) == 2, rolled
    assert "halved the learning rate to 5e+08" in rolled[0] and "to 2.5e+08" in rolled[1]
    assert not (tmp_path / "out").exists()


def test_stage_reports_divergence_with_the_key(tmp_path):
    root = make_project(tmp_path / "p", res={"lr": 1e9}, train={"max_rollbacks": 1})
    done = run_stage(root)
    assert done.returncode != 0
    assert "res.8.lr" in done.stderr and "rolled back" in done.stdout + done.stderr
    assert not (root / "models" / "8").exists()


def test_wgan_gp_stage_trains_as_the_readme_runs_it(tmp_path):
    """README's first experiment: `dvc exp run -S train.loss=wgan-gp -S train.gamma=10`."""
    root = make_project(tmp_path / "p", train={"loss": "wgan-gp", "gamma": 10})
    done = run_stage(root)
    assert done.returncode == 0, done.stderr[-2000:]
    info = (root / "models" / "8" / "info.json").read_text()
    assert '"loss": "wgan-gp"' in info and '"gamma": 10.0' in info
    penalty = (root / "dvclive" / "8" / "plots" / "metrics" / "penalty.tsv").read_text().splitlines()[1:]
    values = [float(line.split("\t")[-1]) for line in penalty]
    assert values and all(np.isfinite(values)) and any(v > 0 for v in values)   # the gradient penalty ran
    weights = generator_weights(root / "models" / "8")
    assert all(torch.isfinite(w).all() for w in weights.values())
