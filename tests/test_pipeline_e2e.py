"""The real `dvc repro` and `dvc exp run` on a copy of this repository with tiny params."""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import browser
import deps
from dvc_cli import DVC, python_first_path

ROOT = Path(__file__).resolve().parents[1]



def run(cmd: list[str], cwd: Path, audit: Path | None = None, env: dict | None = None) -> str:
    env = {**os.environ, "PATH": python_first_path(), "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1",
           **(env or {})}
    if audit is not None:   # record the files each stage reads (tests/audit/sitecustomize.py)
        env.update(deps.audit_env(audit, env))
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
    params["train"].update(size=32, channels={"4": 8, "8": 8, "16": 4, "32": 4, "64": 4}, watch_kimg=0.05,
                           checkpoint_kimg=0.05)
    params["res"] = {"16": {"batch": 8, "lr": 0.002, "kimg": 0.1},
                     "32": {"batch": 8, "lr": 0.002, "fade_kimg": 0.05, "stable_kimg": 0.05},
                     "64": {"batch": 8, "lr": 0.002, "fade_kimg": 0.05, "stable_kimg": 0.05},
                     "128": {"batch": 8, "lr": 0.002, "fade_kimg": 0.05, "stable_kimg": 0.05},
                     "256": {"batch": 8, "lr": 0.002, "fade_kimg": 0.05, "stable_kimg": 0.05}}
    params["upscale"].update(patch=32, batch=8, width=8, depth=2, steps=20, eval_images=4, checkpoint_steps=10,
                             log_steps=10)
    params["evaluate"].update(n_samples=64, swd_images=16, msssim_pairs=16, distinct_images=32,
                              memorization_samples=32, prdc_images=16, panel_pairs=4)
    return params


def finite_numbers(tree) -> list[float]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in finite_numbers(v)]
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return [float(tree)]
    return []


def readme_flags(command: str) -> list[str]:
    """The arguments the README's Experiments section gives ``command`` (its first use), as the shell splits them."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Experiments"):text.index("## Sources")]
    start = section.index(command + " ") + len(command)
    logical = re.match(r"(?:[^\n]*\\\n)*[^\n]*", section[start:]).group(0)   # lines joined by a trailing \
    return shlex.split(logical.replace("\\\n", " "), comments=True)


def ran(out: str) -> set[str]:
    """The stages a dvc repro / exp run printed as running."""
    return set(re.findall(r"Running stage '([^']+)'", out))


def commit(repo: Path, message: str) -> None:
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> SimpleNamespace:
    """A copy of this repository with tiny params after `dvc repro` (audited) and two experiments."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    repo = tmp_path / "repo"
    for f in project_files():
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, repo / f)
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], repo)
    commit(repo, "tiny")
    dag = run(DVC + ["dag", "--md"], repo)
    audit = tmp_path / "audit"
    run(DVC + ["repro"], repo, audit=audit)
    repro = SimpleNamespace(files={p: (repo / p).exists() for p in OUTPUTS},
                            metrics={s: json.loads((repo / f"metrics/res/{s}.json").read_text()) for s in LADDER},
                            idle={(folder, s): sorted(p.name for p in (repo / folder / str(s)).iterdir())
                                  for folder in ("models", "dvclive", "plots") for s in (64, 128, 256)},
                            headline=json.loads((repo / "metrics/headline.json").read_text()),
                            unread=deps.read_uncovered(repo, audit),
                            shown=json.dumps(json.loads(run(DVC + ["metrics", "show", "--json"], repo))))
    commit(repo, "ran")
    # Bytecode caches that Python or the tests leave in directory deps change nothing.
    for package in ("pipeline/gan", "pipeline/sources", "pipeline/metrics"):
        (repo / package / "__pycache__").mkdir(exist_ok=True)
        (repo / package / "__pycache__" / "stale.cpython-311.pyc").write_bytes(os.urandom(64))
    lr32 = run(DVC + ["exp", "run", "-n", "lr32", "-S", "res.32.lr=0.001"], repo)
    gamma2 = run(DVC + ["exp", "run", "-n", "gamma2", "-S", "train.gamma=2"], repo)
    return SimpleNamespace(repo=repo, tmp=tmp_path, dag=dag, repro=repro, lr32=lr32, gamma2=gamma2)


LADDER = (16, 32, 64, 128, 256)
OUTPUTS = ("data/raw/manifest.csv", "data/unique/manifest.csv", "data/prepared/16.npy", "data/prepared/32.npy",
           "models/16/generator.pt", "models/16/state.pt", "models/16/samples.png", "models/32/generator.pt",
           "models/32/samples.png", "dvclive/32/metrics.json", "metrics/res/16.json", "metrics/res/32.json",
           "plots/32/samples.png", "plots/metrics_by_resolution.csv", "plots/training.csv", "metrics/headline.json",
           "plots/page.html", "models/upscale/upscaler.pt", "metrics/upscale.json", "plots/upscale/crops.png",
           "plots/upscale/print_crop.png")


