"""``{kind: urls, path: FILE}``: a list of image URLs you already have.

``FILE`` is either plain text (one URL a line; blank lines and ``#`` comments
skipped) or, when it ends in ``.csv``, a CSV with a ``url`` column whose other
columns (``license``, ``artist``, ``page_url``, any name ...) are carried into the
manifest, except the columns the store fills itself (``RESERVED``), which are refused.
A listed URL that cannot be fetched, however malformed, ends in rejected.csv with its
reason (``bad-url``, ``not-http``, ``http-404`` ...).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from pipeline.sources.store import MANIFEST_COLUMNS, RawStore
from pipeline.params import ParamError, build, knob
from pipeline.sources.download import Candidate, download
from pipeline.sources.http import Fetcher, HttpSettings

# Columns the store (and the downloader: fetched_at) fills itself; a CSV may not set them.
RESERVED = set(MANIFEST_COLUMNS) - {"page_url", "license", "artist"} | {"other_origins"}


@dataclass(frozen=True, kw_only=True)
class Source:
    """A list of image URLs (text or CSV) to download."""

    kind: str = knob("urls", choices=("urls",))
    path: Path = knob(missing="a .txt or .csv file of image URLs")

    @classmethod
    def from_params(cls, spec: Mapping, name: str) -> "Source":
        """From one entry of ``scrape.sources``; the file must exist and parse (errors name ``name.path``)."""
        source = build(cls, spec, name)
        if not source.path.is_file():
            raise ParamError(f"{name}.path", f"URL list {str(source.path)!r} does not exist")
        read_list(source.path, f"{name}.path")
        return source


def collect(source: Source, store: RawStore, http: HttpSettings) -> None:
    """Download every listed URL into ``store``."""
    candidates = read_list(source.path, "path")
    fetcher = Fetcher.from_settings(http)
    try:
        download(candidates, store, fetcher, source="urls", desc=f"urls {source.path}",
                 total=len(candidates))
    finally:
        fetcher.close()


def read_list(path: Path, key: str) -> list[Candidate]:
    """The candidates of a URL list; ParamError(key) when a CSV lacks ``url`` or sets a reserved column."""
    if path.suffix.lower() != ".csv":
        lines = (line.strip() for line in path.read_text().splitlines())
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
