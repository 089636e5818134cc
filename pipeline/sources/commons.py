"""``{kind: commons, category: "Abstract paintings"}``: freely licensed files from Wikimedia Commons.

Optional keys (defaults in ``Source``): ``api`` (the MediaWiki API URL;
Commons' own by default), ``max_files``, ``width`` (0 = the original file;
otherwise a thumbnail that wide). Only files under a free license (public
domain, CC0, CC BY, CC BY-SA) are downloaded; the rest go to rejected.csv as ``license``.
A file is free only when every license field it has (the ``License`` code and the
``LicenseShortName``) says so and Commons does not flag it ``NonFree``. Following
Wikimedia's etiquette the API is asked one request at a time with ``maxlag``,
and files are fetched one at a time per host.

A listing that goes wrong ends this source's listing, not the stage: the API
unreachable or refused (the fetcher's reason, e.g. ``private-address``), an answer
that is not JSON or carries an ``error`` (``api-error``), a lag longer than
``scrape.http.max_wait`` or than ``MAXLAG_TRIES`` waits (``api-lag``), a ``continue``
that repeats or comes with no pages (``api-loop``). Each is one row of rejected.csv
whose origin is the API request; the files listed before it are still downloaded.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Iterator, Mapping
from urllib.parse import urlencode, urlsplit

from bs4 import BeautifulSoup
from tqdm import tqdm

from pipeline.sources.store import RawStore, Rejected
from pipeline.params import ParamError, knob, read
from pipeline.sources.download import Candidate, download
from pipeline.sources.http import Fetcher, HttpSettings, retry_after

API = "https://commons.wikimedia.org/w/api.php"
BATCH = 50
MAXLAG = 5          # seconds of replication lag above which the API asks us to come back later
MAXLAG_TRIES = 5
# Machine-readable license codes of extmetadata.License that count as free.
# NC and ND variants are not free; a trailing -xx is a ported license (cc-by-sa-3.0-de).
FREE = re.compile(r"pd|pd-.*|cc-pd.*|cc0.*|(?!.*-n[cd])cc-by(-sa)?(-\d(\.\d)?)?(-[a-z]{2,})?")


@dataclass(frozen=True, kw_only=True)
class Source:
    """A Commons category and how much of it to fetch."""

    kind: str = knob("commons", choices=("commons",))
    category: str = knob()                 # "Category:" is prefixed when missing
    api: str = knob(API)
    max_files: int = knob(1000, minimum=1)
    width: int = knob(0, minimum=0)        # 0: the original file; otherwise a thumbnail this wide

    @classmethod
    def from_params(cls, spec: Mapping, name: str) -> "Source":
        """From one entry of ``scrape.sources``; errors name the key."""
        values = read(cls, spec, name)
        category = values.get("category", "").strip()
        if not category:
            raise ParamError(f"{name}.category", "expected a category name, e.g. 'Abstract paintings'")
        values["category"] = category if category.startswith("Category:") else f"Category:{category}"
        source = cls(**values)
        try:
            parts = urlsplit(source.api)
        except ValueError:  # http://[::1/x
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ParamError(f"{name}.api", f"expected an http(s) URL, got {source.api!r}")
        return source


def collect(source: Source, store: RawStore, http: HttpSettings) -> None:
    """Download the category's freely licensed files into ``store``, one request at a time."""
    fetcher = Fetcher.from_settings(http, per_host=1)
    try:
        download(files(source, store, fetcher), store, fetcher, source="commons",
                 desc=f"commons {source.category}")
    finally:
        fetcher.close()


def files(source: Source, store: RawStore, fetcher: Fetcher) -> Iterator[Candidate]:
    """Freely licensed files of the category, following ``continue`` up to ``max_files``.

    A listing that fails or loops ends here, recorded in ``store`` (see the module's docstring).
    """
    query = {"action": "query", "format": "json", "formatversion": "2", "maxlag": str(MAXLAG),
             "generator": "categorymembers", "gcmtitle": source.category, "gcmtype": "file",
             "gcmlimit": str(BATCH), "prop": "imageinfo", "iiprop": "url|size|mime|sha1|extmetadata"}
    if source.width:
        query["iiurlwidth"] = str(source.width)
    seen, cont, tokens = 0, {}, set()
    while True:
        request = {**query, **cont}
        try:
            batch = _batch(source.api, request, store, fetcher)
        except Rejected as e:
            _give_up(store, source.api, request, e.reason, e.detail)
            return
        except Exception as e:  # an answer of a shape no MediaWiki gives
            _give_up(store, source.api, request, "api-error", f"{type(e).__name__}: {e}")
            return
        for page in batch["pages"]:
            if seen >= source.max_files:
                return
            seen += 1
            candidate = _candidate(page, source.width)
            if isinstance(candidate, Candidate):
                yield candidate
            elif candidate is not None:
                store.reject(origin=page.get("url") or page["title"], source="commons",
                             reason="license", detail=candidate)
        if not batch["continue"]:
            return
        cont = batch["continue"]
        # Each answer is journaled under its request, so a repeated token would replay the
        # same answer forever without asking the API (574k turns in 3 s were seen).
        token = json.dumps(cont, sort_keys=True)
        if token in tokens or not batch.get("listed", len(batch["pages"])):
            why = "repeats" if token in tokens else "comes with no pages"
            _give_up(store, source.api, request, "api-loop", f"continue {token} {why}")
            return
        tokens.add(token)


