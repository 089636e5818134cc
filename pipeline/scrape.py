"""Stage ``scrape``: run every source of ``scrape.sources`` into ``data/raw``."""
from __future__ import annotations

import hashlib
import json
import sys

from pipeline import params as P
from pipeline.images.store import RawStore
from pipeline.sources import KINDS

RAW = "data/raw"


def main() -> None:
    settings = P.load()["scrape"]
    # The journal lets a killed run resume (dvc.yaml keeps data/raw with persist: true);
    # changed settings mean a different scrape, so they start afresh.
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    store = RawStore(RAW, min_side=settings["min_side"], resume=fingerprint)
    for spec in settings["sources"]:
        KINDS[spec["kind"]].collect(spec, store, settings)
    store.close()
    print(f"scrape: {len(store.rows)} images stored, {len(store.rejected)} rejected -> {RAW}/manifest.csv")
    if not store.rows:
        sys.exit("scrape: no image was stored; see data/raw/rejected.csv")


if __name__ == "__main__":
    main()
