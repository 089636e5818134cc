"""The ``scrape`` section read into ScrapeConfig: every error names its key; nothing is written back."""
from __future__ import annotations

import copy

import pytest

from pipeline.params import ParamError
from pipeline.sources import ScrapeConfig, commons, html, synthetic


def error(scrape: dict) -> str:
    with pytest.raises(ParamError) as e:
        ScrapeConfig.from_params(scrape)
    return str(e.value)


def test_reads_every_source_with_its_defaults():
    cfg = ScrapeConfig.from_params({"sources": [{"kind": "synthetic", "n": 10},
                                                {"kind": "html", "url": "https://example.org/gallery"}],
                                    "http": {"contact": "me@example.org"}})
    assert cfg.sources == (synthetic.Source(n=10), html.Source(url=("https://example.org/gallery",)))
    assert cfg.min_side == 32 and cfg.http.contact == "me@example.org"


def test_unknown_keys_suggest_the_nearest():
    assert "scrape.min_sid: unknown key; did you mean `min_side`?" in error(
        {"sources": [{"kind": "synthetic"}], "min_sid": 16})
    assert "scrape.sources[1].max_page: unknown key; did you mean `max_pages`?" in error(
        {"sources": [{"kind": "synthetic"}, {"kind": "html", "url": "http://x/", "max_page": 3}]})


def test_sources_must_be_a_list_of_known_kinds():
    for sources in (None, [], {"kind": "synthetic"}):
        assert "scrape.sources: expected a non-empty list" in error({"sources": sources})
    assert "scrape.sources[0]: expected a mapping" in error({"sources": ["synthetic"]})
    message = error({"sources": [{"kind": "synthetic"}, {"kind": "ftp"}]})
    assert "scrape.sources[1].kind: unknown source kind 'ftp'" in message
    assert "commons, folder, html, synthetic, urls" in message
    assert "scrape.sources[0].size: must be >= 16" in error({"sources": [{"kind": "synthetic", "size": 8}]})


def test_reading_does_not_write_into_params():
    scrape = {"sources": [{"kind": "commons", "category": "Abstract paintings"},
                          {"kind": "html", "url": "http://x/"},
                          {"kind": "synthetic"}],
              "http": {"contact": "me@example.org"}}
    before = copy.deepcopy(scrape)
    cfg = ScrapeConfig.from_params(scrape)
    assert scrape == before   # no defaults filled, no category prefixed, no URL wrapped in a list
    assert cfg.sources[0] == commons.Source(category="Category:Abstract paintings")
    assert cfg.sources[1].url == ("http://x/",)