def _give_up(store: RawStore, api: str, query: dict, reason: str, detail: str) -> None:
    """End the listing: one rejected.csv row for the request, and a line on the console."""
    url = f"{api}{'&' if '?' in api else '?'}{urlencode(query)}"
    store.reject(origin=url, source="commons", reason=reason, detail=detail[:200])
    tqdm.write(f"commons {query['gcmtitle']}: listing stopped ({reason}: {detail[:200]})")


def _batch(api: str, query: dict, store: RawStore, fetcher: Fetcher) -> dict:
    """One API answer reduced to {pages, listed, continue}; journaled, so a resumed run skips it.

    Raises Rejected when the API cannot be reached, lags too long or answers an error.
    """
    key = "commons-api:" + json.dumps(query, sort_keys=True)
    if key in store.notes:
        return store.notes[key]
    for _ in range(MAXLAG_TRIES):
        # robots.txt is for crawlers; the API's own rules (serial, maxlag, User-Agent) apply here.
        r = fetcher.get(api, params=query, robots=False, max_bytes=fetcher.max_page_bytes)
        try:
            data = json.loads(r.content)
        except ValueError:
            raise Rejected("api-error", "the answer is not JSON (is scrape.sources api right?)") from None
        if not isinstance(data, dict):
            raise Rejected("api-error", "the answer is not a JSON object")
        error = data.get("error") or {}
        if error.get("code") != "maxlag":
            break
        # The database is lagging: wait as asked (seconds or an HTTP date), but never longer
        # than max_wait, the cap the fetcher puts on every wait (Heritrix caps its waits too).
        wait = retry_after(r.headers.get("Retry-After"))
        wait = MAXLAG if wait is None else wait
        if wait > fetcher.max_wait:
            raise Rejected("api-lag", f"Retry-After {wait:.0f}s > scrape.http.max_wait {fetcher.max_wait:g}s")
        time.sleep(wait)
    else:
        raise Rejected("api-lag", f"still lagging after {MAXLAG_TRIES} tries; try later")
    if error:
        raise Rejected("api-error", f"{error.get('code')}: {error.get('info')}"[:200])
    pages = data.get("query", {}).get("pages", [])
    if isinstance(pages, dict):  # formatversion=1 answers with a mapping
        pages = list(pages.values())
    batch = {"pages": [_file(p) for p in pages if p.get("imageinfo")], "listed": len(pages),
             "continue": data.get("continue", {})}
    store.note(key, batch)
    return batch


def _file(page: dict) -> dict:
    """The few fields we keep of one API page (imageinfo + extmetadata)."""
    info = page["imageinfo"][0]
    meta = {k: v.get("value", "") for k, v in (info.get("extmetadata") or {}).items()
            if isinstance(v, dict)}
    return {"title": page.get("title", ""), "url": info.get("url", ""), "thumburl": info.get("thumburl", ""),
            "descriptionurl": info.get("descriptionurl", ""), "sha1": info.get("sha1", ""),
            "license": str(meta.get("License", "")), "license_name": str(meta.get("LicenseShortName", "")),
            "license_url": str(meta.get("LicenseUrl", "")), "artist": str(meta.get("Artist", "")),
            "nonfree": str(meta.get("NonFree", ""))}


def _candidate(f: dict, width: int) -> Candidate | str | None:
    """The download for a free file, the license text for a non-free one, None without a URL."""
    if not f["url"]:
        return None
    code, name = f["license"].strip().lower(), f["license_name"].strip()
    # Every field present must say free ("cc-by-nc-4.0" beside "CC BY 4.0" is not), and
    # Commons' own NonFree flag overrules both.
    free = {name: bool(FREE.fullmatch(name.lower().replace(" ", "-"))) or name.lower() == "public domain",
            code: bool(FREE.fullmatch(code))}
    free.pop("", None)  # a field that is absent
    nonfree = f.get("nonfree", "").strip().lower() not in ("", "false", "0")  # absent from older journals
    if not free or not all(free.values()) or nonfree:
        return f"{' / '.join(free) or 'no license'} is not free" + (" (NonFree)" if nonfree else "")
    thumb = width and f["thumburl"]
    artist = BeautifulSoup(f["artist"], "html.parser").get_text(" ", strip=True)
    return Candidate(thumb or f["url"], page_url=f["descriptionurl"],
                     meta={"license": name or code, "artist": artist, "license_url": f["license_url"]},
                     sha1="" if thumb else f["sha1"])
