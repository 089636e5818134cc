"""Turn candidate image URLs into store rows, many at a time.

Sources *find* ``Candidate``s; ``download`` *fetches* them with a shared
``Fetcher`` on a thread pool and hands the bytes to the ``RawStore``, which
*stores* or rejects them. URLs the store already finished (a resumed run) are
skipped without a request.

No URL stops the stage: every failure, a surprise included, ends as a row of
rejected.csv. An unexpected exception is recorded as ``error`` (with its type and
message), which a later run tries again; only a failure to record stops the stage.
"""
from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from tqdm import tqdm

from pipeline.sources.store import RawStore, Rejected
from pipeline.sources.http import Fetcher


@dataclass
class Candidate:
    url: str
    page_url: str = ""
    meta: dict = field(default_factory=dict)   # license, artist ... carried into the manifest
    sha1: str = ""                             # expected SHA-1 of the body, when the source knows it


def download(candidates: Iterable[Candidate], store: RawStore, fetcher: Fetcher, *,
             source: str, desc: str, total: int | None = None) -> tuple[int, int]:
    """Fetch and store every candidate; return (stored, rejected) counts for this call.

    ``candidates`` may be a generator: discovery and downloading overlap, and at
    most a few times ``fetcher.workers`` URLs are in flight or queued.
    """
    counts = {"stored": 0, "rejected": 0}
    lock = threading.Lock()
    bar = tqdm(total=total, desc=desc, unit="img")

    def one(c: Candidate) -> None:
        try:
            outcome = "stored"
            r = fetcher.get(c.url)
            if c.sha1:
                if hashlib.sha1(r.content).hexdigest() != c.sha1.lower():
                    raise Rejected("checksum-mismatch", f"sha1 differs from {c.sha1}")
            fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            store.add(r.content, source=source, origin=c.url, page_url=c.page_url,
                      fetched_at=fetched_at, **c.meta)
        except Rejected as e:
            outcome = "rejected"
            store.reject(origin=c.url, source=source, reason=e.reason, detail=e.detail)
        except Exception as e:  # a bug met on one URL: journaled, and the others go on (img2dataset does the same)
            outcome = "rejected"
            detail = f"{type(e).__name__}: {e}"[:200]
            store.reject(origin=c.url, source=source, reason="error", detail=detail)
            tqdm.write(f"{source}: {c.url}: {detail}")
        with lock:
            counts[outcome] += 1
            bar.set_postfix(counts, refresh=False)
            bar.update()

    errors: list[BaseException] = []

    def finished(future) -> None:
        if future.exception() is not None:  # the store could not record an outcome: stop the stage
            errors.append(future.exception())
        in_flight.release()

    seen: set[str] = set()
    in_flight = threading.BoundedSemaphore(4 * fetcher.workers)
    with ThreadPoolExecutor(fetcher.workers) as pool:
        for c in candidates:
            if errors:
                break
            if c.url in seen or store.done(c.url):
                continue
            seen.add(c.url)
            in_flight.acquire()
            pool.submit(one, c).add_done_callback(finished)
    bar.close()
    if errors:
        raise errors[0]
    return counts["stored"], counts["rejected"]
