"""``{kind: folder, path: DIR}``: every file under a local folder, recursively.

``DIR`` may start with ``~`` or hold ``$VARS`` (``~/Pictures/abstract``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from tqdm import tqdm

from pipeline.sources.store import RawStore, Rejected
from pipeline.params import ParamError, build, knob
from pipeline.sources.http import HttpSettings


@dataclass(frozen=True, kw_only=True)
class Source:
    """A folder of images to copy into the store."""

    kind: str = knob("folder", choices=("folder",))
    path: Path = knob(missing="the folder of images to copy")

    @classmethod
    def from_params(cls, spec: Mapping, name: str) -> "Source":
        """From one entry of ``scrape.sources``; ``name`` (``scrape.sources[i]``) prefixes error keys."""
        source = build(cls, spec, name)
        if not source.path.is_dir():
            raise ParamError(f"{name}.path", f"folder {str(source.path)!r} does not exist")
        return source


def collect(source: Source, store: RawStore, http: HttpSettings) -> None:
    """Copy every readable image under ``source.path``; list the rest in rejected.csv (``http`` is unused)."""
    root = source.path
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in tqdm(files, desc=f"folder {root}", unit="file"):
        origin = path.relative_to(root).as_posix()
        try:
            store.add(path.read_bytes(), source="folder", origin=origin)
        except Rejected as e:
            store.reject(origin=origin, source="folder", reason=e.reason, detail=e.detail)
        except OSError as e:
            store.reject(origin=origin, source="folder", reason="unreadable", detail=str(e)[:200])
