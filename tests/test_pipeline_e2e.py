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
    params["scrape"]["sources"] = [{"kind": "synthetic", "n": 72, "size": 64, "seed": 1}]
    params["ladder"] = {"base": 16, "grow": {"32": 16}}
    params["train"].update(channels={4: 8, 8: 8, 16: 4, 32: 4, 64: 4}, watch_kimg=0.05, checkpoint_kimg=0.05)
    params["res"] = {16: {"batch": 8, "lr": 0.002, "kimg": 0.1},
                     32: {"batch": 8, "lr": 0.002, "fade_kimg": 0.05, "stable_kimg": 0.05},
                     64: {"batch": 8, "lr": 0.002, "fade_kimg": 0.05, "stable_kimg": 0.05}}
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
    for stage in ("scrape", "dedup", "prepare", "train_base", "train@32", "evaluate_base", "evaluate@32"):
        assert stage in dag

    run(["dvc", "repro"], repo)
    for path in ("data/raw/manifest.csv", "data/unique/manifest.csv", "data/prepared/16.npy",
                 "data/prepared/32.npy", "models/16/generator.pt", "models/16/state.pt", "models/16/samples.png",
                 "models/32/generator.pt", "models/32/samples.png", "dvclive/32/metrics.json",
                 "metrics/16.json", "metrics/32.json", "plots/32/samples.png", "plots/metrics_by_resolution.csv"):
        assert (repo / path).exists(), path
    for size in (16, 32):
        metrics = json.loads((repo / f"metrics/{size}.json").read_text())
        assert metrics["swd"]["avg"] is not None and math.isfinite(metrics["swd"]["avg"])
        assert metrics["modes"]["covered"] is not None
        assert all(math.isfinite(x) for x in finite_numbers(metrics))
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo))
    assert "metrics/32.json" in json.dumps(shown)

    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ran"], repo)
    out = run(["dvc", "exp", "run", "-S", "+ladder.grow.64=32"], repo)
    assert "Running stage 'train@64'" in out
    assert "Running stage 'evaluate@64'" in out
    for stage in ("train_base", "train@32", "evaluate_base", "evaluate@32", "scrape", "dedup"):
        assert f"Running stage '{stage}'" not in out, f"{stage} was rerun:\n{out[-3000:]}"
    assert (repo / "models/64/generator.pt").exists()
    # the experiment's 64 px metrics are readable through DVC (from its cache, not from git)
    table = json.loads(run(["dvc", "exp", "show", "--json"], repo))
    found = [m for m in find_values(table, "metrics/64.json") if isinstance(m, dict) and "data" in m]
    assert found and math.isfinite(found[0]["data"]["swd"]["avg"])


def find_values(tree, key: str) -> list:
    """Every value stored under ``key`` anywhere in a JSON tree."""
    if isinstance(tree, dict):
        return ([tree[key]] if key in tree else []) + [x for v in tree.values() for x in find_values(v, key)]
    if isinstance(tree, list):
        return [x for v in tree for x in find_values(v, key)]
    return []
