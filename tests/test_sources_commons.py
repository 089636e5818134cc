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
    with pytest.raises(ParamError, match=r"scrape.sources\[1\].api"):
        commons.Source.from_params({"kind": "commons", "category": "X", "api": "http://[::1/w/api.php"},
                                   "scrape.sources[1]")


# ------------------------------------------------------------ listings that go wrong end the listing, not the stage

def _within(seconds: float, fn):
    """``fn()``, failing instead of hanging when it runs longer than ``seconds`` (a stuck listing)."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # handed to the test below
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def _listing(site, tmp_path, answer, **http):
    """Run a commons source whose API gives ``answer(call number)`` -> (JSON or text, headers);
    return (manifest, rejected, API calls)."""
    calls = []
    lock = threading.Lock()

    def handler(request):
        with lock:
            calls.append(dict(request.args))
            n = len(calls)
        body, headers = answer(n)
        return Response(body if isinstance(body, str) else json.dumps(body), headers=headers,
                        content_type="application/json")

    site.expect_request("/w/api.php").respond_with_handler(handler)
    spec = {"kind": "commons", "category": "Abstract paintings", "api": site.url_for("/w/api.php")}
    manifest, rejected = _within(10, lambda: run(commons, spec, tmp_path / "raw", **http))
    return manifest, rejected, calls


def _red(site) -> dict:
    """Serve one free file; return its page as the API lists it."""
    site.expect_request("/files/red.png").respond_with_data(image(1), content_type="image/png")
    sha1 = hashlib.sha1(image(1)).hexdigest()
    return _page("File:Red.png", site.url_for("/files/red.png"), "cc0", "CC0", "Ann", sha1)


LAGGING = {"error": {"code": "maxlag", "info": "Waiting for db: 6 s lagged"}}


def _reasons(site, rejected) -> list[tuple[str, str]]:
    """(origin, reason) rows, the API's request URLs shortened to the API."""
    api = site.url_for("/w/api.php")
    return [(api if r["origin"].startswith(api + "?") else r["origin"], r["reason"]) for r in rejected]


def test_maxlag_retry_after_as_an_http_date(site, tmp_path):
    red = _red(site)
    past = "Wed, 21 Oct 2015 07:28:00 GMT"  # a date already gone: ask again at once
    answers = lambda n: (LAGGING, {"Retry-After": past}) if n == 1 else ({"query": {"pages": [red]}}, {})
    manifest, rejected, calls = _listing(site, tmp_path, answers)
    assert [r["origin"] for r in manifest] == [site.url_for("/files/red.png")] and rejected == []
    assert len(calls) == 2


@pytest.mark.parametrize("wait", ["100000", "Fri, 01 Jan 2100 00:00:00 GMT"])
def test_maxlag_longer_than_max_wait_ends_the_listing_at_once(site, tmp_path, wait):
    started = time.monotonic()
    manifest, rejected, calls = _listing(site, tmp_path, lambda n: (LAGGING, {"Retry-After": wait}))
    assert manifest == [] and _reasons(site, rejected) == [(site.url_for("/w/api.php"), "api-lag")]
    assert "max_wait" in rejected[0]["detail"] and len(calls) == 1 and time.monotonic() - started < 5


def test_still_lagging_after_the_tries_ends_the_listing(site, tmp_path):
    manifest, rejected, calls = _listing(site, tmp_path, lambda n: (LAGGING, {"Retry-After": "0"}))
    assert manifest == [] and _reasons(site, rejected) == [(site.url_for("/w/api.php"), "api-lag")]
    assert len(calls) == commons.MAXLAG_TRIES


@pytest.mark.parametrize("looping", ["repeats", "no pages"])
def test_continue_that_repeats_or_lists_nothing_ends_the_listing(site, tmp_path, looping):
    red = _red(site)
    if looping == "repeats":  # the same token, forever
        answer = lambda n: ({"continue": {"gcmcontinue": "same", "continue": "gcmcontinue||"},
                             "query": {"pages": [red]}}, {})
    else:  # a new token each time, and never a page
        answer = lambda n: ({"continue": {"gcmcontinue": f"t{n}", "continue": "gcmcontinue||"}}, {})
    manifest, rejected, calls = _listing(site, tmp_path, answer)
    assert _reasons(site, rejected) == [(site.url_for("/w/api.php"), "api-loop")]
    assert looping in rejected[0]["detail"]
    if looping == "repeats":
        assert [r["origin"] for r in manifest] == [site.url_for("/files/red.png")] and len(calls) == 2
    else:
        assert manifest == [] and len(calls) == 1


@pytest.mark.parametrize("answer, detail", [
    ("<html>Moved</html>", "not JSON"),
    ({"error": {"code": "badvalue", "info": "Unrecognized value for parameter"}}, "badvalue"),
    ([1, 2], "not a JSON object"),
    ({"query": {"pages": [{"title": "File:X.png", "imageinfo": {"url": "x"}}]}}, "KeyError"),
])
def test_api_errors_end_the_listing(site, tmp_path, answer, detail):
    manifest, rejected, calls = _listing(site, tmp_path, lambda n: (answer, {}))
    assert manifest == [] and _reasons(site, rejected) == [(site.url_for("/w/api.php"), "api-error")]
    assert detail in rejected[0]["detail"] and len(calls) == 1


def test_api_at_a_private_address_ends_the_listing(tmp_path):
    api = "http://169.254.169.254/w/api.php"  # the cloud metadata service
    spec = {"kind": "commons", "category": "Abstract paintings", "api": api}
    manifest, rejected = _within(10, lambda: run(commons, spec, tmp_path / "raw", allow_private=False))
    assert manifest == [] and [(r["origin"].split("?")[0], r["reason"]) for r in rejected] == [
        (api, "private-address")]
    assert "Abstract+paintings" in rejected[0]["origin"]  # the request, so two categories' failures stay apart


def test_free_only_when_every_license_field_says_free(site, tmp_path):
    sha = lambda data: hashlib.sha1(data).hexdigest()
    u = site.url_for
    files = {"mixed": ("cc-by-nc-4.0", "CC BY 4.0"), "nonfree": ("cc-by-4.0", "CC BY 4.0"),
             "code-only": ("cc0", None), "name-only": (None, "CC BY-SA 3.0 DE"), "none": (None, None),
             "both": ("cc-by-sa-4.0", "CC BY-SA 4.0")}
    pages = []
    for i, (name, (code, short)) in enumerate(files.items()):
        site.expect_request(f"/files/{name}.png").respond_with_data(image(i), content_type="image/png")
        page = _page(f"File:{name}.png", u(f"/files/{name}.png"), code or "", short or "", "Ann", sha(image(i)))
        meta = page["imageinfo"][0]["extmetadata"]
        for key, value in (("License", code), ("LicenseShortName", short)):
            if value is None:
                del meta[key]
        if name == "nonfree":
            meta["NonFree"] = {"value": "true"}
        pages.append(page)
    manifest, rejected, _ = _listing(site, tmp_path, lambda n: ({"query": {"pages": pages}}, {}))
    assert sorted(r["origin"].rsplit("/", 1)[-1] for r in manifest) == ["both.png", "code-only.png", "name-only.png"]
    reasons = {r["origin"].rsplit("/", 1)[-1]: (r["reason"], r["detail"]) for r in rejected}
    assert reasons == {"mixed.png": ("license", "CC BY 4.0 / cc-by-nc-4.0 is not free"),
                       "nonfree.png": ("license", "CC BY 4.0 / cc-by-4.0 is not free (NonFree)"),
                       "none.png": ("license", "no license is not free")}
