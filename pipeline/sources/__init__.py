"""Image sources for the scrape stage, one module per ``kind``.

Each source module has two functions:

- ``validate(spec, name)`` checks its entry of ``scrape.sources`` (raising
  ``pipeline.params.ParamError`` naming the key) and fills defaults;
- ``collect(spec, store, settings)`` feeds images into a ``RawStore``;
  ``settings`` is the whole ``scrape`` section (user agent, limits ...).
"""
from __future__ import annotations

from pipeline.sources import folder, synthetic

KINDS = {
    "synthetic": synthetic,
    "folder": folder,
}
