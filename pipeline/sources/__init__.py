"""Image sources for the scrape stage, one module per ``kind``.

Each source module has

- ``Source``, a frozen dataclass of its entry of ``scrape.sources``, with
  ``Source.from_params(spec, name)`` checking that entry (ParamError naming
  ``name.<key>``);
- ``collect(source, store, http)``, which feeds images into a ``RawStore``;
  ``http`` is the shared ``HttpSettings`` (``scrape.http``).

``ScrapeConfig.from_params`` reads the whole ``scrape`` section into those.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from pipeline.params import ParamError, knob, read
from pipeline.sources import commons, folder, html, synthetic, urls
from pipeline.sources.http import HttpSettings

KINDS = {
    "synthetic": synthetic,
    "folder": folder,
    "html": html,
    "commons": commons,
    "urls": urls,
}
WEB_KINDS = ("html", "commons", "urls")


@dataclass(frozen=True)
class ScrapeConfig:
    """The scrape stage's settings: params.yaml's ``scrape`` section."""

    sources: tuple[Any, ...]                  # one KINDS[kind].Source per entry, in order
    min_side: int = knob(32, minimum=1)       # smaller images are rejected as thumbnails/trackers
    http: HttpSettings = field(default_factory=HttpSettings)

    @classmethod
    def from_params(cls, scrape: Mapping) -> "ScrapeConfig":
        """From the ``scrape`` section; every error names its dotted key."""
        shared = read(cls, {k: v for k, v in scrape.items() if k not in ("sources", "http")}, "scrape")
        entries = scrape.get("sources")
        if not isinstance(entries, list) or not entries:
            raise ParamError("scrape.sources", "expected a non-empty list of sources")
        sources = tuple(_source(spec, f"scrape.sources[{i}]") for i, spec in enumerate(entries))
        needs_contact = any(s.kind in WEB_KINDS for s in sources)
        http = HttpSettings.from_params(scrape.get("http") or {}, needs_contact)
        return cls(sources=sources, http=http, **shared)


def _source(spec: Any, name: str) -> Any:
    """One entry of ``scrape.sources`` as its kind's ``Source``."""
    if not isinstance(spec, Mapping):
        raise ParamError(name, "expected a mapping with a 'kind'")
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ParamError(f"{name}.kind", f"unknown source kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    return KINDS[kind].Source.from_params(spec, name)
