"""python -m pipeline.compare on a real scratch DVC repo: recipes over seeds, mean +- sd, beyond the noise."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import yaml

from dvc_cli import DVC, run
from pipeline import compare

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
# A stage standing in for the pipeline: its figures are a known function of the recipe and the seed.
STAGE = """\
import json, os, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
noise = [0.0, 1.0, -1.0, 2.0][p["seed"]]
os.makedirs("metrics", exist_ok=True)
json.dump({"px": 64, "modes": 18 + 4 * (p["lr"] == 0.002) + noise, "swd": 60.0 + noise / 10,
           "threads": int(os.environ.get("OMP_NUM_THREADS", "0"))}, open("metrics/headline.json", "w"))
"""


def sh(repo: Path, *cmd: str, env: dict | None = None) -> str:
    return run(repo, *cmd, env=env)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """Baseline (lr 0.003) at seeds 0-2, lr 0.002 at seeds 0-2 run two at a time from the queue, one queued run."""
    repo = tmp_path_factory.mktemp("compare") / "repo"
    repo.mkdir()
    (repo / "stage.py").write_text(STAGE)
    (repo / "params.yaml").write_text(yaml.safe_dump({"train": {"seed": 0, "lr": 0.003}}))
    sh(repo, "git", "init", "-q")
    sh(repo, *DVC, "init", "-q")
    sh(repo, *DVC, "stage", "add", "-q", "-n", "run", "-d", "stage.py", "-p", "train",
       "-M", "metrics/headline.json", f'"{sys.executable}" stage.py')
    sh(repo, *DVC, "repro", "-q")
    sh(repo, *GIT, "add", "-A")
    sh(repo, *GIT, "commit", "-qm", "baseline")
    for seed in (1, 2):
        sh(repo, *DVC, "exp", "run", "-q", "-S", f"train.seed={seed}")
    for seed in (0, 1, 2):
        sh(repo, *DVC, "exp", "run", "--queue", "-q", "-S", f"train.seed={seed}", "-S", "train.lr=0.002")
    # The README's way to run a queue: two one-thread runs at a time.
    sh(repo, *DVC, "queue", "start", "-j", "2", env={"OMP_NUM_THREADS": "1"})
    deadline = time.time() + 240
    while "Queued" in (status := sh(repo, *DVC, "queue", "status")) or "Running" in status:
        assert time.time() < deadline, status
        time.sleep(2)
    sh(repo, *DVC, "queue", "stop")
    sh(repo, *DVC, "exp", "run", "--queue", "-q", "-S", "train.seed=3")   # queued, never run: left out
    return repo


def test_recipes_are_compared_over_seeds(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    compare.main(["--json"])
    rows = {r["recipe"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"baseline", "train.lr=0.002"}
    base, other = rows["baseline"], rows["train.lr=0.002"]
    assert base["n"] == other["n"] == 3
    # modes: baseline 18 + (0, 1, -1) -> 18 +- 1; lr 0.002: 22 + (0, 1, -1) -> 22 +- 1
    assert base["figures"]["modes"] == {"mean": 18.0, "sd": 1.0, "n": 3, "beyond_noise": None}
    assert other["figures"]["modes"] == {"mean": 22.0, "sd": 1.0, "n": 3, "beyond_noise": True}
    assert other["figures"]["swd"]["beyond_noise"] is False     # same swd: within the noise
    assert other["figures"]["px"] == {"mean": 64.0, "sd": 0.0, "n": 3, "beyond_noise": False}
    assert other["figures"]["threads"]["mean"] == 1.0            # the queue ran one-thread runs


def test_the_table_marks_differences_beyond_seed_noise(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    compare.main(["--figures", "modes,swd"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["recipe", "n", "modes", "swd"]
    assert lines[1].split() == ["baseline", "3", "18", "±", "1", "60", "±", "0.1"]
    assert lines[2].split() == ["train.lr=0.002", "3", "22", "±", "1", "*", "60", "±", "0.1"]
    assert "6 runs in 2 recipes" in lines[-1]


def test_one_run_cannot_be_ranked(tmp_path):
    runs = [compare.Run("a", "1", {"train.seed": 0, "x": 1}, {"m": 1.0}),
            compare.Run("b", "2", {"train.seed": 0, "x": 2}, {"m": 5.0})]
    groups = compare.group(runs)
    rows = compare.summary(groups, compare.recipe_of(runs[0]), ["m"])
    assert rows[1]["recipe"] == "x=2" and rows[1]["figures"]["m"]["beyond_noise"] is None
    assert "5 ?" in compare.render(rows, ["m"])


def test_no_finished_run_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(compare, "exp_show", lambda args: [])
    with pytest.raises(SystemExit, match="no finished run with metrics/headline.json"):
        compare.main([])
