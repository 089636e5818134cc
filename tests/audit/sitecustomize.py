"""Log the files a pipeline stage reads, for tests/deps.py's ``read_uncovered``.

Python imports ``sitecustomize`` at startup from the first folder on ``sys.path`` that has one,
so this runs in every interpreter started with this folder on PYTHONPATH. It does something
only when WALLGAN_AUDIT_DIR is set and the interpreter runs a ``pipeline`` module
(``python -m pipeline.train 32``) or descends from one; DVC and other Python processes get no hook.

At exit the stage's process writes ``<WALLGAN_AUDIT_DIR>/<token>.json``:
``{"argv", "orig_argv", "cwd", "read": [...], "listed": [...]}``, with the files opened for
reading and the directories listed, relative to ``cwd``: only those under it that exist at exit.
The import system's own opens and listings are left out (imports are the static check's job),
and so are listings of sys.path entries (package metadata scans).

Processes it starts log too: forked workers (multiprocessing "fork" pools end them with
SIGTERM, so they never run atexit) and Python children (which inherit WALLGAN_AUDIT_TOKEN)
append each new path to ``<token>.<pid>.reads`` as they go, and the stage's process merges
those files into its log when it exits.
"""
import os
import sys


def _runs_pipeline(argv: list[str]) -> bool:
    """Whether an interpreter command line runs ``-m pipeline...`` or a script under ``pipeline/``."""
    for i, word in enumerate(argv[1:], 1):
        if word == "-m":
            return i + 1 < len(argv) and argv[i + 1].split(".")[0] == "pipeline"
        if word == "-c" or not word.startswith("-"):
            return word != "-c" and "pipeline" in os.path.normpath(word).split(os.sep)[:-1]
    return False


def _install(audit_dir: str, token: str | None) -> None:
    import atexit
    import json
    import time

    os.makedirs(audit_dir, exist_ok=True)
    root_process = token is None
    if root_process:
        token = f"{time.time_ns()}-{os.getpid()}"
        os.environ["WALLGAN_AUDIT_TOKEN"] = token   # Python children log for this process
    paths = {"read": set(), "listed": set()}
    sink = None   # in a child: the file each new path is appended to at once

    def open_sink() -> None:
        nonlocal sink
        sink = open(os.path.join(audit_dir, f"{token}.{os.getpid()}.reads"), "a", buffering=1)

    def hook(event: str, args: tuple) -> None:
        # Runs on every audit event of the process: return early, and never raise,
        # since an exception here would fail the stage's own open() or listdir().
        if event != "open" and event != "os.listdir" and event != "os.scandir":
            return
        try:
            path = args[0]
            if event == "open":
                flags = args[2]
                if flags & os.O_ACCMODE == os.O_WRONLY or flags & os.O_TRUNC:
                    return
                kind = "read"
            else:
                kind = "listed"
                if path is None:
                    path = "."
            if isinstance(path, int) or sys._getframe(1).f_code.co_filename.startswith("<frozen importlib"):
                return   # a file descriptor, or the import system finding and loading modules
            path = os.path.abspath(os.fsdecode(path))
            if path not in paths[kind]:
                paths[kind].add(path)
                if sink is not None:
                    sink.write(json.dumps([kind, path]) + "\n")
        except Exception:
            pass

    def write_log() -> None:
        if os.getpid() != owner or os.sep + "pipeline" + os.sep not in os.path.abspath(sys.argv[0]):
            return   # a forked child that exited normally has streamed its paths already
        found = {kind: set(p) for kind, p in paths.items()}
        for name in os.listdir(audit_dir):
            if name.startswith(f"{token}.") and name.endswith(".reads"):
                with open(os.path.join(audit_dir, name)) as f:
                    for line in f:
                        if line.endswith("\n"):   # a child killed mid-line leaves a partial one
                            kind, path = json.loads(line)
                            found[kind].add(path)
                os.remove(os.path.join(audit_dir, name))
        # importlib.metadata and torch scan every sys.path entry; the audit event comes before
        # the call, so paths that never existed (failed opens, probes) are dropped too
        found["listed"] -= {os.path.normpath(os.path.join(cwd, entry)) for entry in sys.path}
        log = {"argv": sys.argv, "orig_argv": sys.orig_argv, "cwd": cwd}
        for kind, p in found.items():
            rel = (os.path.relpath(path, cwd) for path in p if os.path.lexists(path))
            log[kind] = sorted(r for r in rel if r != os.pardir and not r.startswith(os.pardir + os.sep))
        tmp = os.path.join(audit_dir, f".{token}.json.tmp")
        with open(tmp, "w") as f:
            json.dump(log, f, indent=1)
        os.replace(tmp, os.path.join(audit_dir, f"{token}.json"))

    cwd, owner = os.getcwd(), os.getpid()
    if root_process:
        atexit.register(write_log)   # registered first, so it runs after later atexit handlers
    else:
        open_sink()
    os.register_at_fork(after_in_child=open_sink)
    sys.addaudithook(hook)


if os.environ.get("WALLGAN_AUDIT_DIR"):
    _token = os.environ.get("WALLGAN_AUDIT_TOKEN")
    if _token or _runs_pipeline(sys.orig_argv):
        _install(os.environ["WALLGAN_AUDIT_DIR"], _token)
