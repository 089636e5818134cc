"""What each DVC stage declares in dvc.yaml against what its command really uses.

DVC reruns a stage only when a declared dep changes, so an undeclared file means cached
results of code or data that has since changed. Two checks find them:

- static: the packages and modules ``python -m pipeline.<module>`` may import (``code_deps``);
- runtime: the files a stage's processes opened or listed during a real run, as logged by
  ``tests/audit/sitecustomize.py`` (``read_uncovered``).

Paths are relative to the repository root, with ``/`` separators.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shlex
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

PACKAGE = "pipeline"
AUDIT = Path(__file__).resolve().parent / "audit"   # holds the sitecustomize.py that logs reads


class Stage(NamedTuple):
    cmd: str
    deps: list[str]     # file and directory deps; params are not files
    keys: list[str]     # its params deps: sections or dotted keys (``res.64``)
    params: list[str]   # the files holding its params deps (params.yaml)
    outs: list[str]     # outs, metrics and plots
    wdir: str


def _load(root: Path) -> dict[str, Stage]:
    """Every stage that runs a command, by DVC's name for it (``train@32`` for foreach items)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    root = Path(root).resolve()

    def rel(path: str) -> str:
        return Path(os.path.relpath(path, root)).as_posix()

    found = {}
    # Read-only: works in an export without git or .dvc/, and writes no .gitignore entries.
    with Repo(os.fspath(root), uninitialized=True, config={"core": {"no_scm": True}}) as repo:
        for stage in repo.index.stages:
            if not stage.cmd:   # a .dvc file tracks data; it runs nothing
                continue
            name = stage.name if rel(stage.path) == "dvc.yaml" else f"{rel(stage.path)}:{stage.name}"
            local = [d for d in stage.deps if d.protocol == "local"]   # not http://, s3://, ...
            found[name] = Stage(
                cmd=" && ".join(stage.cmd) if isinstance(stage.cmd, list) else stage.cmd,
                deps=[rel(d.fs_path) for d in local if not isinstance(d, ParamsDependency)],
                keys=[k for d in local if isinstance(d, ParamsDependency) for k in d.params],
                params=[rel(d.fs_path) for d in local if isinstance(d, ParamsDependency)],
                outs=[rel(o.fs_path) for o in stage.outs],
                wdir=rel(stage.wdir))
    return found


def stages(root: Path) -> dict[str, tuple[str, list[str]]]:
    """Every stage of the DVC project at ``root``, as name -> (command, file deps)."""
    return {name: (s.cmd, s.deps) for name, s in _load(root).items()}


def python_modules(cmd: str) -> list[tuple[str, list[str]]]:
    """The ``(module, args)`` of each ``python -m pipeline.<module> args`` in a shell command."""
    lexer = shlex.shlex(cmd, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    runs = []
    for i, word in enumerate(words[:-2]):
        if (re.fullmatch(r"python[\d.]*", os.path.basename(word)) and words[i + 1] == "-m"
                and words[i + 2].split(".")[0] == PACKAGE):
            args = []
            for arg in words[i + 3:]:
                if arg and set(arg) <= set("&|;()<>"):   # end of this command
                    break
                args.append(arg)
            runs.append((words[i + 2], args))
    return runs


def _source(root: Path, module: str) -> Path | None:
    """The file that defines ``module`` under ``root``: ``a/b.py`` or ``a/b/__init__.py``."""
    base = root.joinpath(*module.split("."))
    for path in (base.parent / f"{base.name}.py", base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name an import anywhere in ``tree`` may load, those inside functions included."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: `from . import x` inside a.b.c means a.b
                package = module.split(".") if is_package else module.split(".")[:-1]
                if node.level - 1 > len(package):
                    continue
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            # `from pipeline.x import y` loads pipeline.x.y when y is a submodule
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
            names.add(node.args[0].value)
    return names


def imported_modules(root: Path, module: str) -> set[Path]:
    """The files under ``root/pipeline`` that ``python -m <module>`` may import, relative to ``root``.

    Static and conservative: every import statement counts, at any depth of the module body
    (lazy imports in functions, and imports under ``if`` that may never run), and so does the
    ``__init__.py`` of every package on the way to each module.
    """
    root = Path(root).resolve()
    todo = [module]
    entry = _source(root, module)
    if entry is not None and entry.name == "__init__.py":
        todo.append(f"{module}.__main__")   # `python -m package` runs package/__main__.py
    seen, files = set(), set()
    while todo:
        name = todo.pop()
        if name in seen or name.split(".")[0] != PACKAGE:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))   # parent packages run first
        path = _source(root, name)
        if path is None:   # a name imported from a module, not a module
            continue
        files.add(path.relative_to(root))
        todo.extend(imports(ast.parse(path.read_bytes(), str(path)), name, path.name == "__init__.py"))
    return files


def covered(path: str, deps: Iterable[str]) -> bool:
    """Whether a dep is ``path`` itself or a directory above it."""
    return any(d in (".", path) or path.startswith(d.rstrip("/") + "/") for d in deps)


