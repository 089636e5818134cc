"""The raw image store: files named by the sha256 of their bytes, a manifest, and a journal.

Every source (synthetic, folder, web) hands bytes to ``RawStore.add``; the store
proves they are an image of an allowed format, refuses junk with a reason, and
records where they came from. Writing is thread-safe so downloaders can share one store.

The journal (``journal.jsonl``) records the outcome of every origin (URL, path)
ever tried, and it outlives a run. So nothing scraped is ever lost to a setting:

- a killed scrape resumes under any settings: origins already stored or refused
  for good are not fetched again (``done``); transient failures are retried;
- ``manifest.csv`` and ``rejected.csv`` list the origins *this* run asked for.
  A source removed from ``scrape.sources`` drops out of the manifest, but its
  files stay in ``images/`` and its journal entries stay, so adding it back
  stores them again without a download;
- ``min_side`` is applied when the manifest is written, so raising it hides
  small images and lowering it brings them (or a retry of them) back.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import threading
import warnings
from pathlib import Path

from PIL import Image

from pipeline.fsutil import atomic_path, write_csv

MANIFEST_COLUMNS = ["file", "sha256", "source", "origin", "page_url", "width", "height",
                    "mime", "bytes", "license", "artist", "fetched_at"]
REJECTED_COLUMNS = ["origin", "source", "reason", "detail"]
FILE_FIELDS = ("file", "sha256", "width", "height", "mime", "bytes")

JOURNAL = "journal.jsonl"
# Rejections worth another try in a later run (the server may be back, the bug fixed).
TRANSIENT = ("network-error", "http-429", "http-500", "http-502", "http-503", "http-504",
             "robots-unavailable", "too-slow", "fetch-error", "error")

# Formats a painting arrives in. The rest (ICO, SGI, PCX, TGA, EPS ...) are refused as
# ``format`` before decoding: EPS would start Ghostscript, the others are icons and sprites.
# (Pillow's JPEG opener also answers MPO, the multi-picture JPEG some cameras write.)
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "TIFF": "tif"}

# Pillow's decompression-bomb guard: refuse anything over this many pixels.
MAX_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class Rejected(Exception):
    """Bytes that will not be stored; ``reason`` is a short slug for rejected.csv."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def inspect_image(data: bytes, min_side: int = 1) -> tuple[int, int, str, str]:
    """Fully decode ``data`` once; return (width, height, mime, extension) or raise Rejected."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as im:
                fmt = im.format
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise Rejected("decompression-bomb", f"{width}x{height}")
                im.load()
    except Rejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Rejected("decompression-bomb", str(e)[:200]) from None
    except Image.UnidentifiedImageError:
        raise _unidentified(data) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise Rejected("decode-error", str(e)[:200]) from None
    if min(width, height) < min_side:
        raise Rejected("too-small", f"{width}x{height} < {min_side}px")
    return width, height, Image.MIME.get(fmt, f"image/{fmt.lower()}"), EXTENSIONS.get(fmt, fmt.lower())


def _unidentified(data: bytes) -> Rejected:
    """``format`` for an image of a refused format (its header is read, never decoded), else ``not-an-image``."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return Rejected("format", f"{im.format} is not one of {', '.join(FORMATS)}")
    except Exception:  # any failure to identify means the same: not an image
        return Rejected("not-an-image")


