"""Map a function over items on all cores, in order, with a progress bar."""
from __future__ import annotations

import os
from multiprocessing import get_context
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """Cores this process may use (respects CPU affinity, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def imap(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 0, desc: str = "",
         unit: str = "img", chunksize: int = 8) -> Iterator[R]:
    """Yield ``fn(item)`` for every item, in input order; ``workers=0`` means every core.

    ``fn`` must be a module-level function (it is pickled to worker processes).
    One worker runs in this process, which keeps tests and debugging simple.
    """
    items = list(items)
    workers = workers or cores()
    bar = tqdm(total=len(items), desc=desc, unit=unit)
    try:
        if workers == 1 or len(items) <= 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        # "spawn"-free fork is fine here: workers only read files and return arrays
        with get_context("fork").Pool(workers) as pool:
            for result in pool.imap(fn, items, chunksize=chunksize):
                yield result
                bar.update()
    finally:
        bar.close()
