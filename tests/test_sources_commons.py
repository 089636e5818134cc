"""The commons source against a MediaWiki-shaped API on 127.0.0.1."""
from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest
from werkzeug import Response

from pipeline.params import ParamError
from pipeline.sources import commons
from web_fixtures import CONTACT, image, requested, run, site, _host_a  # noqa: F401


def _page(title: str, url: str, license: str, name: str, artist: str, sha1: str, thumb: str = "") -> dict:
    meta = {"License": {"value": license}, "LicenseShortName": {"value": name},
            "Artist": {"value": artist}, "LicenseUrl": {"value": "https://creativecommons.org/"}}
    info = {"url": url, "descriptionurl": url.replace("/files/", "/wiki/File:"), "sha1": sha1,
            "width": 64, "height": 64, "size": 1000, "mime": "image/png", "extmetadata": meta}
    if thumb:
        info["thumburl"] = thumb
    return {"pageid": abs(hash(title)) % 10_000, "ns": 6, "title": title, "imageinfo": [info]}


class _Calls(list):
    busy: dict


@pytest.fixture
def api(site):
    """Two continuation pages, one non-free file, one bad checksum, and one maxlag answer first."""
    u = site.url_for
    sha = lambda data: hashlib.sha1(data).hexdigest()
    first = [_page("File:Red.png", u("/files/red.png"), "cc-by-sa-4.0", "CC BY-SA 4.0",
                   '<a href="//commons.wikimedia.org/wiki/User:Ann">Ann Painter</a>', sha(image(1))),
             _page("File:Nc.png", u("/files/nc.png"), "cc-by-nc-4.0", "CC BY-NC 4.0", "Bob", sha(image(2)))]
    second = [_page("File:Old.png", u("/files/old.png"), "pd", "Public domain", "Unknown", sha(image(3)),
                    thumb=u("/thumbs/old-48.png")),
              _page("File:Zero.png", u("/files/zero.png"), "cc0", "CC0", "Cy", sha(image(4))),
              _page("File:Bad.png", u("/files/bad.png"), "cc-by-4.0", "CC BY 4.0", "Di", "0" * 40)]
    calls = _Calls()
    lock = threading.Lock()

    def handler(request):
        with lock:
            calls.append(dict(request.args))
            if len(calls) == 1:
                return Response(json.dumps({"error": {"code": "maxlag", "info": "Waiting for db: 6 s lagged"}}),
                                headers={"Retry-After": "0"}, content_type="application/json")
        if request.args.get("gcmcontinue") == "page2":
            body = {"batchcomplete": True, "query": {"pages": second}}
        else:
            body = {"continue": {"gcmcontinue": "page2", "continue": "gcmcontinue||"},
                    "query": {"pages": first}}
        return Response(json.dumps(body), content_type="application/json")

    site.expect_request("/w/api.php").respond_with_handler(handler)
    busy = {"now": 0, "peak": 0}

    def serve(data):  # slow enough that parallel downloads would overlap
        def handler(_request):
            with lock:
                busy["now"] += 1
                busy["peak"] = max(busy["peak"], busy["now"])
            time.sleep(0.05)
            with lock:
                busy["now"] -= 1
            return Response(data, content_type="image/png")
        return handler

    for name, data in [("red", image(1)), ("nc", image(2)), ("old", image(3)), ("zero", image(4)), ("bad", image(5))]:
        site.expect_request(f"/files/{name}.png").respond_with_handler(serve(data))
    site.expect_request("/thumbs/old-48.png").respond_with_data(image(6, size=48), content_type="image/png")
    # The API lives under /w/, which Wikimedia's robots.txt disallows: the API must not ask robots.
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /w/\n")
    calls.busy = busy
    return calls


def test_free_files_with_license_artist_and_continuation(site, api, tmp_path):
    spec = {"kind": "commons", "category": "Abstract paintings", "api": site.url_for("/w/api.php")}
    manifest, rejected = run(commons, spec, tmp_path / "raw")

    by_name = {r["origin"].rsplit("/", 1)[-1]: r for r in manifest}
    assert set(by_name) == {"red.png", "old.png", "zero.png"}
    red = by_name["red.png"]
    assert (red["license"], red["artist"], red["source"]) == ("CC BY-SA 4.0", "Ann Painter", "commons")
    assert red["page_url"] == site.url_for("/wiki/File:red.png")
    assert by_name["old.png"]["license"] == "Public domain"
    reasons = {r["origin"].rsplit("/", 1)[-1]: r["reason"] for r in rejected}
    assert reasons == {"nc.png": "license", "bad.png": "checksum-mismatch"}
    assert "/files/nc.png" not in requested(site)  # a non-free file is never downloaded

    assert len(api) == 3  # maxlag answer, page 1, page 2 (after its continue token)
    first = api[1]
    assert first["gcmtitle"] == "Category:Abstract paintings" and first["gcmtype"] == "file"
    assert first["generator"] == "categorymembers" and first["maxlag"] == "5"
    assert set(first["iiprop"].split("|")) >= {"url", "size", "mime", "sha1", "extmetadata"}
    assert api[2]["gcmcontinue"] == "page2"
    assert all(CONTACT in req.headers["User-Agent"] for req, _ in site.log)


def test_width_asks_for_thumbnails_and_max_files(site, api, tmp_path):
    spec = {"kind": "commons", "category": "Category:Abstract paintings", "api": site.url_for("/w/api.php"),
            "width": 48, "max_files": 3}
    manifest, rejected = run(commons, spec, tmp_path / "raw")
    assert api[1]["iiurlwidth"] == "48"
    assert sorted(r["origin"].rsplit("/", 1)[-1] for r in manifest) == ["old-48.png", "red.png"]
    assert "/files/zero.png" not in requested(site)  # the fourth file is past max_files


def test_commons_is_one_request_at_a_time(site, api, tmp_path):
    spec = {"kind": "commons", "category": "Abstract paintings", "api": site.url_for("/w/api.php")}
    manifest, _ = run(commons, spec, tmp_path / "raw", workers=8, per_host=8)
    assert len(manifest) == 3 and api.busy["peak"] == 1


def test_from_params():
    source = commons.Source.from_params({"kind": "commons", "category": "Abstract paintings"}, "scrape.sources[1]")
    assert source.api == "https://commons.wikimedia.org/w/api.php" and source.category == "Category:Abstract paintings"
    with pytest.raises(ParamError, match=r"scrape.sources\[1\].api"):
        commons.Source.from_params({"kind": "commons", "category": "X", "api": "file:///tmp/api"}, "scrape.sources[1]")
    with pytest.raises(ParamError, match=r"scrape.sources\[1\].category"):
        commons.Source.from_params({"kind": "commons"}, "scrape.sources[1]")