def test_dvc_repro_then_experiments(project):
    repo, repro = project.repo, project.repro
    for stage in ("scrape", "dedup", "upscale", "prepare", "train_base", "train@32", "train@256", "evaluate_base",
                  "evaluate@32", "evaluate@256", "summary", "plots_page"):
        assert stage in project.dag
    assert all(repro.files.values()), repro.files
    for size in (16, 32):
        metrics = repro.metrics[size]
        assert metrics["swd"]["avg"] is not None and math.isfinite(metrics["swd"]["avg"])
        assert metrics["modes"]["covered"] is not None
        assert all(math.isfinite(x) for x in finite_numbers(metrics))
    # Rungs above train.size (32) are stages that idled: one file each, nothing trained.
    for size in (64, 128, 256):
        assert repro.metrics[size]["idle"] is True
    assert set(map(tuple, repro.idle.values())) == {("idle.json",)}, repro.idle
    assert repro.headline["px"] == 32
    assert math.isfinite(repro.headline["up_db"]) and math.isfinite(repro.headline["up_tex"])   # the upscaler's
    # every data file a stage read is declared in its deps (the code it imports: tests/test_dvc_deps.py)
    assert repro.unread == {}
    assert "metrics/headline.json" in repro.shown and "metrics/res/32.json" not in repro.shown   # detail stays out

    # A per-resolution knob: that resolution and what comes after it, nothing below.
    # (train@64 reruns too, as it depends on models/32, and idles again in a second.)
    assert ran(project.lr32) == {"train@32", "evaluate@32", "train@64", "summary"}, project.lr32[-3000:]
    # A shared knob: every resolution.
    out = project.gamma2
    assert {"train_base", "train@32", "evaluate_base", "evaluate@32", "summary"} <= ran(out), out[-3000:]
    assert not ran(out) & {"scrape", "dedup", "prepare"}

    # The README's comparison table fits 160 columns and shows both runs' headline figures.
    table = run(DVC + ["exp", "show", "--no-pager", *readme_flags("dvc exp show")], repo, env={"COLUMNS": "400"})
    lines = [line for line in table.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= 160, table
    header = lines[1].split()
    assert header[0] == "Experiment" and header[-2:] == ["train.gamma", "res.32.lr"], table
    assert {"px", "modes", "swd", "swd_real", "kid", "kid_real", "recall", "copies", "train_s"} <= set(header), table
    assert "lr32" in table and "gamma2" in table
    detail = json.loads(run(DVC + ["metrics", "diff", "main", "gamma2", "--targets", "metrics/res/32.json",
                                   "--json"], repo))
    assert "swd.avg" in detail["metrics/res/32.json"], detail


@pytest.mark.skipif(browser.chromium() is None, reason="no Chromium to draw the plots diff page")
def test_plots_diff_draws_both_runs_offline(project):
    run(DVC + ["plots", "diff", "lr32", "gamma2", "-o", str(project.tmp / "page")], project.repo)
    report = browser.chart_report(project.tmp / "page" / "index.html")
    assert report["charts"] >= 9 and report["rendered"] == report["charts"], report


def test_one_knob_grows_the_ladder(project):
    repo = project.repo
    # The new rung trains and is evaluated; prepare reruns (byte-identical arrays below), the idle rung
    # above the new top re-idles; nothing below is touched.
    out = run(DVC + ["exp", "run", "-n", "grow64", "-S", "train.size=64"], repo)
    assert ran(out) == {"prepare", "train@64", "evaluate@64", "train@128", "summary"}, out[-3000:]
    assert (repo / "models/64/generator.pt").exists()
    # the experiment's 64 px metrics are readable through DVC (from its cache, not from git)
    table = json.loads(run(DVC + ["exp", "show", "--json"], repo))
    head = [m for m in find_values(table, "metrics/headline.json") if isinstance(m, dict) and "data" in m]
    assert any(h["data"]["px"] == 64 and math.isfinite(h["data"]["swd"]) for h in head)
    # the README's comparison shows the knob that changed
    table = run(DVC + ["exp", "show", "--no-pager", *readme_flags("dvc exp show")], repo, env={"COLUMNS": "400"})
    assert "train.size" in table and "grow64" in table, table
    # and back down: the run at 32 px is restored from DVC's run cache, nothing trains
    out = run(DVC + ["exp", "run", "-S", "train.size=32"], repo)
    assert not ran(out) & {"train_base", "train@32", "train@64", "evaluate@32"}, out[-3000:]


def find_values(tree, key: str) -> list:
    """Every value stored under ``key`` anywhere in a JSON tree."""
    if isinstance(tree, dict):
        return ([tree[key]] if key in tree else []) + [x for v in tree.values() for x in find_values(v, key)]
    if isinstance(tree, list):
        return [x for v in tree for x in find_values(v, key)]
    return []
