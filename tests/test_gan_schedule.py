"""R3GAN's schedules: over each stage the learning rate and gamma fall along a cosine to
``train.lr_decay`` and ``train.gamma_decay`` of their values; at 1 they stay constant."""
import math

import pytest

from pipeline.gan.loop import cosine_share


def test_cosine_share_runs_from_one_to_the_final_share():
    assert cosine_share(0.25, 0.0) == 1.0
    assert cosine_share(0.25, 1.0) == pytest.approx(0.25)
    assert cosine_share(0.25, 0.5) == pytest.approx(0.625)
    assert cosine_share(0.1, 2.0) == pytest.approx(0.1) and cosine_share(0.1, -1.0) == 1.0   # clamped
    assert all(cosine_share(1.0, t / 10) == 1.0 for t in range(11))    # 1: exactly constant


def series(root, name: str) -> list[float]:
    rows = (root / "dvclive" / "8" / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()[1:]
    return [float(r.split("\t")[-1]) for r in rows]


@pytest.mark.parametrize("lr_decay, gamma_decay", [(0.25, 0.1), (1.0, 1.0)])
def test_the_stage_trains_along_the_schedules(tmp_path, lr_decay, gamma_decay):
    from train_helpers import make_project, run_stage

    root = make_project(tmp_path / "p", train={"lr_decay": lr_decay, "gamma_decay": gamma_decay, "gamma": 2.0})
    done = run_stage(root, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lr, gamma, kimg = series(root, "lr"), series(root, "gamma"), series(root, "kimg")
    assert len(lr) == len(gamma) == len(kimg) >= 2
    for values, start, final in ((lr, 0.002, lr_decay), (gamma, 2.0, gamma_decay)):
        # the value of the step that ended at each watch: t = (images shown before it) / cap
        expected = [start * cosine_share(final, (k * 1000 - 8) / 400) for k in kimg]
        assert values == pytest.approx(expected, rel=1e-6)
    if lr_decay < 1:
        assert lr[-1] == pytest.approx(0.002 * 0.25, rel=0.01) and gamma[-1] == pytest.approx(0.2, rel=0.02)
        assert all(a > b for a, b in zip(lr, lr[1:]))
    else:
        assert set(lr) == {0.002} and set(gamma) == {2.0}
    assert not any(math.isnan(v) for v in lr + gamma)