def unit(path: Path | str) -> str:
    """The dep that names a project file: its top package under pipeline/ (``pipeline/gan``), or the module itself."""
    parts = Path(path).parts
    return "/".join(parts[:2]) if len(parts) > 2 else Path(path).as_posix()


def code_deps(root: Path) -> dict[str, dict[str, list[str]]]:
    """Per stage that runs ``python -m pipeline...``, how its code deps differ from what it imports.

    The deps must be exactly the packages and top-level modules the command may import (``unit``):
    ``missing`` ones would let DVC serve results of changed code, ``extra`` ones rerun the stage
    for code it never runs. Stages that match are left out, so a right dvc.yaml gives ``{}``.
    """
    found = {}
    for name, (cmd, deps) in stages(root).items():
        imported = {unit(f) for module, _ in python_modules(cmd) for f in imported_modules(root, module)}
        declared = {d for d in deps if d.split("/")[0] == PACKAGE}
        diff = {"missing": sorted(imported - declared), "extra": sorted(declared - imported)}
        if diff["missing"] or diff["extra"]:
            found[name] = diff
    return found


def sections_read(root: Path, module: str) -> set[str]:
    """The params.yaml sections a stage module asks for: the literal names in its ``section(params, "...")`` calls."""
    tree = ast.parse(_source(Path(root), module).read_text())
    return {node.args[1].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "section"
            and len(node.args) == 2 and isinstance(node.args[1], ast.Constant)}


def undeclared_sections(root: Path) -> dict[str, list[str]]:
    """Per stage, the sections its command reads but no params dep names (at least in part).

    A dep on part of a section counts (``ladder.base``, ``res.64``): the stage reads the rest only to
    check or look up what that part points at, as the train stages do.
    """
    found = {}
    for name, stage in _load(root).items():
        declared = {key.split(".")[0] for key in stage.keys}
        read = set().union(*(sections_read(root, m) for m, _ in python_modules(stage.cmd)))
        if read - declared:
            found[name] = sorted(read - declared)
    return found


def audit_env(audit_dir: Path, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables that make pipeline processes started with ``env`` log their reads into ``audit_dir``.

    Merge them into the environment of a ``dvc repro`` (they reach its stages), then call
    ``read_uncovered(repo, audit_dir)``. ``env``'s PYTHONPATH is kept, after the audit folder.
    """
    Path(audit_dir).mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (str(AUDIT), env.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "WALLGAN_AUDIT_DIR": str(Path(audit_dir).resolve())}


def _ignored(path: str, stage: Stage) -> bool:
    """Reads that need no dep: outputs, params files, Python sources, DVC/git and hidden temp files."""
    parts = path.split("/")
    return (covered(path, stage.outs) or path in stage.params
            # listing the folder an output goes to (dvclive clears its own) reads no input
            or (path != "." and any(covered(out, [path]) for out in stage.outs))
            # imports are the static check's job; other files under pipeline/ still count
            or (parts[0] == PACKAGE and (path.endswith((".py", ".pyc")) or "__pycache__" in parts))
            # .dvc/, .git/, .resume/ (training's own restart state) and atomic writes' temp files
            or any(p.startswith(".") and p not in (".", "..") for p in parts))


def read_uncovered(root: Path, audit_dir: Path) -> dict[str, list[str]]:
    """Per stage, the files under ``root`` its processes read or listed but its deps do not cover.

    ``audit_dir`` holds the JSON logs that tests/audit/sitecustomize.py wrote while the stages ran
    (see ``audit_env``). Each log is matched to the stage whose command it ran (working directory,
    module file and arguments). ``ValueError`` when there is no log or a log matches no stage, so
    an audit that did not run or a renamed command cannot pass unchecked. Stages with nothing
    missing are left out.
    """
    root = Path(root).resolve()
    found = _load(root)
    by_run = {}
    for name, stage in found.items():
        for module, args in python_modules(stage.cmd):
            source = _source(root, module)
            if source is not None and source.name == "__init__.py":
                source = source.with_name("__main__.py")
            if source is not None:
                by_run[(stage.wdir, source.relative_to(root).as_posix(), tuple(args))] = name
    logs = sorted(Path(audit_dir).glob("*.json"))
    if not logs:
        raise ValueError(f"no audit logs in {audit_dir}: did the stages run with audit_env()?")
    missing: dict[str, set[str]] = {}
    for log in logs:
        run = json.loads(log.read_text())
        cwd = Path(run["cwd"])
        wdir = Path(os.path.relpath(cwd, root)).as_posix()
        source = Path(os.path.relpath(cwd / run["argv"][0], root)).as_posix()
        name = by_run.get((wdir, source, tuple(run["argv"][1:])))
        if name is None:
            raise ValueError(f"{log.name}: {' '.join(run['orig_argv'])} (in {cwd}) is no stage's command")
        for read in run["read"] + run["listed"]:
            path = Path(os.path.relpath(cwd / read, root)).as_posix()
            if path != ".." and not path.startswith("../") and not _ignored(path, found[name]) \
                    and not covered(path, found[name].deps):
                missing.setdefault(name, set()).add(path)
    return {name: sorted(paths) for name, paths in sorted(missing.items())}
