"""Image sources for the scrape stage, one module per ``kind``.

Each source module has two functions:

- ``validate(spec, name)`` checks its entry of ``scrape.sources`` (raising
  ``pipeline.params.ParamError`` naming the key) and fills defaults;
- ``collect(spec, store, settings)`` feeds images into a ``RawStore``;
  ``settings`` is the whole ``scrape`` section (user agent, limits ...).
"""
from __future__ import annotations

from pipeline.sources import commons, folder, html, http, synthetic, urls

KINDS = {
    "synthetic": synthetic,
    "folder": folder,
    "html": html,
    "commons": commons,
    "urls": urls,
}
WEB_KINDS = ("html", "commons", "urls")


def validate_settings(scrape: dict) -> None:
    """Check the settings shared by the web sources (``scrape.http``)."""
    needs_contact = any(s.get("kind") in WEB_KINDS for s in scrape["sources"])
    http.validate_settings(scrape, needs_contact)
