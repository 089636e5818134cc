"""Stage ``scrape``: run every source of ``scrape.sources`` into ``data/raw``."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys

from pipeline import params as P
from pipeline.images.store import RawStore
from pipeline.sources import KINDS, ScrapeConfig

RAW = "data/raw"


def main() -> None:
    cfg = ScrapeConfig.from_params(P.section(P.load(), "scrape"))
    # The journal lets a killed run resume (dvc.yaml keeps data/raw with persist: true);
    # changed settings mean a different scrape, so they start afresh. The validated config
    # is hashed, so a key written out at its default is the same scrape as one left out.
    config = json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str)
    fingerprint = hashlib.sha256(config.encode()).hexdigest()
    store = RawStore(RAW, min_side=cfg.min_side, resume=fingerprint)
    for source in cfg.sources:
        KINDS[source.kind].collect(source, store, cfg.http)
    store.close()
    print(f"scrape: {len(store.rows)} images stored, {len(store.rejected)} rejected -> {RAW}/manifest.csv")
    if not store.rows:
        sys.exit("scrape: no image was stored; see data/raw/rejected.csv")


if __name__ == "__main__":
    P.run_stage(main)
