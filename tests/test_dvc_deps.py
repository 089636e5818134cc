"""dvc.yaml declares what each stage's command imports and reads, so DVC never serves stale results."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from deps import (audit_env, imported_modules, python_modules, read_uncovered, sections_read, stages,
                  uncovered, undeclared_sections)

ROOT = Path(__file__).resolve().parents[1]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


def write_dvc_yaml(root: Path, stages_: dict) -> None:
    """Make ``root`` a DVC project with these stages (the checks need no git and no .dvc/)."""
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages_}, sort_keys=False))


def test_every_stage_declares_the_code_it_imports():
    missing = uncovered(ROOT)
    report = "\n".join(f"  {stage}: {', '.join(files)}" for stage, files in missing.items())
    assert not missing, (f"these stages import project files that dvc.yaml does not list, so DVC would "
                         f"serve their cached results after those files change:\n{report}\n"
                         f"Add each file (or a directory above it) to that stage's deps in dvc.yaml.")


def test_every_stage_declares_the_params_sections_it_reads():
    assert sections_read(ROOT, "pipeline.train") == {"ladder", "train", "res"}
    missing = undeclared_sections(ROOT)
    assert not missing, (f"these stages read params.yaml sections that dvc.yaml does not list under `params:`, "
                         f"so changing them would not rerun the stage: {missing}")


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


def test_a_lazy_import_missing_from_deps_is_caught(tmp_path, monkeypatch):
    write(tmp_path, PACKAGE)
    declared = ["pipeline/__init__.py", "pipeline/stage.py", "pipeline/util.py", "pipeline/lib", "pipeline/plugin.py"]
    write_dvc_yaml(tmp_path, {"stage": {"cmd": "python -m pipeline.stage", "deps": declared}})
    monkeypatch.chdir(ROOT.parent)   # works from any directory
    assert uncovered(tmp_path) == {}
    write_dvc_yaml(tmp_path, {"stage": {"cmd": "python -m pipeline.stage", "deps": declared[:-1]}})
    assert uncovered(tmp_path) == {"stage": ["pipeline/plugin.py"]}


@pytest.fixture(scope="module")
def real_copy(tmp_path_factory) -> tuple[Path, str, list[str]]:
    """A copy of this project's code whose dvc.yaml runs the real stage command importing the most files."""
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "pipeline", repo / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "params.yaml", repo / "params.yaml")
    module, cmd = max(((module, cmd) for cmd, _ in stages(ROOT).values() for module, _ in python_modules(cmd)),
                      key=lambda run: len(imported_modules(ROOT, run[0])))
    files = sorted(p.as_posix() for p in imported_modules(repo, module))
    return repo, cmd, files


def test_a_module_missing_from_a_real_stage_is_caught(real_copy):
    repo, cmd, files = real_copy
    write_dvc_yaml(repo, {"stage": {"cmd": cmd, "deps": files}})
    assert uncovered(repo) == {}
    dropped = files[len(files) // 2]
    write_dvc_yaml(repo, {"stage": {"cmd": cmd, "deps": [f for f in files if f != dropped]}})
    assert uncovered(repo) == {"stage": [dropped]}


def test_a_directory_dep_covers_the_modules_under_it(real_copy):
    repo, cmd, files = real_copy
    package = max({Path(f).parent for f in files}, key=lambda p: len(p.parts))   # the deepest one
    outside = [f for f in files if Path(f).parent != package]
    inside = sorted(f for f in files if Path(f).parent == package)
    write_dvc_yaml(repo, {"stage": {"cmd": cmd, "deps": [*outside, package.as_posix()]}})
    assert uncovered(repo) == {}
    write_dvc_yaml(repo, {"stage": {"cmd": cmd, "deps": [*outside, *inside[1:]]}})
    assert uncovered(repo) == {"stage": [inside[0]]}


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
