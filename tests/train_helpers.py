"""A tiny project directory for running ``python -m pipeline.train`` in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from pipeline.synthetic import MODES, render

REPO = Path(__file__).resolve().parents[1]
CHANNELS = {4: 8, 8: 8, 16: 4, 32: 4}


def make_project(root: Path, size: int = 8, n: int = 48, train: dict | None = None, res: dict | None = None) -> Path:
    """params.yaml with tiny values (base = ``size``) and data/prepared/<size>.npy of synthetic paintings."""
    params = {
        "scrape": {"sources": [{"kind": "synthetic", "n": n, "size": 16, "seed": 0}]},
        "ladder": {"base": size, "grow": {}},
        "train": {"seed": 0, "device": "cpu", "z_dim": 16, "channels": CHANNELS, "watch_kimg": 0.2,
                  "checkpoint_kimg": 0.2, **(train or {})},
        "res": {size: {"batch": 8, "lr": 0.002, "kimg": 0.4, **(res or {})}},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    rng = np.random.default_rng(0)
    reals = np.stack([render(i % len(MODES), size, rng) for i in range(n)])
    (root / "data" / "prepared").mkdir(parents=True, exist_ok=True)
    np.save(root / "data" / "prepared" / f"{size}.npy", reals)
    return root


def stage_env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("WALLGAN_PARAMS", None)        # the project's own ./params.yaml
    return env


def run_stage(root: Path, size: int = 8, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.train", str(size)], cwd=root, env=stage_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


def generator_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "generator.pt", weights_only=False)["weights"]


def kill_at_first_checkpoint(module_args: list[str], root: Path, pattern: str, within: float = 40) -> Path:
    """Start ``python -m <module_args>`` in ``root``, kill -9 it once ``root/pattern`` exists; that file."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", *module_args], cwd=root, env=stage_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + within
    while not list(root.glob(pattern)):
        assert proc.poll() is None, "the stage ended before writing a periodic checkpoint"
        assert time.time() < deadline, f"no periodic checkpoint within {within:.0f} s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return next(root.glob(pattern))
