"""The upscale stage: the real dvc in a scratch repository, resume after kill -9, and its refusals."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dvc_cli import DVC, run
from train_helpers import REPO, kill_at_first_checkpoint, stage_env

UPSCALE = {"patch": 32, "batch": 8, "width": 8, "depth": 2, "steps": 30, "holdout": 0.25, "eval_images": 4,
           "checkpoint_steps": 10, "log_steps": 10, "device": "cpu"}


def make_project(root: Path, upscale: dict, n: int = 40, size: int = 64) -> Path:
    """The real scrape, dedup and upscale stages of dvc.yaml, with tiny params, in a git + DVC repository."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {k: stages[k] for k in ("scrape", "dedup", "upscale")}},
                                                  sort_keys=False))
    (root / "params.yaml").write_text(yaml.safe_dump({
        "scrape": {"sources": [{"kind": "synthetic", "n": n, "size": size, "seed": 2}]},
        "dedup": yaml.safe_load((REPO / "params.yaml").read_text())["dedup"],
        "upscale": upscale}, sort_keys=False))
    return root


def git_dvc_init(root: Path) -> None:
    env = stage_env()
    run(root, "git", "init", "-q", "-b", "main", env=env)
    run(root, *DVC, "init", "-q", env=env)
    run(root, "git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A", env=env)
    run(root, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny", env=env)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("up") / "repo", UPSCALE)
    git_dvc_init(root)
    run(root, *DVC, "repro", env=stage_env())
    return root


def test_dvc_repro_trains_measures_and_caches_the_upscaler(repo):
    assert (repo / "models/upscale/upscaler.pt").exists() and (repo / "plots/upscale/crops.png").exists()
    metrics = json.loads((repo / "metrics/upscale.json").read_text())
    assert metrics["held_out_images"] >= 4 and metrics["train_images"] >= 20
    for method in ("learned", "lanczos", "bicubic"):
        assert {"psnr", "ssim", "texture", "gain_db"} <= set(metrics[method]), metrics
    assert metrics["lanczos"]["gain_db"] == 0
    # a 12x15 in print of a held-out image: a 1:1 crop with the net beside the same crop by Lanczos alone
    from PIL import Image
    crop = Image.open(repo / "plots/upscale/print_crop.png")
    assert crop.size == (2 * 480 + 8, 480) and metrics["print_s"] > 0
    info = json.loads((repo / "models/upscale/info.json").read_text())
    assert info["held_out_gain_db"] == metrics["learned"]["gain_db"]   # what generate warns from
    live = json.loads((repo / "dvclive/upscale/metrics.json").read_text())
    assert live["steps"] == 30 and live["step"] == 30
    assert not list((repo / ".resume").glob("upscale-*/checkpoint.pt"))   # removed once the stage is done
    # nothing changed: nothing runs; an upscale key: the upscaler alone
    assert "Running stage" not in run(repo, *DVC, "repro", env=stage_env())
    out = run(repo, *DVC, "exp", "run", "-S", "upscale.steps=20", env=stage_env())
    assert "Running stage 'upscale'" in out and "Running stage 'dedup'" not in out, out


def stage(root: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.upscale"], cwd=root, env=stage_env(), capture_output=True,
                          text=True, timeout=300, **kw)


def data_only(root: Path) -> Path:
    """Run scrape and dedup directly (no dvc): what the upscale stage reads."""
    for module in ("pipeline.scrape", "pipeline.dedup"):
        done = subprocess.run([sys.executable, "-m", module], cwd=root, env=stage_env(), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    return root


LONG = UPSCALE | {"steps": 1500, "checkpoint_steps": 100, "log_steps": 100}


def test_a_killed_upscaler_resumes_and_ends_as_if_never_killed(tmp_path):
    reference = data_only(make_project(tmp_path / "ref", LONG))
    assert stage(reference).returncode == 0
    root = data_only(make_project(tmp_path / "p", LONG))
    checkpoint = kill_at_first_checkpoint(["pipeline.upscale"], root, ".resume/upscale-*/checkpoint.pt", within=120)
    assert not (root / "models/upscale/upscaler.pt").exists()
    saved = torch.load(checkpoint, weights_only=False)
    assert 100 <= saved["step"] < 1500

    done = stage(root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming at step {saved['step']}" in done.stdout
    a, b = (torch.load(r / "models/upscale/upscaler.pt", weights_only=True)["weights"] for r in (reference, root))
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = (root / "dvclive/upscale/plots/metrics/l1.tsv").read_text().splitlines()
    assert len(rows) == 1 + 15   # header, then every logged step once: the replayed ones and the new ones


def test_images_smaller_than_the_patch_stop_the_stage_naming_the_key(tmp_path):
    root = data_only(make_project(tmp_path / "p", UPSCALE | {"patch": 96}, n=12, size=64))
    done = stage(root)
    assert done.returncode != 0
    assert "upscale.patch" in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]


def test_a_params_typo_stops_the_stage_before_any_work(tmp_path):
    root = make_project(tmp_path / "p", UPSCALE | {"stepps": 10})
    done = stage(root)
    assert done.returncode != 0 and "upscale.stepps: unknown key; did you mean `steps`?" in done.stderr


def test_a_diverging_run_stops_naming_the_learning_rate_and_saves_no_model(tmp_path):
    root = data_only(make_project(tmp_path / "p", UPSCALE | {"lr": 1e12}, n=12))
    done = stage(root)
    assert done.returncode != 0 and "lower upscale.lr" in done.stderr and "Traceback" not in done.stderr, \
        done.stderr[-2000:]
    assert not (root / "models/upscale/upscaler.pt").exists()
