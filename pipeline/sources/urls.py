"""``{kind: urls, path: FILE}``: a list of image URLs you already have.

``FILE`` is either plain text (one URL a line; blank lines and ``#`` comments
skipped) or, when it ends in ``.csv``, a CSV with a ``url`` column whose other
columns (``license``, ``artist``, ``page_url`` ...) are carried into the manifest.
"""
from __future__ import annotations

import csv
from pathlib import Path

from pipeline.images.store import MANIFEST_COLUMNS, RawStore
from pipeline.params import ParamError, get
from pipeline.sources.download import Candidate, download
from pipeline.sources.http import Fetcher

# Columns the store fills itself; a CSV may not set them.
RESERVED = set(MANIFEST_COLUMNS) - {"page_url", "license", "artist"}


def validate(spec: dict, name: str) -> None:
    path = get(spec, "path", name, str)
    if not Path(path).is_file():
        raise ParamError(f"{name}.path", f"URL list {path!r} does not exist")
    read(path, f"{name}.path")


def collect(spec: dict, store: RawStore, settings: dict) -> None:
    candidates = read(spec["path"], "path")
    fetcher = Fetcher.from_settings(settings["http"])
    try:
        download(candidates, store, fetcher, source="urls", desc=f"urls {spec['path']}",
                 total=len(candidates))
    finally:
        fetcher.close()


def read(path: str, key: str) -> list[Candidate]:
    """The candidates of a URL list; ParamError(key) when a CSV lacks ``url`` or sets a reserved column."""
    if not path.lower().endswith(".csv"):
        lines = (line.strip() for line in Path(path).read_text().splitlines())
        return [Candidate(line) for line in lines if line and not line.startswith("#")]
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "url" not in columns:
            raise ParamError(key, f"{path} has no 'url' column (columns: {', '.join(columns) or 'none'})")
        clash = RESERVED & set(columns)
        if clash:
            raise ParamError(key, f"{path}: column(s) {', '.join(sorted(clash))} are filled by the scraper")
        out = []
        for row in reader:
            url = (row.pop("url") or "").strip()
            if url:
                page_url = row.pop("page_url", "") or ""
                out.append(Candidate(url, page_url=page_url, meta={k: v or "" for k, v in row.items() if k}))
        return out
