"""``{kind: html, url: START_URL}``: images from gallery pages, following pagination.

Optional keys (defaults in ``Source``): ``url`` may be a list of start pages;
``max_pages`` and ``max_images`` bound the crawl; ``selector`` (CSS) narrows where images
are looked for; ``next`` (CSS) names the pagination link when a site has no
``rel=next``. Pages are followed only on the start pages' hosts; images may live
on any host (galleries use CDNs).
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Mapping
from urllib.parse import urldefrag, urljoin, urlsplit

import soupsieve
from bs4 import BeautifulSoup

from pipeline.images.store import RawStore, Rejected
from pipeline.params import ParamError, knob, read
from pipeline.sources.download import Candidate, download
from pipeline.sources.http import Fetcher, HttpSettings

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif")
SRCSET_ATTRS = ("srcset", "data-srcset", "data-lazy-srcset")
# Where lazy loaders keep the real URL while ``src`` holds a placeholder, most specific first.
LAZY_ATTRS = ("data-full-src", "data-large-src", "data-src", "data-original", "data-lazy-src",
              "data-lazy", "data-url")
OPT_OUT = {"noai", "noimageai"}


@dataclass(frozen=True, kw_only=True)
class Source:
    """Gallery pages to crawl, and the bounds and selectors of the crawl."""

    kind: str = knob("html", choices=("html",))
    url: tuple[str, ...] = knob()          # start pages; one URL may be written without a list
    max_pages: int = knob(20, minimum=1)
    max_images: int = knob(1000, minimum=1)
    selector: str = knob("")               # CSS: where images are looked for (default: the whole page)
    next: str = knob("")                   # CSS: pagination links, for sites without rel=next

    @classmethod
    def from_params(cls, spec: Mapping, name: str) -> "Source":
        """From one entry of ``scrape.sources``; URLs and CSS selectors are checked (errors name the key)."""
        values = read(cls, spec, name)
        urls = values.get("url", ())
        if not urls:
            raise ParamError(f"{name}.url", "expected a start URL or a list of them")
        for i, url in enumerate(urls):
            key = f"{name}.url" if len(urls) == 1 else f"{name}.url[{i}]"
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                raise ParamError(key, f"expected an http(s) URL, got {url!r}")
        for key in ("selector", "next"):
            css = values.get(key, "")
            if css:
                try:
                    soupsieve.compile(css)
                except soupsieve.SelectorSyntaxError as e:
                    raise ParamError(f"{name}.{key}", f"bad CSS selector {css!r}: {str(e).splitlines()[0]}") from None
        return cls(**values)


def collect(source: Source, store: RawStore, http: HttpSettings) -> None:
    """Crawl the gallery pages and download the images they show into ``store``."""
    fetcher = Fetcher.from_settings(http)
    try:
        download(crawl(source, store, fetcher), store, fetcher, source="html",
                 desc=f"html {urlsplit(source.url[0]).hostname}")
    finally:
        fetcher.close()


def crawl(source: Source, store: RawStore, fetcher: Fetcher) -> Iterator[Candidate]:
    """Breadth-first over gallery pages; yields each new image URL once, up to ``max_images``."""
    sites = {urlsplit(u).hostname for u in source.url}
    queue = deque(urldefrag(u).url for u in source.url)
    seen_pages, seen_images = set(queue), set()
    pages = 0
    while queue and pages < source.max_pages:
        url = queue.popleft()
        pages += 1
        page = _page(url, source, store, fetcher)
        if page is None:
            continue
        for image in page["images"]:
            if image in seen_images:
                continue
            if len(seen_images) >= source.max_images:
                return
            seen_images.add(image)
            yield Candidate(image, page_url=url)
        for link in page["next"]:
            if link not in seen_pages and urlsplit(link).hostname in sites:
                seen_pages.add(link)
                queue.append(link)


def _page(url: str, source: Source, store: RawStore, fetcher: Fetcher) -> dict | None:
    """A page's images and next links, from the journal when a resumed run already read it."""
    key = f"html-page:{url}"
    if key in store.notes:
        return store.notes[key]
    if store.done(url):
        return None
    try:
        r = fetcher.get(url)
        kind = r.headers.get("Content-Type", "").lower()
        if kind and "html" not in kind:
            raise Rejected("not-html", kind)
    except Rejected as e:
        store.reject(origin=url, source="html", reason=e.reason, detail=e.detail)
        return None
    images, links, opted_out = parse_page(r.content, r.url, source.selector, source.next)
    if opted_out:  # the page's own <meta name="robots" content="noimageai">
        store.reject(origin=url, source="html", reason="opt-out", detail="meta robots")
        images = []
    page = {"images": images, "next": links}
    store.note(key, page)
    return page


