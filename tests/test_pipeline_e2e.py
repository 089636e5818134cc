"""The real `dvc repro` and `dvc exp run` on a copy of this repository with tiny params."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc is not installed")


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out[-6000:]}"
    return out


def project_files() -> list[str]:
    """Tracked and not-ignored files: what a fresh clone would hold."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["scrape"]["sources"] = [{"kind": "synthetic", "n": 72, "size": 32, "seed": 1}]
    params["ladder"] = {"base": 8, "grow": {"16": 8}}
    params["train"].update(channels={4: 8, 8: 8, 16: 4, 32: 4}, watch_kimg=0.05, checkpoint_kimg=0.05)
    params["res"] = {8: {"batch": 8, "lr": 0.002, "kimg": 0.1},
                     16: {"batch": 8, "lr": 0.002, "fade_kimg": 0.05, "stable_kimg": 0.05},
                     32: {"batch": 8, "lr": 0.002, "fade_kimg": 0.05, "stable_kimg": 0.05}}
    params["evaluate"].update(n_samples=64, swd_images=16, msssim_pairs=16, distinct_images=32,
                              memorization_samples=32, prdc_images=16, panel_pairs=4)
    return params


def finite_numbers(tree) -> list[float]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in finite_numbers(v)]
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return [float(tree)]
    return []


def test_dvc_repro_then_grow_one_resolution(tmp_path):
    repo = tmp_path / "repo"
    for f in project_files():
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, repo / f)
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"], repo)

    dag = run(["dvc", "dag", "--md"], repo)
    for stage in ("scrape", "dedup", "prepare", "train_base", "train@16", "evaluate_base", "evaluate@16"):
        assert stage in dag

    run(["dvc", "repro"], repo)
    for path in ("data/raw/manifest.csv", "data/unique/manifest.csv", "data/prepared/8.npy",
                 "data/prepared/16.npy", "models/8/generator.pt", "models/8/state.pt", "models/8/samples.png",
                 "models/16/generator.pt", "models/16/samples.png", "dvclive/16/metrics.json",
                 "metrics/8.json", "metrics/16.json", "plots/16/samples.png", "plots/metrics_by_resolution.csv"):
        assert (repo / path).exists(), path
    for size in (8, 16):
        metrics = json.loads((repo / f"metrics/{size}.json").read_text())
        assert metrics["swd"]["avg"] is not None and math.isfinite(metrics["swd"]["avg"])
        assert metrics["modes"]["covered"] is not None
        assert all(math.isfinite(x) for x in finite_numbers(metrics))
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo))
    assert "metrics/16.json" in json.dumps(shown)

    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ran"], repo)
    out = run(["dvc", "exp", "run", "-S", "+ladder.grow.32=16"], repo)
    assert "Running stage 'train@32'" in out
    assert "Running stage 'evaluate@32'" in out
    for stage in ("train_base", "train@16", "evaluate_base", "evaluate@16", "scrape", "dedup"):
        assert f"Running stage '{stage}'" not in out, f"{stage} was rerun:\n{out[-3000:]}"
    assert (repo / "models/32/generator.pt").exists()
    table = run(["dvc", "exp", "show", "--json"], repo)
    assert "metrics/32.json" in table
