"""The real dvc, run the way a user with this project installed runs it, activated venv or not."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# dvc is a dependency of the project: the one installed beside this Python, never skipped for lack of it.
DVC = [sys.executable, "-m", "dvc"]


def python_first_path(path: str | None = None) -> str:
    """PATH with this Python's folder first, as an activated venv has it: stages run `python -m pipeline...`."""
    return os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "") if path is None else path])


def run(cwd: Path, *cmd: str, env: dict | None = None, timeout: float = 300) -> str:
    """Run ``cmd`` in ``cwd`` as a user with the project installed would (no analytics); its stdout.

    A failure fails the test with the command and everything it printed.
    """
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": python_first_path(), **(env or {})}
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}"
    return proc.stdout
