"""The urls source: a text list or a CSV whose extra columns reach the manifest."""
from __future__ import annotations

import pytest

from pipeline.params import ParamError
from pipeline.sources import urls
from web_fixtures import image, requested, run, site, _host_a  # noqa: F401


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
    listing.write_text(f"url,license,artist,title\n{site.url_for('/a.png')},CC0,Someone,Blue field\n")
    manifest, _ = run(urls, {"kind": "urls", "path": str(listing)}, tmp_path / "raw")
    assert [(r["license"], r["artist"], r["title"], r["source"]) for r in manifest] == [
        ("CC0", "Someone", "Blue field", "urls")]


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
