"""The deduplicated collection: the kept rows of ``data/unique/manifest.csv``, in sha256 order."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def kept_rows(unique_manifest: Path) -> pd.DataFrame:
    """Rows with ``kept`` true, sorted by sha256 (so any split or order drawn from them is stable)."""
    rows = pd.read_csv(unique_manifest, dtype={"sha256": str, "file": str, "kept": str}, keep_default_na=False)
    kept = rows[rows["kept"].str.lower().isin(["1", "true"])]
    return kept.sort_values("sha256", kind="stable").reset_index(drop=True)
