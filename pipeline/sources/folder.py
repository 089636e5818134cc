"""``{kind: folder, path: DIR}``: every file under a local folder, recursively."""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from pipeline.images.store import RawStore, Rejected
from pipeline.params import ParamError, get


def validate(spec: dict, name: str) -> None:
    path = get(spec, "path", name, str)
    if not Path(path).is_dir():
        raise ParamError(f"{name}.path", f"folder {path!r} does not exist")


def collect(spec: dict, store: RawStore, settings: dict) -> None:
    root = Path(spec["path"])
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in tqdm(files, desc=f"folder {root}", unit="file"):
        origin = path.relative_to(root).as_posix()
        try:
            store.add(path.read_bytes(), source="folder", origin=origin)
        except Rejected as e:
            store.reject(origin=origin, source="folder", reason=e.reason, detail=e.detail)
        except OSError as e:
            store.reject(origin=origin, source="folder", reason="unreadable", detail=str(e)[:200])
