"""The real dvc, run the way a user with this project installed runs it, activated venv or not."""
from __future__ import annotations

import os
import sys

# dvc is a dependency of the project: the one installed beside this Python, never skipped for lack of it.
DVC = [sys.executable, "-m", "dvc"]


def python_first_path(path: str | None = None) -> str:
    """PATH with this Python's folder first, as an activated venv has it: stages run `python -m pipeline...`."""
    return os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "") if path is None else path])
