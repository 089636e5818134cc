"""train.growth through the train stage: a skip ladder grows, hands on its form, and samples as trained."""
import numpy as np
import torch
import yaml

from pipeline.gan.checkpoint import load_generator
from pipeline.gan.layers import smooth_upsample
from pipeline.synthetic import MODES, render
from train_helpers import make_project, run_stage

torch.set_num_threads(1)


def grow_to_16(root, growth: str):
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["ladder"]["grow"] = {"16": 8}
    params["res"]["16"] = {"batch": 8, "lr": 0.002, "fade_kimg": 0.2, "stable_kimg": 0.2}
    params["train"]["growth"] = growth
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    rng = np.random.default_rng(1)
    np.save(root / "data" / "prepared" / "16.npy", np.stack([render(i % len(MODES), 16, rng) for i in range(48)]))
    return run_stage(root, size=16, timeout=120)


def test_a_skip_ladder_trains_grows_and_samples_with_the_lower_rungs_picture(tmp_path):
    root = make_project(tmp_path / "p", size=8, train={"growth": "skip"})
    assert run_stage(root, size=8, timeout=120).returncode == 0
    done = grow_to_16(root, "skip")
    assert done.returncode == 0, done.stderr[-2000:]
    G, config = load_generator(root / "models" / "16")
    assert config["skip"] and G.skip and G.resolution == 16
    z = torch.randn(4, 16)
    with torch.no_grad():
        out = G(z)
        assert out.shape == (4, 3, 16, 16)
        low = G.to_rgb["8"](G.trunk(G.input(z), 8))
        detail = G.to_rgb["16"](G.trunk(G.input(z), 16))
        torch.testing.assert_close(out, smooth_upsample(low) + detail)
        assert detail.abs().mean() > 1e-3           # the grown toRGB started at exactly zero and learned to draw


def test_a_base_of_either_growth_grows_into_a_skip_rung_and_a_faded_rung_does_not(tmp_path):
    """The base has no lower picture to add to, so it is the same network either way; a grown fade rung is not."""
    root = make_project(tmp_path / "p", size=8, train={"growth": "fade"})
    assert run_stage(root, size=8, timeout=120).returncode == 0
    done = grow_to_16(root, "skip")
    assert done.returncode == 0, done.stderr[-2000:]
    assert grow_to_16(root, "fade").returncode == 0          # 16 px now a fade rung
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["ladder"]["grow"]["32"] = 16
    params["res"]["32"] = {"batch": 8, "lr": 0.002, "fade_kimg": 0.2, "stable_kimg": 0.2}
    params["train"]["growth"] = "skip"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    np.save(root / "data" / "prepared" / "32.npy", np.zeros((8, 32, 32, 3), np.uint8) + 128)
    done = run_stage(root, size=32, timeout=120)
    assert done.returncode == 1
    assert "the 16 px model was grown with train.growth=fade; retrain every rung with train.growth=skip" in done.stderr
    assert "Traceback" not in done.stderr
