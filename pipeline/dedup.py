"""Stage ``dedup``: group near-duplicate raw images and keep the best copy of each group.

Reads ``data/raw/manifest.csv`` and the images; writes ``data/unique/``:
``manifest.csv`` (one row per raw image), ``duplicates.csv`` (each dropped image
with the kept one and their distances) and ``contact_sheet.png`` (largest groups).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pipeline import params as P
from pipeline.fsutil import atomic_path, write_csv
from pipeline.images.load import decode, open_rgb
from pipeline.images.screen import Screen
from pipeline.images.parallel import imap
from pipeline.neardup.rule import Rule
from pipeline.images.grid import image_grid
from pipeline.images.sheet import label, thumbnail

RAW = Path("data/raw")
OUT = Path("data/unique")
MANIFEST_COLUMNS = ["file", "sha256", "group", "kept", "reason", "detail", "phash", "phash_trimmed", "colour",
                    "content_width", "content_height", "width", "height", "bytes", "mime", "source", "conversions"]
DUPLICATE_COLUMNS = ["file", "sha256", "kept_file", "kept_sha256", "group", "hash_dist", "colour_dist"]
LOSSLESS = {"image/png", "image/bmp", "image/tiff", "image/x-portable-anymap"}
SHEET_GROUPS = 12      # contact sheet: this many largest groups
SHEET_PER_ROW = 8
SHEET_TILE = 96


def _examine(job: tuple[str, Rule, Screen]):
    """(refusal or None, fingerprint or None, conversion notes) of one raw image."""
    from pipeline.neardup import detect as D

    path, rule, screen = job
    image, notes, transparent = decode(path)
    refusal = screen.check(image, transparent)
    return refusal, None if refusal else D.fingerprint(image, rule), notes


SAME_SIZE = 1.25   # copies within this factor of the group's most content pixels count as full size


def choose_kept(rows: pd.DataFrame, groups: np.ndarray) -> np.ndarray:
    """Index of the kept row for every group.

    Among the copies with full-size content (pixels left after trimming borders,
    within SAME_SIZE of the group's largest), keep a lossless one first, then the
    most content pixels, then the most bytes per pixel; the sha256 breaks the last
    ties so the choice never depends on input order. Why the tolerance: a
    bordered or re-encoded copy of a PNG original measures a few per cent
    larger (the border is trimmed on a coarse grid, or not at all), and must not
    win on that. Not handled: a copy enlarged from the original by more than
    SAME_SIZE wins on pixels (the per-image upscale detectors tried did not
    tell a 1.3x enlargement from a sharp original on benchmarks/dedup_quality.py).
    """
    pixels = rows["content_width"].to_numpy(np.int64) * rows["content_height"].to_numpy(np.int64)
    largest = np.zeros(groups.max() + 1, np.int64)
    np.maximum.at(largest, groups, pixels)
    full = pixels * SAME_SIZE >= largest[groups]
    bpp = rows["bytes"].to_numpy(float) / np.maximum(rows["width"].to_numpy(float) * rows["height"].to_numpy(float), 1)
    lossless = rows["mime"].isin(LOSSLESS).to_numpy()
    # lexsort: last key is primary
    order = np.lexsort((rows["sha256"].to_numpy(), -bpp, -pixels, ~lossless, ~full, groups))
    first = np.unique(groups[order], return_index=True)[1]
    return order[first]


def run(raw: Path, out: Path, rule: Rule, workers: int = 0, screen: Screen = Screen()) -> pd.DataFrame:
    """Refuse blank and transparent images, deduplicate the rest of the store under ``raw`` into
    ``out``; return the unique manifest (refused rows: group -1, kept 0, the reason and its detail)."""
    # imagehash and scipy load here, not at import: a params error stops the stage within a second
    from pipeline.neardup import detect as D

    rows = pd.read_csv(raw / "manifest.csv", dtype={"sha256": str, "file": str}, keep_default_na=False)
    if rows.empty:
        raise SystemExit(f"dedup: {raw / 'manifest.csv'} lists no images")
    jobs = [(str(raw / f), rule, screen) for f in rows["file"]]
    examined = list(imap(_examine, jobs, workers=workers, desc="dedup: screening and hashing"))
    every = rows.assign(conversions=[" ".join(notes) for _, _, notes in examined], detail="")
    ok = np.array([refusal is None for refusal, _, _ in examined])
    refusals = [refusal for refusal, _, _ in examined if refusal]
    refused = every[~ok].assign(group=-1, kept=0, reason=[r for r, _ in refusals], detail=[d for _, d in refusals])
    if ok.sum() == 0:
        raise SystemExit(f"dedup: all {len(rows)} images were refused ("
                         + ", ".join(f"{n} {k}" for k, n in refused["reason"].value_counts().items())
                         + "); the reasons: dedup.blank and dedup.transparent in params.yaml")
    rows = every[ok].reset_index(drop=True)
    fps = D.Fingerprints.from_rows([fp for _, fp, _ in examined if fp is not None])
    groups = D.group(fps, rule)

    rows = rows.copy()
    rows["content_width"], rows["content_height"] = fps.content[:, 0], fps.content[:, 1]
    rows["group"] = groups
    kept_idx = choose_kept(rows, groups)
    kept_of_group = np.empty(groups.max() + 1, np.int64)
    kept_of_group[groups[kept_idx]] = kept_idx
    kept = np.zeros(len(rows), bool)
    kept[kept_idx] = True
    sizes = np.bincount(groups)
    rows["kept"] = kept.astype(int)
    rows["reason"] = np.where(~kept, "duplicate", np.where(sizes[groups] > 1, "best-of-group", "unique"))
    rows["phash"] = [D.phash_hex(c) for c in fps.phash[:, 0]]
    rows["phash_trimmed"] = [D.phash_hex(c) for c in fps.phash[:, 1]]
    rows["colour"] = [D.colour_hex(t) for t in fps.thumb[:, 0]]

    dropped = np.flatnonzero(~kept)
    ref = kept_of_group[groups[dropped]]
    # distances to the kept copy; -1 when the two are linked only through other members
    pi, pj, phd, pcd = D.pairs(fps, rule)
    direct = {(int(a), int(b)): (int(h), round(float(c), 4)) for a, b, h, c in zip(pi, pj, phd, pcd)}
    dup_rows = []
    for d, k in zip(dropped, ref):
        hd, cd = direct.get((min(d, k), max(d, k)), (-1, -1))
        dup_rows.append({"file": rows["file"].iat[d], "sha256": rows["sha256"].iat[d],
                         "kept_file": rows["file"].iat[k], "kept_sha256": rows["sha256"].iat[k],
                         "group": int(groups[d]), "hash_dist": hd, "colour_dist": cd})

    out.mkdir(parents=True, exist_ok=True)
    rows = pd.concat([rows, refused], ignore_index=True)
    write_csv(out / "manifest.csv", rows.to_dict("records"), MANIFEST_COLUMNS)
    write_csv(out / "duplicates.csv", dup_rows, DUPLICATE_COLUMNS)
    contact_sheet(raw, rows, out / "contact_sheet.png")
    return rows


def contact_sheet(raw: Path, rows: pd.DataFrame, path: Path) -> None:
    """PNG of the largest groups, one per row: the kept copy framed green, dropped ones red."""
    sizes = rows[rows["group"] >= 0].groupby("group").size()
    largest = sizes[sizes > 1].sort_values(ascending=False, kind="stable").index[:SHEET_GROUPS]
    strips = []
    width = SHEET_PER_ROW * SHEET_TILE
    for g in largest:
        members = rows[rows["group"] == g].sort_values("kept", ascending=False, kind="stable")
        tiles = [thumbnail(open_rgb(raw / f)[0], SHEET_TILE, (0, 170, 0) if k else (200, 0, 0))
                 for f, k in zip(members["file"][:SHEET_PER_ROW], members["kept"][:SHEET_PER_ROW])]
        strip = np.full((SHEET_TILE, width, 3), 255, np.uint8)
        strip[:, :len(tiles) * SHEET_TILE] = np.concatenate(tiles, axis=1)
        strips.append(label(strip, f"group {g}: {len(members)} images, kept {members['file'].iat[0]}"))
    if not strips:
        strips = [label(np.full((SHEET_TILE, width, 3), 255, np.uint8), "no near-duplicate groups found")]
    with atomic_path(path) as tmp:
        Image.fromarray(image_grid(np.stack(strips), columns=1, pad=4)).save(tmp, format="PNG")


def main() -> None:
    section = P.section(P.load(), "dedup")
    rows = run(RAW, OUT, Rule.from_params(section), screen=Screen.from_params(section))
    n_groups = rows.loc[rows["group"] >= 0, "group"].nunique()
    refused = rows[rows["group"] < 0]["reason"].value_counts()
    print(f"dedup: {len(rows)} images -> {int(rows['kept'].sum())} kept in {n_groups} groups "
          f"({int((rows['reason'] == 'duplicate').sum())} near-duplicates dropped"
          + "".join(f", {n} refused as {k}" for k, n in refused.items()) + f") -> {OUT}/manifest.csv")


if __name__ == "__main__":
    P.run_stage(main)
