"""The CUDA path of the train stage (bf16 autocast, channels_last): a base and a grown stage on the GPU.

Runs where ``torch.cuda.is_available()``; skips cleanly everywhere else.
"""
import json

import numpy as np
import pytest
import torch
import yaml

from pipeline.gan import checkpoint as ckpt
from pipeline.synthetic import MODES, render
from train_helpers import CHANNELS, run_stage

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def test_base_and_grown_stage_train_on_cuda_and_load_on_cpu(tmp_path):
    params = {
        "ladder": {"base": 8, "grow": {"16": 8}},
        "train": {"seed": 0, "device": "cuda", "z_dim": 16, "channels": CHANNELS, "watch_kimg": 0.2,
                  "checkpoint_kimg": 0.2},
        "res": {"8": {"batch": 8, "lr": 0.002, "kimg": 0.4},
                "16": {"batch": 8, "lr": 0.002, "fade_kimg": 0.2, "stable_kimg": 0.2}},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "prepared").mkdir(parents=True)
    for size in (8, 16):
        reals = np.stack([render(i % len(MODES), size, rng) for i in range(48)])
        np.save(tmp_path / "data" / "prepared" / f"{size}.npy", reals)

    for size in (8, 16):
        done = run_stage(tmp_path, size, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        info = json.loads((tmp_path / "models" / str(size) / "info.json").read_text())
        assert info["train"]["device"].startswith("cuda"), info["train"]

    G, info = ckpt.load_generator(tmp_path / "models" / "16", "cpu")     # a GPU-trained model runs anywhere
    with torch.no_grad():
        images = G(torch.randn(4, info["z_dim"]))
    assert images.shape == (4, 3, 16, 16) and torch.isfinite(images).all()
