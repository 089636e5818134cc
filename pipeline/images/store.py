"""The raw image store: files named by the sha256 of their bytes, plus a manifest.

Every source (synthetic, folder, web) hands bytes to ``RawStore.add``; the store
proves they are an image, refuses junk with a reason, and records where they came
from. Writing is thread-safe so downloaders can share one store.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import threading
import warnings
from pathlib import Path

from PIL import Image

from pipeline.fsutil import atomic_path, write_csv

MANIFEST_COLUMNS = ["file", "sha256", "source", "origin", "page_url", "width", "height",
                    "mime", "bytes", "license", "artist", "fetched_at"]
REJECTED_COLUMNS = ["origin", "source", "reason", "detail"]

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

    def __init__(self, root: Path | str, min_side: int = 32, clear: bool = True):
        self.root = Path(root)
        self.images = self.root / "images"
        if clear and self.root.exists():
            shutil.rmtree(self.root)
        self.images.mkdir(parents=True, exist_ok=True)
        self.min_side = min_side
        self.rows: dict[str, dict] = {}
        self.rejected: list[dict] = []
        self._lock = threading.Lock()

    def add(self, data: bytes, *, source: str, origin: str, **meta) -> dict:
        """Store ``data`` (if new) and return its manifest row; raise Rejected for junk.

        The same bytes arriving from a second origin are stored once; the extra
        origin is appended to the row's ``other_origins`` column.
        """
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            if sha in self.rows:
                row = self.rows[sha]
                if origin != row["origin"]:
                    others = [o for o in row.get("other_origins", "").split(" ") if o]
                    if origin not in others:
                        row["other_origins"] = " ".join(others + [origin])
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
            return self.rows.setdefault(sha, row)

    def reject(self, *, origin: str, source: str, reason: str, detail: str = "") -> None:
        with self._lock:
            self.rejected.append({"origin": origin, "source": source, "reason": reason, "detail": detail})

    def close(self) -> None:
        """Write manifest.csv and rejected.csv (atomically) in a stable order."""
        rows = sorted(self.rows.values(), key=lambda r: (r["source"], r["origin"]))
        write_csv(self.root / "manifest.csv", rows, MANIFEST_COLUMNS)
        write_csv(self.root / "rejected.csv", self.rejected, REJECTED_COLUMNS)
