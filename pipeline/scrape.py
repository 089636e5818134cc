"""Stage ``scrape``: run every source of ``scrape.sources`` into ``data/raw``."""
from __future__ import annotations

import sys

from pipeline import params as P
from pipeline.sources.store import RawStore
from pipeline.sources import KINDS, ScrapeConfig

RAW = "data/raw"


def main() -> None:
    cfg = ScrapeConfig.from_params(P.section(P.load(), "scrape"))
    # data/raw is a persist: true output and its journal outlives a run, so a killed scrape
    # resumes and a changed setting re-asks only what it must: nothing stored is deleted.
    store = RawStore(RAW, min_side=cfg.min_side)
    for source in cfg.sources:
        KINDS[source.kind].collect(source, store, cfg.http)
    store.close()
    print(f"scrape: {len(store.rows)} images stored, {len(store.rejected)} rejected -> {RAW}/manifest.csv")
    if store.set_aside:
        print(f"scrape: {store.set_aside} images of sources no longer in scrape.sources are kept in "
              f"{RAW}/images, not in the manifest (adding the source back lists them without a download)")
    if not store.rows:
        sys.exit("scrape: no image was stored; see data/raw/rejected.csv")


if __name__ == "__main__":
    P.run_stage(main)