class RawStore:
    """Content-addressed image files under ``root/images``, with manifest, rejections and journal."""

    def __init__(self, root: Path | str, min_side: int = 32):
        """Open the store under ``root``, picking up its journal (or, from an older version,
        its manifest); nothing already there is deleted."""
        self.root = Path(root)
        self.images = self.root / "images"
        self.min_side = min_side
        self.notes: dict[str, object] = {}    # finished steps that are not images (pages, API batches)
        self._files: dict[str, dict] = {}     # sha256 -> FILE_FIELDS
        self._origins: dict[str, dict] = {}   # origin -> {sha256, source, meta} or {source, reason, detail}
        self._by_sha: dict[str, set[str]] = {}
        self._asked: set[str] = set()         # origins this run asked for: the manifest's rows
        self._lock = threading.Lock()
        self.images.mkdir(parents=True, exist_ok=True)
        for partial in self.root.rglob(".*.tmp"):  # a file whose writer was killed
            partial.unlink()
        journal = self.root / JOURNAL
        if journal.exists():
            self._replay(journal)
        elif (self.root / "manifest.csv").exists():
            self._import_csvs()
        self._journal = open(journal, "a")

    # ------------------------------------------------------------ the sources' interface

    def done(self, origin: str) -> bool:
        """True when ``origin`` was stored or refused for good, in this run or an earlier one;
        it then counts as asked for by this run, without a fetch."""
        with self._lock:
            entry = self._origins.get(origin)
            if entry is None or not self._final(entry):
                return False
            self._asked.add(origin)
            return True

    def note(self, key: str, value) -> None:
        """Journal a finished step that is not an image (a crawled page, an API batch).
        Notes serve a resumed run; a finished run drops them, so the next one crawls afresh."""
        with self._lock:
            self.notes[key] = value
            self._log({"note": key, "value": value})

    def add(self, data: bytes, /, *, source: str, origin: str, **meta) -> dict:
        """Store ``data`` (if new) from ``origin`` and return its manifest row; raise Rejected for junk.

        The same bytes arriving from a second origin are stored once; the extra
        origin goes into the row's ``other_origins`` column.
        """
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            known = sha in self._files
        if not known:
            width, height, mime, ext = inspect_image(data, self.min_side)
            name = f"images/{sha}.{ext}"
            if not _complete(self.root / name, len(data)):
                _write_durably(self.root / name, data)
            info = {"file": name, "sha256": sha, "width": width, "height": height, "mime": mime,
                    "bytes": len(data)}
        with self._lock:
            if sha not in self._files:  # (another thread may have stored the same bytes meanwhile)
                self._files[sha] = info
                self._log({"file": info})
            self._record(origin, {"sha256": sha, "source": source, "meta": meta})
            return self._row(sha)

    def reject(self, *, origin: str, source: str, reason: str, detail: str = "") -> None:
        """Record why ``origin`` gave no image (a stored origin stays stored)."""
        with self._lock:
            if "sha256" not in self._origins.get(origin, {}):
                self._record(origin, {"source": source, "reason": reason, "detail": detail})

    # ------------------------------------------------------------ results

    @property
    def rows(self) -> dict[str, dict]:
        """Manifest rows by sha256: what this run asked for, stored and at least ``min_side``."""
        with self._lock:
            shas = {self._origins[o]["sha256"] for o in self._asked if "sha256" in self._origins[o]}
            return {sha: self._row(sha) for sha in sorted(shas) if self._big_enough(sha)}

    @property
    def rejected(self) -> list[dict]:
        """rejected.csv rows: what this run asked for that gave no image, or a too small one."""
        with self._lock:
            out = []
            for origin in sorted(self._asked):
                entry = self._origins[origin]
                if "reason" in entry:
                    out.append({"origin": origin, "source": entry["source"], "reason": entry["reason"],
                                "detail": entry["detail"]})
                elif not self._big_enough(entry["sha256"]):
                    f = self._files[entry["sha256"]]
                    out.append({"origin": origin, "source": entry["source"], "reason": "too-small",
                                "detail": f"{f['width']}x{f['height']} < {self.min_side}px"})
            return out

    @property
    def set_aside(self) -> int:
        """Stored files no origin of this run asked for (a source since removed): kept, not listed."""
        with self._lock:
            return sum(1 for sha in self._files if not self._by_sha.get(sha, set()) & self._asked)

    def close(self) -> None:
        """Write manifest.csv and rejected.csv (atomically, in a stable order) and compact the journal."""
        rows = sorted(self.rows.values(), key=lambda r: (r["source"], r["origin"]))
        write_csv(self.root / "manifest.csv", rows, MANIFEST_COLUMNS)
        write_csv(self.root / "rejected.csv", self.rejected, REJECTED_COLUMNS)
        self._journal.close()
        with atomic_path(self.root / JOURNAL) as tmp, open(tmp, "w") as f:
            for info in self._files.values():
                f.write(json.dumps({"file": info}) + "\n")
            for origin, entry in self._origins.items():
                f.write(json.dumps({"origin": origin, **entry}) + "\n")

    # ------------------------------------------------------------ internals

    def _record(self, origin: str, entry: dict) -> None:
        """Set ``origin``'s outcome, mark it asked for, journal it (lock held)."""
        self._set(origin, entry)
        self._asked.add(origin)
        self._log({"origin": origin, **entry})

    def _set(self, origin: str, entry: dict) -> None:
        old = self._origins.get(origin, {})
        if "sha256" in old:
            self._by_sha[old["sha256"]].discard(origin)
        self._origins[origin] = entry
        if "sha256" in entry:
            self._by_sha.setdefault(entry["sha256"], set()).add(origin)

    def _row(self, sha: str) -> dict:
        """The manifest row of ``sha``: the smallest asked-for origin is the row's own, so the
        manifest does not depend on which of two parallel downloads finished first."""
        origins = sorted(self._by_sha[sha] & self._asked)
        entry = self._origins[origins[0]]
        row = {**self._files[sha], **entry["meta"], "source": entry["source"], "origin": origins[0]}
        if len(origins) > 1:
            row["other_origins"] = " ".join(origins[1:])
        return row

    def _big_enough(self, sha: str) -> bool:
        f = self._files[sha]
        return min(f["width"], f["height"]) >= self.min_side

    def _final(self, entry: dict) -> bool:
        """Whether an outcome stands: stored, or refused for a reason another try cannot change."""
        if "sha256" in entry:
            return (self.root / self._files[entry["sha256"]]["file"]).exists()
        if entry["reason"] == "too-small":  # a lower min_side since asks again
            size = re.match(r"(\d+)x(\d+)", entry["detail"])
            return size is None or min(map(int, size.groups())) < self.min_side
        return entry["reason"] not in TRANSIENT

    def _log(self, entry: dict) -> None:
        """Append one journal line (lock held, or before threads start)."""
        self._journal.write(json.dumps(entry) + "\n")
        self._journal.flush()

    def _replay(self, journal: Path) -> None:
        """Load the journal. A last line torn by a kill is cut off, so the next line appended
        starts clean; entries whose file is gone or incomplete are forgotten (fetched again)."""
        data = journal.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(journal, "r+b") as f:
                f.truncate(end)
        for line in data[:end].decode("utf-8", "replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            for entry in _upgrade(entry):
                self._load(entry)

    def _load(self, entry: dict) -> None:
        if "file" in entry:
            info = entry["file"]
            if _complete(self.root / info["file"], info["bytes"]):
                self._files[info["sha256"]] = info
        elif "note" in entry:
            self.notes[entry["note"]] = entry["value"]
        elif "origin" in entry:
            origin = entry.pop("origin")
            if "sha256" not in entry or entry["sha256"] in self._files:
                self._set(origin, entry)

    def _import_csvs(self) -> None:
        """Adopt a finished scrape of a version without a lasting journal (manifest.csv, rejected.csv)."""
        for name in ("manifest.csv", "rejected.csv"):
            path = self.root / name
            if path.exists():
                with open(path, newline="") as f:
                    for row in csv.DictReader(f):
                        kind = "stored" if name == "manifest.csv" else "rejected"
                        for entry in _upgrade({kind: row}):
                            self._load(entry)


def _upgrade(entry: dict) -> list[dict]:
    """Journal lines of earlier versions (a stored row, ``also``, a rejection dict) in today's form."""
    if isinstance(entry.get("stored"), dict):
        row = {k: v for k, v in entry["stored"].items() if v != ""}
        info = {k: row.pop(k) for k in FILE_FIELDS}
        info.update(width=int(info["width"]), height=int(info["height"]), bytes=int(info["bytes"]))
        source, others = row.pop("source"), row.pop("other_origins", "").split()
        lines = [{"file": info}, {"origin": row.pop("origin"), "sha256": info["sha256"], "source": source,
                                  "meta": row}]
        return lines + [{"origin": o, "sha256": info["sha256"], "source": source, "meta": {}} for o in others]
    if "also" in entry:
        return [{"origin": entry["origin"], "sha256": entry["also"], "source": entry.get("source", ""),
                 "meta": entry.get("meta", {})}]
    if isinstance(entry.get("rejected"), dict):
        r = entry["rejected"]
        return [{"origin": r["origin"], "source": r["source"], "reason": r["reason"], "detail": r.get("detail", "")}]
    return [] if "fingerprint" in entry else [entry]


def _complete(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync file and folder, so a journal line saying
    'stored' never outlives the file it names (power loss included)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
