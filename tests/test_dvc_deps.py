"""dvc.yaml declares what each stage's command imports and reads, so DVC never serves stale results."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from deps import _load, audit_env, code_deps, imported_modules, read_uncovered, sections_read, undeclared_sections
from pipeline.gan.config import SHARED_KEYS
from train_helpers import make_project, stage_env

ROOT = Path(__file__).resolve().parents[1]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


def write_dvc_yaml(root: Path, stages_: dict) -> None:
    """Make ``root`` a DVC project with these stages (the checks need no git and no .dvc/)."""
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages_}, sort_keys=False))


def test_every_stage_declares_the_code_it_imports_and_no_more():
    diff = code_deps(ROOT)
    report = "\n".join(f"  {stage}: missing {d['missing']}, extra {d['extra']}" for stage, d in diff.items())
    assert not diff, (f"dvc.yaml's code deps differ from what each stage imports (a missing one serves stale "
                      f"results after that code changes; an extra one reruns the stage for nothing):\n{report}")


def test_every_stage_declares_the_params_sections_it_reads():
    assert sections_read(ROOT, "pipeline.train") == {"ladder", "train", "res"}
    missing = undeclared_sections(ROOT)
    assert not missing, (f"these stages read params.yaml sections that dvc.yaml does not list under `params:`, "
                         f"so changing them would not rerun the stage: {missing}")


def test_train_stages_depend_on_every_train_key_but_the_top_size():
    """train.size only picks rungs (prepare, summary); every other train key changes how a rung trains."""
    shared = {f"train.{k}" for k in SHARED_KEYS}
    for name, stage in _load(ROOT).items():
        keys = set(stage.keys)
        if name.startswith("train"):
            assert shared <= keys and "train.size" not in keys and "train" not in keys, (name, shared - keys)
        if name in ("prepare", "summary"):
            assert "train.size" in keys, name


def test_the_params_check_catches_an_undeclared_section(tmp_path):
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dvc_yaml["stages"]["dedup"]["params"] = []       # dedup reads its `dedup` section
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    assert undeclared_sections(tmp_path) == {"dedup": ["dedup"]}


# A package with every kind of import the static check follows.
PACKAGE = {
    "pipeline/__init__.py": "",
    "pipeline/stage.py": """
        import json
        from pipeline import util
        from .lib import helper as _

        def run():
            from pipeline.lib.deep import thing   # lazy: loaded only when run() is called
            import importlib
            return importlib.import_module("pipeline.plugin")
        """,
    "pipeline/util.py": "from pipeline.lib import CONSTANT\n",
    "pipeline/lib/__init__.py": "CONSTANT = 1\n",
    "pipeline/lib/helper.py": "from . import deep\n",
    "pipeline/lib/deep/__init__.py": "thing = 2\n",
    "pipeline/plugin.py": "",
    "pipeline/unused.py": "",
    "pipeline/cli/__init__.py": "",
    "pipeline/cli/__main__.py": "from pipeline.util import CONSTANT\n",
}


def test_imports_are_followed_through_functions_relative_imports_and_packages(tmp_path):
    write(tmp_path, PACKAGE)
    assert imported_modules(tmp_path, "pipeline.stage") == {Path(p) for p in (
        "pipeline/__init__.py", "pipeline/stage.py", "pipeline/util.py", "pipeline/lib/__init__.py",
        "pipeline/lib/helper.py", "pipeline/lib/deep/__init__.py", "pipeline/plugin.py")}
    assert imported_modules(tmp_path, "pipeline.cli") == {Path(p) for p in (
        "pipeline/__init__.py", "pipeline/cli/__init__.py", "pipeline/cli/__main__.py", "pipeline/util.py",
        "pipeline/lib/__init__.py")}


def test_a_missing_lazy_import_and_an_extra_package_are_caught(tmp_path, monkeypatch):
    write(tmp_path, PACKAGE)
    declared = ["pipeline/__init__.py", "pipeline/stage.py", "pipeline/util.py", "pipeline/lib", "pipeline/plugin.py"]
    write_dvc_yaml(tmp_path, {"stage": {"cmd": "python -m pipeline.stage", "deps": declared}})
    monkeypatch.chdir(ROOT.parent)   # works from any directory
    assert code_deps(tmp_path) == {}
    write_dvc_yaml(tmp_path, {"stage": {"cmd": "python -m pipeline.stage", "deps": declared[:-1]}})
    assert code_deps(tmp_path) == {"stage": {"missing": ["pipeline/plugin.py"], "extra": []}}
    write_dvc_yaml(tmp_path, {"stage": {"cmd": "python -m pipeline.stage", "deps": [*declared, "pipeline/cli"]}})
    assert code_deps(tmp_path) == {"stage": {"missing": [], "extra": ["pipeline/cli"]}}


def test_a_package_dropped_from_a_real_stage_is_caught(tmp_path):
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dvc_yaml["stages"]["dedup"]["deps"].remove("pipeline/neardup")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    assert code_deps(tmp_path) == {"dedup": {"missing": ["pipeline/neardup"], "extra": []}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny copy of the project whose train_base (8 px) and train@16 ran once under the audit; its log folder."""
    root = make_project(tmp_path_factory.mktemp("trained") / "p", size=8, n=24, train={"size": 16},
                        res={"kimg": 0.05})
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["ladder"] = {"base": 8, "grow": {"16": 8}}
    params["res"]["16"] = {"batch": 8, "lr": 0.002, "fade_kimg": 0.03, "stable_kimg": 0.02}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    np.save(root / "data" / "prepared" / "16.npy", np.load(root / "data" / "prepared" / "8.npy").repeat(2, 1).repeat(2, 2))
    shutil.copytree(ROOT / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    logs = root.parent / "audit"
    env = {**stage_env(), "PYTHONPATH": str(root)}
    env.update(audit_env(logs, env))
    for size in ("8", "16"):
        done = subprocess.run([sys.executable, "-m", "pipeline.train", size], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    return root, logs


def test_the_train_stages_declare_the_data_they_read(trained):
    """Fast twin of the end-to-end audit for the costliest stages: a dropped data dep serves a stale model."""
    root, logs = trained
    assert read_uncovered(root, logs) == {}
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dvc_yaml["stages"]["train_base"]["deps"].remove("data/prepared/${ladder.base}.npy")
    dvc_yaml["stages"]["train"]["do"]["deps"].remove("models/${item}")
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    assert read_uncovered(root, logs) == {"train@16": ["models/8/state.pt"],
                                          "train_base": ["data/prepared/8.npy"]}


READER = """
    import os
    import sys
    from multiprocessing import get_context

    import yaml


    def size(path):
        with open(path) as f:
            return len(f.read())


    if __name__ == "__main__":
        yaml.safe_load(open("params.yaml"))
        open("data/x.txt").read()
        parts = [os.path.join("data/parts", n) for n in sorted(os.listdir("data/parts"))]
        with get_context("fork").Pool(2) as pool:   # workers read the parts
            pool.map(size, parts)
        os.makedirs("out", exist_ok=True)
        with open("out/.y.txt.tmp", "w") as f:
            f.write(sys.argv[1])
        os.replace("out/.y.txt.tmp", "out/y.txt")
        open("out/y.txt").read()
    """


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> tuple[Path, Path]:
    """A project whose pipeline.reader ran once under the audit; and the audit's log folder."""
    root = tmp_path_factory.mktemp("project")
    logs = tmp_path_factory.mktemp("audit") / "logs"   # audit_env makes it
    write(root, {"pipeline/__init__.py": "", "pipeline/reader.py": READER, "params.yaml": "n: 1\n",
                 "data/x.txt": "x", "data/parts/a.txt": "a", "data/parts/b.txt": "b"})
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.update(audit_env(logs, env))
    for cmd in ([sys.executable, "-m", "pipeline.reader", "7"],
                [sys.executable, "-c", "open('data/x.txt').read()"]):   # not a pipeline module: no log
        subprocess.run(cmd, cwd=root, env=env, check=True, timeout=60)
    return root, logs


@pytest.mark.parametrize("deps, missing", [
    (["data/x.txt", "data/parts"], {}),
    (["data"], {}),
    (["data/parts"], {"reader": ["data/x.txt"]}),
    (["data/x.txt", "data/parts/a.txt", "data/parts/b.txt"], {"reader": ["data/parts"]}),   # listed
    (["data/x.txt"], {"reader": ["data/parts", "data/parts/a.txt", "data/parts/b.txt"]}),   # forked workers
])
def test_the_audit_reports_reads_not_in_deps(audited, deps, missing):
    root, logs = audited
    assert len(list(logs.glob("*.json"))) == 1
    write_dvc_yaml(root, {"reader": {"cmd": "python -m pipeline.reader 7", "deps": ["pipeline/reader.py", *deps],
                                  "params": ["n"], "outs": ["out"]}})
    assert read_uncovered(root, logs) == missing


def test_the_audit_refuses_a_log_of_no_stage_and_a_run_with_no_log(audited, tmp_path):
    root, logs = audited
    write_dvc_yaml(root, {"reader": {"cmd": "python -m pipeline.reader 8", "deps": ["data"], "outs": ["out"]}})
    with pytest.raises(ValueError, match="pipeline.reader 7"):
        read_uncovered(root, logs)
    with pytest.raises(ValueError, match="no audit logs"):
        read_uncovered(root, tmp_path)
