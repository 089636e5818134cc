"""``{kind: commons, category: "Abstract paintings"}``: freely licensed files from Wikimedia Commons.

Optional keys (defaults in ``Source``): ``api`` (the MediaWiki API URL;
Commons' own by default), ``max_files``, ``width`` (0 = the original file;
otherwise a thumbnail that wide). Only files under a free license (public
domain, CC0, CC BY, CC BY-SA) are downloaded; the rest go to rejected.csv as ``license``. Following
Wikimedia's etiquette the API is asked one request at a time with ``maxlag``,
and files are fetched one at a time per host.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Iterator, Mapping
from urllib.parse import urlsplit

from bs4 import BeautifulSoup

from pipeline.images.store import RawStore
from pipeline.params import ParamError, knob, read
from pipeline.sources.download import Candidate, download
from pipeline.sources.http import Fetcher, HttpSettings

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
        if urlsplit(source.api).scheme not in ("http", "https"):
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
    """Freely licensed files of the category, following ``continue`` up to ``max_files``."""
    query = {"action": "query", "format": "json", "formatversion": "2", "maxlag": str(MAXLAG),
             "generator": "categorymembers", "gcmtitle": source.category, "gcmtype": "file",
             "gcmlimit": str(BATCH), "prop": "imageinfo", "iiprop": "url|size|mime|sha1|extmetadata"}
    if source.width:
        query["iiurlwidth"] = str(source.width)
    seen, cont = 0, {}
    while True:
        batch = _batch(source.api, {**query, **cont}, store, fetcher)
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


def _batch(api: str, query: dict, store: RawStore, fetcher: Fetcher) -> dict:
    """One API answer reduced to {pages, continue}; journaled, so a resumed run skips it."""
    key = "commons-api:" + json.dumps(query, sort_keys=True)
    if key in store.notes:
        return store.notes[key]
    for _ in range(MAXLAG_TRIES):
        # robots.txt is for crawlers; the API's own rules (serial, maxlag, User-Agent) apply here.
        r = fetcher.get(api, params=query, robots=False)
        try:
            data = json.loads(r.content)
        except ValueError:
            raise RuntimeError(f"{api} did not answer JSON (is scrape.sources api right?)") from None
        error = data.get("error", {})
        if error.get("code") != "maxlag":
            break
        time.sleep(float(r.headers.get("Retry-After", MAXLAG)))  # the database is lagging
    else:
        raise RuntimeError(f"{api}: still lagging after {MAXLAG_TRIES} tries; try later")
    if error:
        raise RuntimeError(f"{api}: {error.get('code')}: {error.get('info')}")
    pages = data.get("query", {}).get("pages", [])
    if isinstance(pages, dict):  # formatversion=1 answers with a mapping
        pages = list(pages.values())
    batch = {"pages": [_file(p) for p in pages if p.get("imageinfo")],
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
            "license_url": str(meta.get("LicenseUrl", "")), "artist": str(meta.get("Artist", ""))}


def _candidate(f: dict, width: int) -> Candidate | str | None:
    """The download for a free file, the license text for a non-free one, None without a URL."""
    if not f["url"]:
        return None
    code, name = f["license"].strip().lower(), f["license_name"].strip()
    if not (FREE.fullmatch(code) or FREE.fullmatch(name.lower().replace(" ", "-"))
            or name.lower() == "public domain"):
        return f"{name or code or 'no license'} is not free"
    thumb = width and f["thumburl"]
    artist = BeautifulSoup(f["artist"], "html.parser").get_text(" ", strip=True)
    return Candidate(thumb or f["url"], page_url=f["descriptionurl"],
                     meta={"license": name or code, "artist": artist, "license_url": f["license_url"]},
                     sha1="" if thumb else f["sha1"])