def parse_page(html: bytes | str, url: str, selector: str = "", next_selector: str = ""
               ) -> tuple[list[str], list[str], bool]:
    """Return (image URLs, pagination URLs, opted out) found in one HTML page.

    Per image the largest available file is taken: an ``<a href>`` to an image
    file beats the thumbnail inside it; ``srcset``'s widest candidate beats lazy
    attributes, which beat ``src``. URLs are absolute, http(s), without fragment.
    """
    soup = BeautifulSoup(html, "html.parser")
    base = soup.find("base", href=True)
    base = urljoin(url, base["href"].strip()) if base else url
    absolute = lambda ref: _absolute(base, ref)

    images: list[str] = []
    covered: set[int] = set()  # <img>s already represented by a bigger file
    for area in (soup.select(selector) if selector else [soup]):
        for a in area.find_all("a", href=True):
            link = absolute(a["href"])
            if link and urlsplit(link).path.lower().endswith(IMAGE_EXT):
                images.append(link)
                covered.update(id(img) for img in a.find_all("img"))
        for picture in area.find_all("picture"):
            inner = picture.find_all("img")
            if any(id(img) in covered for img in inner):
                continue
            best = (_largest([c for el in picture.find_all(["source", "img"]) for c in _srcsets(el)])
                    or next(filter(None, map(_img_url, inner)), None))
            images.append(absolute(best))
            covered.update(id(img) for img in inner)
        for img in area.find_all("img"):
            if id(img) not in covered:
                images.append(absolute(_img_url(img)))
    links = [el.get("href") for el in soup.find_all(["a", "link"], href=True)
             if "next" in [r.lower() for r in el.get("rel") or []]]
    if next_selector:
        links += [el.get("href") for el in soup.select(next_selector) if el.get("href")]
    robots = " ".join(m.get("content", "") for m in soup.find_all("meta", attrs={"name": re.compile("^robots$", re.I)}))
    opted_out = bool(OPT_OUT & {d.strip().lower() for d in robots.split(",")})
    return _unique(images), _unique(map(absolute, links)), opted_out


def _img_url(img) -> str | None:
    return (_largest(_srcsets(img)) or next((img[a] for a in LAZY_ATTRS if img.get(a, "").strip()), None)
            or img.get("src"))


def _srcsets(el) -> list[tuple[str, float]]:
    return [c for attr in SRCSET_ATTRS if el.get(attr) for c in parse_srcset(el[attr])]


def _largest(candidates: list[tuple[str, float]]) -> str | None:
    return max(candidates, key=lambda c: c[1])[0] if candidates else None


def parse_srcset(value: str) -> list[tuple[str, float]]:
    """``srcset`` as [(url, size)], size the ``w`` width or ``x`` density (1 when absent).

    Follows the HTML spec's splitting: a URL is a run of non-space characters and
    may itself contain commas (``w_200,h_100`` CDN URLs); trailing commas end it.
    """
    out, i, n = [], 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        j = i
        while j < n and not value[j].isspace():
            j += 1
        url, descriptor, i = value[i:j], "", j
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            end = value.find(",", i)
            end = n if end < 0 else end
            descriptor, i = value[i:end], end + 1
        if url:
            match = re.search(r"(\d+(?:\.\d+)?)\s*([wx])", descriptor)
            out.append((url, float(match.group(1)) if match else 1.0))
    return out


def _absolute(base: str, ref: str | None) -> str | None:
    """``ref`` resolved against ``base``; None unless it is http(s) (data:, javascript: ...)."""
    if not ref or not ref.strip():
        return None
    url = urldefrag(urljoin(base, ref.strip())).url
    return url if urlsplit(url).scheme in ("http", "https") else None


def _unique(urls) -> list[str]:
    return list(dict.fromkeys(u for u in urls if u))
