"""Stage ``prepare``: kept images -> one uint8 array per training resolution.

Reads ``data/unique/manifest.csv`` (kept rows) and the raw images; writes
``data/prepared/<size>.npy`` (N, size, size, 3) uint8 for every rung of the
ladder, ``<size>.csv`` (which image each array row is), ``preview_<size>.png``
and ``stats.json``. Rows are ordered by sha256 and every resolution is resized
from the original, so adding a resolution leaves the other arrays byte-identical.

Rungs above ``train.size`` get an empty array (0, size, size, 3) and no preview:
their train and evaluate stages then record themselves idle (pipeline.gan.ladder).
"""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from PIL import Image

from pipeline import params as P
from pipeline.gan.ladder import Ladder
from pipeline.fsutil import atomic_path, write_csv, write_json
from pipeline.images.load import open_rgb
from pipeline.images.parallel import imap
from pipeline.images.collection import kept_rows
from pipeline.images.resize import CROPS, fits, square
from pipeline.images.grid import image_grid
from pipeline.params import knob

RAW = Path("data/raw")
UNIQUE = Path("data/unique/manifest.csv")
OUT = Path("data/prepared")
PREVIEW_N = 64
INDEX_COLUMNS = ["row", "sha256", "file", "source", "mode"]


@dataclass(frozen=True)
class Prepare:
    crop: str = knob("center", choices=CROPS)   # center | pad (keep the whole work, pad with its border colour)

    @classmethod
    def from_params(cls, prepare: Mapping) -> "Prepare":
        return P.build(cls, prepare, "prepare")


def _prepare_one(job: tuple[str, list[int], str]):
    path, sizes, crop = job
    image, notes = open_rgb(path)
    return {s: square(image, s, crop) for s in sizes}, notes, image.size


def run(raw: Path, unique_manifest: Path, out: Path, sizes: list[int], crop: str = "center",
        workers: int = 0, idle: Iterable[int] = ()) -> dict:
    """Write the arrays, indexes, previews and stats for ``sizes``; return the stats.

    Sizes in ``idle`` (rungs above train.size) get an empty array and index, and no preview.
    """
    rows = kept_rows(unique_manifest)
    if rows.empty:
        raise SystemExit(f"prepare: {unique_manifest} keeps no image")
    dims = rows[["width", "height"]].astype(int).to_numpy()
    idle = set(idle)
    # Which rows reach each resolution, decided up front so arrays can be memory-mapped.
    members = {s: np.flatnonzero([s not in idle and fits(w, h, s, crop) for w, h in dims]) for s in sizes}
    for s in sizes:
        if len(members[s]) == 0 and s not in idle:
            raise SystemExit(f"prepare: no kept image reaches {s} px without upscaling "
                             f"(largest is {int(dims.max())} px); lower train.size")
    out.mkdir(parents=True, exist_ok=True)
    position = {s: {int(r): k for k, r in enumerate(members[s])} for s in sizes}
    notes_count: Counter = Counter()
    with contextlib.ExitStack() as stack:
        arrays = {}
        for s in sizes:
            tmp = stack.enter_context(atomic_path(out / f"{s}.npy"))
            if s in idle:   # a memory map cannot be empty
                with open(tmp, "wb") as f:
                    np.save(f, np.zeros((0, s, s, 3), np.uint8))
                continue
            arrays[s] = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                                  shape=(len(members[s]), s, s, 3))
        jobs = [(str(raw / f), [s for s in sizes if i in position[s]], crop) for i, f in enumerate(rows["file"])]
        for i, (result, notes, decoded) in enumerate(imap(_prepare_one, jobs, workers=workers,
                                                          desc="prepare: resizing")):
            notes_count.update(notes)
            for s, pixels in result.items():
                if pixels is None:   # manifest size disagreed with the decoded image
                    raise SystemExit(f"prepare: {rows['file'].iat[i]} decodes at {decoded}, "
                                     f"not the manifest's {tuple(dims[i])}")
                arrays[s][position[s][i]] = pixels
        for a in arrays.values():
            a.flush()
        del arrays   # close the memory maps before atomic_path renames the files

    stats = {"crop": crop, "kept_images": len(rows), "conversions": dict(sorted(notes_count.items())),
             "resolutions": {}}
    for s in sizes:
        array = np.load(out / f"{s}.npy", mmap_mode="r")
        index = rows.iloc[members[s]].assign(row=np.arange(len(members[s])))
        if "mode" not in index:
            index = index.assign(mode="")
        write_csv(out / f"{s}.csv", index[INDEX_COLUMNS].to_dict("records"), INDEX_COLUMNS)
        if s in idle:
            stats["resolutions"][str(s)] = {"images": 0, "idle": True}
            continue
        preview = image_grid(np.asarray(array[:PREVIEW_N]), columns=8)
        scale = max(1, 64 // s)   # tiny resolutions are enlarged (nearest) so a person can see them
        with atomic_path(out / f"preview_{s}.png") as tmp:
            im = Image.fromarray(preview)
            im.resize((im.width * scale, im.height * scale), Image.NEAREST).save(tmp, format="PNG")
        mean, std = _channel_stats(array)
        stats["resolutions"][str(s)] = {"images": int(len(array)), "too_small": int(len(rows) - len(array)),
                                        "mean": mean, "std": std}
    write_json(out / "stats.json", stats)
    return stats


def _channel_stats(array: np.ndarray, chunk: int = 1024) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (0..255) of an (N, S, S, 3) array, read in chunks (it may be large)."""
    total = np.zeros(3)
    square_sum = np.zeros(3)
    count = 0
    for k in range(0, len(array), chunk):
        x = np.asarray(array[k:k + chunk], np.float64).reshape(-1, 3)
        total += x.sum(0)
        square_sum += (x * x).sum(0)
        count += len(x)
    mean = total / count
    std = np.sqrt(np.maximum(square_sum / count - mean ** 2, 0))
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def main() -> None:
    params = P.load()
    cfg = Prepare.from_params(P.section(params, "prepare"))
    ladder = Ladder.of(params)
    stats = run(RAW, UNIQUE, OUT, ladder.sizes, cfg.crop, idle=set(ladder.sizes) - set(ladder.trained))
    per = ", ".join(f"{s}px: idle" if r.get("idle") else f"{s}px: {r['images']} ({r['too_small']} too small)"
                    for s, r in stats["resolutions"].items())
    print(f"prepare: {stats['kept_images']} kept images -> {per} -> {OUT}/")


if __name__ == "__main__":
    P.run_stage(main)
