"""The urls source: a text list or a CSV whose extra columns reach the manifest."""
from __future__ import annotations

import pytest

from pipeline.sources.store import RawStore
from pipeline.params import ParamError
from pipeline.sources import urls
from pipeline.sources.download import Candidate, download
from pipeline.sources.http import Fetcher
from web_fixtures import image, requested, run, settings, site, _host_a  # noqa: F401


def test_text_list(site, tmp_path):
    for i in range(3):
        site.expect_request(f"/{i}.png").respond_with_data(image(i))
    site.expect_request("/gone.png").respond_with_data("no", status=404)
    listing = tmp_path / "urls.txt"
    listing.write_text("# my picks\n" + "\n".join(site.url_for(f"/{i}.png") for i in range(3))
                       + f"\n\n{site.url_for('/gone.png')}\n{site.url_for('/0.png')}\nftp://example.org/x.png\n")
    manifest, rejected = run(urls, {"kind": "urls", "path": str(listing)}, tmp_path / "raw")
    assert sorted(r["origin"] for r in manifest) == [site.url_for(f"/{i}.png") for i in range(3)]
    assert {r["reason"] for r in rejected} == {"http-404", "not-http"}
    assert requested(site).count("/0.png") == 1  # a URL listed twice is fetched once


def test_csv_columns_reach_the_manifest(site, tmp_path):
    site.expect_request("/a.png").respond_with_data(image(1))
    listing = tmp_path / "urls.csv"
    # ``data`` and ``self`` once collided with RawStore.add's own parameters (a TypeError stopped the stage)
    listing.write_text(f"url,license,artist,title,data,self\n{site.url_for('/a.png')},CC0,Someone,Blue field,2019,me\n")
    manifest, rejected = run(urls, {"kind": "urls", "path": str(listing)}, tmp_path / "raw")
    assert [(r["license"], r["artist"], r["title"], r["data"], r["self"], r["source"]) for r in manifest] == [
        ("CC0", "Someone", "Blue field", "2019", "me", "urls")] and rejected == []


def test_unparseable_url_is_recorded_and_the_list_goes_on(site, tmp_path):
    site.expect_request("/a.png").respond_with_data(image(1))
    listing = tmp_path / "urls.txt"
    listing.write_text(f"http://[::1/x\n{site.url_for('/a.png')}\n")
    manifest, rejected = run(urls, {"kind": "urls", "path": str(listing)}, tmp_path / "raw")
    assert [r["origin"] for r in manifest] == [site.url_for("/a.png")]
    assert [(r["origin"], r["reason"]) for r in rejected] == [("http://[::1/x", "bad-url")]


def test_a_surprise_on_one_url_is_recorded_and_the_others_stored(site, tmp_path):
    """An exception nobody expected (here a source bug: a meta key the downloader also sets) is
    that URL's ``error``, not the stage's end."""
    for i in range(3):
        site.expect_request(f"/{i}.png").respond_with_data(image(i))
    store = RawStore(tmp_path / "raw", min_side=32)
    fetcher = Fetcher.from_settings(settings())
    broken = Candidate(site.url_for("/1.png"), meta={"fetched_at": "yesterday"})
    candidates = [Candidate(site.url_for("/0.png")), broken, Candidate(site.url_for("/2.png"))]
    try:
        assert download(candidates, store, fetcher, source="urls", desc="test") == (2, 1)
    finally:
        fetcher.close()
    assert sorted(r["origin"] for r in store.rows.values()) == [site.url_for("/0.png"), site.url_for("/2.png")]
    assert [(r["origin"], r["reason"]) for r in store.rejected] == [(site.url_for("/1.png"), "error")]
    assert store.rejected[0]["detail"].startswith("TypeError: ") and "fetched_at" in store.rejected[0]["detail"]
    store.close()


def test_bad_lists_name_the_key(tmp_path):
    with pytest.raises(ParamError, match=r"scrape.sources\[3\].path.*does not exist"):
        urls.Source.from_params({"kind": "urls", "path": str(tmp_path / "nope.txt")}, "scrape.sources[3]")
    no_url = tmp_path / "list.csv"
    no_url.write_text("link,license\nhttp://x/a.png,CC0\n")
    with pytest.raises(ParamError, match=r"scrape.sources\[3\].path.*no 'url' column"):
        urls.Source.from_params({"kind": "urls", "path": str(no_url)}, "scrape.sources[3]")
    clash = tmp_path / "clash.csv"
    clash.write_text("url,sha256\nhttp://x/a.png,abc\n")
    with pytest.raises(ParamError, match="sha256"):
        urls.Source.from_params({"kind": "urls", "path": str(clash)}, "scrape.sources[3]")
    clash.write_text("url,other_origins\nhttp://x/a.png,http://y/a.png\n")  # the store's duplicate list
    with pytest.raises(ParamError, match="other_origins"):
        urls.Source.from_params({"kind": "urls", "path": str(clash)}, "scrape.sources[3]")
