"""The raw image store: files named by the sha256 of their bytes, plus a manifest.

Every source (synthetic, folder, web) hands bytes to ``RawStore.add``; the store
proves they are an image, refuses junk with a reason, and records where they came
from. Writing is thread-safe so downloaders can share one store.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
import warnings
from pathlib import Path

from PIL import Image

from pipeline.fsutil import atomic_path, write_csv

MANIFEST_COLUMNS = ["file", "sha256", "source", "origin", "page_url", "width", "height",
                    "mime", "bytes", "license", "artist", "fetched_at"]
REJECTED_COLUMNS = ["origin", "source", "reason", "detail"]

JOURNAL = "journal.jsonl"
# Rejections worth another try when a killed run resumes (the server may be back).
TRANSIENT = ("network-error", "http-429", "http-500", "http-502", "http-503", "http-504")

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
            with Image.open(io.BytesIO(data)) as im:
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
        raise Rejected("not-an-image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise Rejected("decode-error", str(e)[:200]) from None
    if min(width, height) < min_side:
        raise Rejected("too-small", f"{width}x{height} < {min_side}px")
    mime = Image.MIME.get(fmt, f"image/{fmt.lower()}")
    ext = {"JPEG": "jpg", "TIFF": "tif"}.get(fmt, fmt.lower())
    return width, height, mime, ext


class RawStore:
    """Content-addressed image files under ``root/images`` with manifest and rejections."""

    def __init__(self, root: Path | str, min_side: int = 32, clear: bool = True,
                 resume: str | None = None):
        """``resume`` (a fingerprint of the settings) keeps a journal of finished origins
        in ``root/journal.jsonl``: a store opened again with the same fingerprint picks up
        where a killed run stopped; any other fingerprint, or no journal, starts afresh.
        """
        self.root = Path(root)
        self.images = self.root / "images"
        self.min_side = min_side
        self.rows: dict[str, dict] = {}
        self.rejected: list[dict] = []
        self.notes: dict[str, object] = {}
        self._done: set[str] = set()
        self._lock = threading.Lock()
        self._journal = None
        journal = self.root / JOURNAL
        resuming = resume is not None and _journal_fingerprint(journal) == resume
        if (clear or resume is not None) and not resuming and self.root.exists():
            shutil.rmtree(self.root)
        self.images.mkdir(parents=True, exist_ok=True)
        if resume is not None:
            if resuming:
                self._replay(journal)
            self._journal = open(journal, "a")
            if not resuming:
                self._log({"fingerprint": resume})

    def _replay(self, journal: Path) -> None:
        """Load what a killed run finished; a torn last line (killed mid-write) is ignored."""
        with open(journal) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if "stored" in entry and (self.root / entry["stored"]["file"]).exists():
                    row = entry["stored"]
                    self.rows[row["sha256"]] = row
                    self._done.add(row["origin"])
                elif "also" in entry and entry["also"] in self.rows:
                    self._also(self.rows[entry["also"]], entry["origin"], entry.get("source"), entry.get("meta", {}))
                elif "rejected" in entry and entry["rejected"]["reason"] not in TRANSIENT:
                    self._reject(entry["rejected"])
                elif "note" in entry:
                    self.notes[entry["note"]] = entry["value"]

    def _log(self, entry: dict) -> None:
        """Append one journal line (call with the lock held, or before threads start)."""
        if self._journal is not None:
            self._journal.write(json.dumps(entry) + "\n")
            self._journal.flush()

    def done(self, origin: str) -> bool:
        """True when ``origin`` was stored or rejected for good (in this run or a resumed one)."""
        with self._lock:
            return origin in self._done

    def note(self, key: str, value) -> None:
        """Journal a finished step that is not an image (a crawled page, an API batch)."""
        with self._lock:
            self.notes[key] = value
            self._log({"note": key, "value": value})

    def add(self, data: bytes, *, source: str, origin: str, **meta) -> dict:
        """Store ``data`` (if new) and return its manifest row; raise Rejected for junk.

        The same bytes arriving from a second origin are stored once; the extra
        origin is appended to the row's ``other_origins`` column.
        """
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            if sha in self.rows:
                row = self.rows[sha]
                self._also(row, origin, source, meta)
                self._log({"also": sha, "origin": origin, "source": source, "meta": meta})
                return row
        width, height, mime, ext = inspect_image(data, self.min_side)
        name = f"{sha}.{ext}"
        path = self.images / name
        if not path.exists():
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
        row = {"file": f"images/{name}", "sha256": sha, "source": source, "origin": origin,
               "width": width, "height": height, "mime": mime, "bytes": len(data), **meta}
        with self._lock:
            if sha in self.rows:  # another thread stored the same bytes meanwhile
                self._also(self.rows[sha], origin, source, meta)
                self._log({"also": sha, "origin": origin, "source": source, "meta": meta})
                return self.rows[sha]
            self.rows[sha] = row
            self._done.add(origin)
            self._log({"stored": row})
            return row

    def _also(self, row: dict, origin: str, source: str | None = None, meta: dict | None = None) -> None:
        """Record another origin of stored bytes. The smallest origin is the row's own, so the
        manifest does not depend on which of two parallel downloads finished first."""
        self._done.add(origin)
        origins = sorted({row["origin"], origin, *row.get("other_origins", "").split()})
        if origin == origins[0] and origin != row["origin"] and source is not None:
            row.update(meta or {}, source=source, origin=origin)
        others = [o for o in origins if o != row["origin"]]
        if others:
            row["other_origins"] = " ".join(others)

    def reject(self, *, origin: str, source: str, reason: str, detail: str = "") -> None:
        entry = {"origin": origin, "source": source, "reason": reason, "detail": detail}
        with self._lock:
            if origin not in self._done:
                self._reject(entry)
                self._log({"rejected": entry})

    def _reject(self, entry: dict) -> None:
        self.rejected.append(entry)
        if entry["reason"] not in TRANSIENT:
            self._done.add(entry["origin"])

    def close(self) -> None:
        """Write manifest.csv and rejected.csv (atomically) in a stable order."""
        rows = sorted(self.rows.values(), key=lambda r: (r["source"], r["origin"]))
        write_csv(self.root / "manifest.csv", rows, MANIFEST_COLUMNS)
        write_csv(self.root / "rejected.csv", self.rejected, REJECTED_COLUMNS)
        if self._journal is not None:  # complete: the next run is a fresh scrape
            self._journal.close()
            self._journal = None
            (self.root / JOURNAL).unlink()


def _journal_fingerprint(journal: Path) -> str | None:
    try:
        with open(journal) as f:
            return json.loads(f.readline()).get("fingerprint")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
