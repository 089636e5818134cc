"""Mutation score of the unit tests that guard the metrics, the HTTP fetcher, the near-duplicate rule and the
collapse watch: how many small bugs planted in that code make a guarding test fail.

    nice -n 10 python benchmarks/mutation.py [--targets metrics,http,neardup,gan] [--limit N] [--seed S]
    nice -n 10 python benchmarks/mutation.py --list                  # the mutants, sampled ones marked
    nice -n 10 python benchmarks/mutation.py --ids gan.12,gan.40     # rerun chosen mutants (ids from the report)

Groups and the tests that guard them:

- ``metrics``: pipeline/metrics/*.py, by tests/test_metrics_*.py;
- ``http``: pipeline/sources/http.py and adapter.py, by tests/test_sources_http.py;
- ``neardup``: pipeline/neardup/rule.py and every function of detect.py that takes the ``Rule``, by
  tests/test_dedup.py and tests/test_neardup_*.py;
- ``gan``: pipeline/gan/watch.py and the summary of loop.train() (the handed-on watch's verdict and the
  ``summary`` dict), by tests/test_gan_watch.py and tests/test_gan_plateau.py.

Each mutant changes one spot: a comparison (< <= > >= == != is in), arithmetic (+ - * / // **), a number
(c -> c+1, 2c, 0), True/False, and/or, a dropped ``not``, or a returned value (-> None). Mutants are applied
one at a time to a scratch copy of the repository (never to the working tree) and judged by
``python -m pytest -x -q -p no:cacheprovider -n 0`` on the guarding tests that reach the mutated function:
killed (a test fails), survived (all pass, or no guarding test reaches it) or timed out. Which tests reach
which function is measured once per group by running its tests with a profiling hook (this module is
also that pytest plugin: ``-p benchmarks.mutation``); a module constant runs the tests that reach any
function of its file, a class body (dataclass defaults) every test of the group. Score = (killed + timed
out) / mutants, as Stryker counts. Groups with more mutants than ``LIMITS`` (or ``--limit``) are sampled:
every k-th mutant from an offset drawn with ``--seed``, so a rerun picks the same ones.

Why not mutmut (3.8.1, tried first): its trampolines read their config from the working directory, and
tests/test_gan_watch.py runs ``python -m pipeline.train`` in a temporary project directory, where every
mutated function then fails, so its stats run fails before any mutant; it also mutates whole functions,
while only the summary part of loop.train() is a target here. So the ~300 lines below do it by hand.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import glob
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRATCH = Path("/tmp/wallgan-mutation")      # probe caches; each run copies the repository into its own folder
WORK = SCRATCH / f"repo-{os.getpid()}"
# In one process (-n 0 overrides the suite's workers): the probe's hooks below see every test.
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0"]
# Default sample per group, from one run here (2 busy cores): a mutant cost ~13 s on average in metrics
# and http, ~30 s in neardup (a survivor runs the 60 s synthetic-scrape test) and ~60 s in gan (watch
# fixtures and short training runs), plus 20-170 s per group to probe; these keep all four near 50 minutes.
LIMITS = {"metrics": 40, "http": 40, "neardup": 30, "gan": 16}
OUTPUTS = {"data", "models", "metrics", "plots", "dvclive", ".resume", "dvc_plots", "mutants"}   # top level only


def _ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in (".git", "__pycache__", ".pytest_cache") or n.endswith(".egg-info")}
    return skip | (OUTPUTS & set(names) if Path(folder) == REPO else set())


@dataclass(frozen=True)
class Target:
    path: str                                  # a glob under the repository
    functions: tuple[str, ...] | None = None   # qualified names; None: the whole file
    assigns: tuple[str, ...] | None = None     # only the functions' top-level statements assigning these names
    takes: str | None = None                   # only functions with a parameter of this name


@dataclass(frozen=True)
class Group:
    targets: tuple[Target, ...]
    tests: tuple[str, ...]                     # globs under the repository


GROUPS = {
    "metrics": Group((Target("pipeline/metrics/*.py"),), ("tests/test_metrics_*.py",)),
    "http": Group((Target("pipeline/sources/http.py"), Target("pipeline/sources/adapter.py")),
                  ("tests/test_sources_http.py",)),
    "neardup": Group((Target("pipeline/neardup/rule.py"), Target("pipeline/neardup/detect.py", takes="rule")),
                     ("tests/test_dedup.py", "tests/test_neardup_*.py")),
    "gan": Group((Target("pipeline/gan/watch.py"),
                  Target("pipeline/gan/loop.py", functions=("train",), assigns=("summary", "watched", "reasons"))),
                 ("tests/test_gan_watch.py", "tests/test_gan_plateau.py")),
}


@dataclass
class Mutant:
    id: str
    path: str
    line: int
    function: str
    at_import: bool      # module or class-body code: runs on import, not inside a function
    what: str            # the mutation, e.g. "`<` -> `<=`"
    code: str            # the original expression
    start: int           # character offsets of the replaced text in the file
    end: int
    new: str
    outcome: str = ""
    seconds: float = 0.0
    note: str = ""

    def where(self) -> str:
        return f"{self.path}:{self.line}"


# ---------------------------------------------------------------- generating mutants

COMPARE = {ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
           ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
           ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,)}
ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
         ast.Pow: ast.Mult}
SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
          ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
          ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**"}


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)


def _variants(node: ast.AST, returns: bool) -> list[tuple[str, ast.AST]]:
    """(description, replacement node) for every mutation of ``node`` itself."""
    out = []
    if isinstance(node, ast.Compare):
        for k, op in enumerate(node.ops):
            for alt in COMPARE.get(type(op), ()):
                new = ast.Compare(node.left, node.ops[:k] + [alt()] + node.ops[k + 1:], node.comparators)
                out.append((f"`{SYMBOL[type(op)]}` -> `{SYMBOL[alt]}`", new))
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in ARITH:
        if not (isinstance(node, ast.BinOp) and (_is_str(node.left) or _is_str(node.right))):
            alt = ARITH[type(node.op)]
            new = (ast.BinOp(node.left, alt(), node.right) if isinstance(node, ast.BinOp)
                   else ast.AugAssign(node.target, alt(), node.value))
            out.append((f"`{SYMBOL[type(node.op)]}` -> `{SYMBOL[alt]}`", new))
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        out.append((f"`{node.value}` -> `{not node.value}`", ast.Constant(not node.value)))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        c = node.value
        for v in dict.fromkeys((c + 1, c * 2, 0) if c else (1,)):
            if v != c:
                out.append((f"`{c!r}` -> `{v!r}`", ast.Constant(type(c)(v))))
    elif isinstance(node, ast.BoolOp):
        a, b = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        out.append((f"`{a}` -> `{b}`", ast.BoolOp(ast.Or() if a == "and" else ast.And(), node.values)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("drop `not`", node.operand))
    elif returns and isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        out.append(("return value -> `None`", ast.Return(ast.Constant(None))))
    return out


class _Sites(ast.NodeVisitor):
    """Every mutable node of a file inside the target's scope, with where it runs: the qualified name of
    its function (as ``co_qualname`` spells it), or of its class or ``<module>`` for import-time code."""

    def __init__(self, target: Target):
        self.target, self.names, self.function, self.sites = target, [], None, []
        self.scope = target.functions is None and target.takes is None   # inside a targeted function

    def _function(self, node):
        for d in node.decorator_list:
            self.visit(d)
        t, qual = self.target, ".".join(self.names + [node.name])
        outer = (self.names, self.function, self.scope)
        self.names, self.function = self.names + [node.name, "<locals>"], qual
        if t.functions and qual in t.functions or t.takes and t.takes in {
                a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}:
            self.scope = True
        for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(d)          # a default matters only when the function is called without it
        body = node.body
        if self.scope and qual in (t.functions or ()) and t.assigns:
            body = [s for s in body if isinstance(s, ast.Assign) and set(t.assigns) & {
                n.id for tgt in s.targets for n in ast.walk(tgt) if isinstance(n, ast.Name)}]
        for stmt in body:
            self.visit(stmt)
        self.names, self.function, self.scope = outer

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node):
        outer, self.names = self.names, self.names + [node.name]
        for stmt in node.body:
            self.visit(stmt)
        self.names = outer

    def visit_JoinedStr(self, node):     # f-strings: messages, and 3.11 places their parts unreliably
        pass

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)

    def visit_Expr(self, node):          # docstrings and other bare strings
        if not _is_str(node.value):
            self.visit(node.value)

    def generic_visit(self, node):
        if self.scope and hasattr(node, "lineno"):
            self.sites.append((node, self.function or ".".join(self.names) or "<module>", self.function is None))
        super().generic_visit(node)


def mutants_of(root: Path, target: Target) -> list[Mutant]:
    """Every mutant of ``target`` under ``root``, in file order; each one compiles."""
    out = []
    for path in sorted(glob.glob(str(root / target.path))):
        rel, src = str(Path(path).relative_to(root)), Path(path).read_text()
        lines = src.splitlines(keepends=True) + [""]
        starts = [0, *itertools.accumulate(len(line) for line in lines)]

        def offset(line: int, col: int) -> int:     # ast columns count utf-8 bytes
            return starts[line - 1] + len(lines[line - 1].encode()[:col].decode())

        visitor = _Sites(target)
        visitor.visit(ast.parse(src))
        seen = set()
        for node, qual, at_import in visitor.sites:
            for what, new in _variants(node, returns=not at_import and not qual.endswith("__init__")):
                a, b = offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)
                pad = "\n" * (node.end_lineno - node.lineno)     # line numbers stay put
                repl = ast.unparse(new) + pad if isinstance(node, ast.stmt) else f"({ast.unparse(new)}{pad})"
                if (a, b, repl) in seen:
                    continue
                seen.add((a, b, repl))
                try:
                    compile(src[:a] + repl + src[b:], rel, "exec")
                except SyntaxError:
                    continue
                code = " ".join(src[a:b].split())
                out.append(Mutant("", rel, node.lineno, qual, at_import, what,
                                  code if len(code) <= 70 else code[:67] + "...", a, b, repl))
    return out


def group_mutants(root: Path, name: str) -> list[Mutant]:
    muts = [m for t in GROUPS[name].targets for m in mutants_of(root, t)]
    for i, m in enumerate(muts):
        m.id = f"{name}.{i}"
    return muts


def sample(muts: list[Mutant], limit: int, seed: int, name: str) -> tuple[list[Mutant], str]:
    """Every k-th mutant from an offset drawn with ``seed``: spread over all files and functions."""
    if limit <= 0 or len(muts) <= limit:
        return muts, f"all {len(muts)}"
    k = -(-len(muts) // limit)
    offset = random.Random(f"{seed}/{name}").randrange(k)
    return muts[offset::k], f"every k-th of {len(muts)}, k={k}, from #{offset} (seed {seed})"


# ---------------------------------------------------------------- the probe: which test reaches which function

_ACTIVE: list[set] = []
_FIXTURES: dict[str, set] = {}
_ITEMS: dict[str, dict] = {}


def _profile(frame, event, arg):
    if event == "call":
        code = frame.f_code
        name = code.co_filename
        if name.startswith(_PREFIX):
            key = name[len(_ROOT):] + "::" + code.co_qualname
        elif code.co_name == "_execute_child" and name.endswith("subprocess.py"):
            key = "*"          # a subprocess may run any of our code (the train stage does)
        else:
            return
        for s in _ACTIVE:
            s.add(key)


_ROOT = str(REPO) + os.sep
_PREFIX = _ROOT + "pipeline" + os.sep


def _probing() -> bool:
    return bool(os.environ.get("MUTATION_PROBE"))


def pytest_sessionstart(session):
    if _probing():
        import pipeline
        if not pipeline.__file__.startswith(_PREFIX):
            raise RuntimeError(f"the probe imported {pipeline.__file__}, not the scratch copy {_PREFIX}")
        sys.setprofile(_profile)
        threading.setprofile(_profile)


def _fixture_key(fixturedef) -> str:
    return f"{fixturedef.baseid}::{fixturedef.argname}"


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if not _probing():
        yield
        return
    hits = _FIXTURES.setdefault(_fixture_key(fixturedef), set())
    _ACTIVE.append(hits)
    try:
        yield
    finally:
        del _ACTIVE[next(i for i, s in enumerate(_ACTIVE) if s is hits)]   # by identity: sets compare equal


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not _probing():
        yield
        return
    hits, t0 = set(), time.perf_counter()
    _ACTIVE.append(hits)
    try:
        yield
    finally:
        del _ACTIVE[next(i for i, s in enumerate(_ACTIVE) if s is hits)]   # by identity: sets compare equal
        info = getattr(item, "_fixtureinfo", None)     # private, but the only map from a test to its fixtures
        fixtures = [_fixture_key(fd) for defs in (info.name2fixturedefs.values() if info else ()) for fd in defs]
        _ITEMS[item.nodeid] = {"hits": hits, "fixtures": fixtures, "seconds": time.perf_counter() - t0}


def pytest_sessionfinish(session, exitstatus):
    if _probing():
        sys.setprofile(None)
        threading.setprofile(None)
        items = {k: {"hits": sorted(v["hits"].union(*(_FIXTURES.get(f, ()) for f in v["fixtures"]))),
                     "seconds": v["seconds"]} for k, v in _ITEMS.items()}
        Path(os.environ["MUTATION_PROBE"]).write_text(json.dumps({"status": int(exitstatus), "items": items}))


# ---------------------------------------------------------------- running

def _env() -> dict:
    # No bytecode: a mutant the same size as the original, written within the same second, would
    # otherwise run from the stale .pyc.
    return dict(os.environ, PYTHONPATH=str(WORK), PYTHONDONTWRITEBYTECODE="1")


def _run(args: list[str], timeout: float, env: dict) -> tuple[int | None, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=WORK, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, time.perf_counter() - t0, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, time.perf_counter() - t0, out


def test_files(name: str) -> list[str]:
    return sorted({str(Path(p).relative_to(WORK)) for g in GROUPS[name].tests for p in glob.glob(str(WORK / g))})


def probe(name: str) -> dict:
    """Per test of the group: the functions of pipeline/ it runs and its seconds (cached by content)."""
    files = test_files(name)
    digest = hashlib.sha256()
    for p in sorted(WORK.glob("**/*.py")):
        if p.name != Path(__file__).name:
            digest.update(str(p.relative_to(WORK)).encode() + p.read_bytes())
    cache = SCRATCH / f"probe-{name}-{digest.hexdigest()[:16]}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    print(f"[{name}] probing which tests reach which function: {' '.join(files)}", file=sys.stderr, flush=True)
    out = WORK / f"probe-{name}.json"
    rc, seconds, log = _run([*PYTEST, "-p", "benchmarks.mutation", *files],
                            3600, _env() | {"MUTATION_PROBE": str(out)})
    if rc != 0 or not out.exists():
        sys.exit(f"[{name}] the guarding tests fail without any mutant (exit {rc}):\n{log[-3000:]}")
    result = json.loads(out.read_text()) | {"seconds": seconds}
    cache.write_text(json.dumps(result))
    return result


def select(m: Mutant, items: dict) -> list[str]:
    """Node ids of the tests that reach ``m``'s function, fastest first. Module-level code: the tests that
    reach any function of its file (its constants serve them); class bodies (dataclass defaults, used by
    generated code no profile sees) and files no test reaches: every test."""
    if m.at_import:
        hits = [k for k, v in items.items() if any(h.startswith(m.path + "::") or h == "*" for h in v["hits"])]
        chosen = hits if m.function == "<module>" and hits else list(items)
    else:
        key = f"{m.path}::{m.function}"
        chosen = [k for k, v in items.items() if key in v["hits"] or "*" in v["hits"]]
    return sorted(chosen, key=lambda k: items[k]["seconds"])


def run_mutant(m: Mutant, items: dict, startup: float) -> None:
    chosen = select(m, items)
    if not chosen:
        m.outcome, m.note = "survived", "no guarding test reaches it"
        return
    path = WORK / m.path
    original = path.read_text()
    try:
        path.write_text(original[:m.start] + m.new + original[m.end:])
        budget = 2 * sum(items[k]["seconds"] for k in chosen) + startup + 30
        rc, m.seconds, log = _run([*PYTEST, "-x", *chosen], budget, _env())
    finally:
        path.write_text(original)
    if rc is None:
        m.outcome = "timeout"
    elif rc == 0:
        m.outcome = "survived"
        m.note = f"{len(chosen)} tests pass"
    elif rc == 1:
        m.outcome = "killed"
        failed = [line.split(" ")[1] for line in log.splitlines() if line.startswith("FAILED ") or
                  line.startswith("ERROR ")]
        m.note = failed[0] if failed else ""
    else:
        m.outcome, m.note = "error", f"pytest exit {rc}: " + " | ".join(log.strip().splitlines()[-2:])


def report(name: str, muts: list[Mutant], how: str) -> list[str]:
    n = {k: sum(m.outcome == k for m in muts) for k in ("killed", "survived", "timeout", "error")}
    total = len(muts) - n["error"]
    score = (n["killed"] + n["timeout"]) / total if total else float("nan")
    lines = [f"{name:8s} mutants {total:4d}  killed {n['killed']:4d}  survived {n['survived']:4d}  "
             f"timed out {n['timeout']:3d}  score {score:6.1%}   ({how}"
             + (f"; {n['error']} errors not counted" if n["error"] else "") + ")"]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default=",".join(GROUPS), help="comma-separated groups: " + ", ".join(GROUPS))
    ap.add_argument("--limit", type=int, help=f"mutants per group, sampled (0: all; default {LIMITS})")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sampling offset")
    ap.add_argument("--list", action="store_true", help="list the mutants (* = sampled) and run nothing")
    ap.add_argument("--ids", default="", help="run only these mutants (comma-separated ids or globs)")
    args = ap.parse_args()
    names = [t.strip() for t in args.targets.split(",") if t.strip()]
    if bad := [t for t in names if t not in GROUPS]:
        ap.error(f"unknown targets {bad}: choose from {', '.join(GROUPS)}")
    wanted = [p for p in args.ids.split(",") if p]
    if wanted:
        names = [g for g in GROUPS if any(p.split(".")[0] in (g, "*") for p in wanted)]

    if not args.list:           # mutants are placed by offsets into the copy they run in
        SCRATCH.mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO, WORK, ignore=_ignore)
    chosen = {}
    for name in names:
        muts = group_mutants(REPO if args.list else WORK, name)
        if wanted:
            chosen[name] = [m for m in muts if any(fnmatch.fnmatch(m.id, p) for p in wanted)], "chosen by --ids"
        else:
            chosen[name] = sample(muts, LIMITS[name] if args.limit is None else args.limit, args.seed, name)
        if args.list:
            picked = {m.id for m in chosen[name][0]}
            print(f"== {name}: {chosen[name][1]}")
            for m in muts:
                print(f"{'*' if m.id in picked else ' '} {m.id:12s} {m.where():34s} {m.function:28s} "
                      f"{m.what:22s} {m.code}")
    if not args.list:
        try:
            run(chosen)
        finally:
            shutil.rmtree(WORK, ignore_errors=True)


def run(chosen: dict[str, tuple[list[Mutant], str]]) -> None:
    summary, survivors, t_start = [], [], time.time()
    for name, (muts, how) in chosen.items():
        info = probe(name)
        items = info["items"]
        startup = max(0.0, info["seconds"] - sum(v["seconds"] for v in items.values()))
        print(f"[{name}] {len(items)} guarding tests, {info['seconds']:.0f} s unmutated; {how}",
              file=sys.stderr, flush=True)
        for k, m in enumerate(muts, 1):
            run_mutant(m, items, startup)
            print(f"[{name} {k}/{len(muts)}] {m.id:12s} {m.where():34s} {m.what:22s} {m.outcome:8s} "
                  f"{m.seconds:5.0f} s  {m.note}", file=sys.stderr, flush=True)
        summary += report(name, muts, how)
        survivors += [m for m in muts if m.outcome in ("survived", "error")]
    print(f"Mutation testing ({time.time() - t_start:.0f} s; score = (killed + timed out) / mutants)\n")
    print("\n".join(summary))
    print(f"\nSurvivors ({len(survivors)}):")
    for m in survivors:
        print(f"  {m.id:12s} {m.where():34s} {m.function:28s} {m.what:22s} {m.code}"
              + (f"   [{m.outcome}: {m.note}]" if m.outcome == "error" or "no guarding" in m.note else ""))


if __name__ == "__main__":
    main()
