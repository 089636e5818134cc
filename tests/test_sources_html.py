"""The html source: discovery rules on real markup, and a gallery full of traps served locally."""
from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from pipeline.sources.store import RawStore
from pipeline.params import ParamError
from pipeline.sources import html
from pipeline.sources.html import parse_page, parse_srcset
from web_fixtures import (image, other_site, read_csv, requested, run, settings, site,  # noqa: F401
                          _host_a, _host_b)


def test_srcset_largest_candidate_and_commas_inside_urls():
    assert parse_srcset("a.jpg 320w, https://cdn/w_200,h_100/b.jpg 1280w,c.jpg, d.jpg 2x") == [
        ("a.jpg", 320.0), ("https://cdn/w_200,h_100/b.jpg", 1280.0), ("c.jpg", 1.0), ("d.jpg", 2.0)]


def test_discovery_rules():
    page = """<HTML><HEAD><BASE HREF="/art/"></HEAD><BODY>
      <A HREF="full/one.JPG"><IMG SRC="thumbs/one.jpg"></A>
      <img src="placeholder.gif" data-src="lazy.jpg">
      <img src="p.gif" data-original="orig.png">
      <img srcset="s.jpg 300w, l.jpg 1200w, m.jpg 800w" src="s.jpg">
      <img data-srcset="ds-small.jpg 1x, ds-big.jpg 2x">
      <picture><source srcset="pic-1x.webp 1x, pic-2x.webp 2x" type="image/webp"><img src="pic.jpg"></picture>
      <img src="data:image/gif;base64,R0lGOD"><img src="javascript:void(0)">
      <a href="javascript:open('x.jpg')">x</a><a href="about.html">about</a>
      <a href="mailto:me@example.org">mail</a>
      <img src="/abs.png#frag"><img src="//cdn.example.net/cdn.png">
      <div class="broken"><p><img src="unclosed.png" <b>oops</div>
    """
    images, links, opted_out, bad = parse_page(page, "http://site.test/gallery/index.html")
    assert set(images) == {
        "http://site.test/art/full/one.JPG", "http://site.test/art/lazy.jpg", "http://site.test/art/orig.png",
        "http://site.test/art/l.jpg", "http://site.test/art/ds-big.jpg", "http://site.test/art/pic-2x.webp",
        "http://site.test/abs.png", "http://cdn.example.net/cdn.png", "http://site.test/art/unclosed.png"}
    assert links == [] and not opted_out and bad == []


def test_selector_narrows_and_pagination_links():
    page = """<nav><a rel="prev" href="p0">prev</a><a class="more" href="p9">more</a></nav>
      <link rel="next" href="/p2"><div id="art"><img src="in.png"></div><img src="out.png">
      <meta name="Robots" content="noindex, NoImageAI">"""
    images, links, opted_out, _ = parse_page(page, "http://s.test/p1", selector="#art", next_selector="a.more")
    assert images == ["http://s.test/in.png"]
    assert links == ["http://s.test/p2", "http://s.test/p9"]
    assert opted_out


def test_selector_may_select_the_images_themselves():
    page = '<img class="art" src="a.png"><img src="logo.png"><a class="art" href="b.jpg"><img src="b-t.jpg"></a>'
    images = parse_page(page, "http://s.test/", selector=".art")[0]
    assert images == ["http://s.test/b.jpg", "http://s.test/a.png"]


def test_nested_selected_areas_are_searched_once():
    """Every selected area used to be searched anew: 4000 nested <div>s under ``selector: div`` took 8 s.

    Compares the CPU time of 8x the nesting, which a machine's speed or load does not change much:
    linear, about 7x; searching each area anew, about 58x (both measured)."""
    def cpu_seconds(depth: int, tries: int) -> float:
        page = "<div>" * depth + '<a href="/full.jpg"><img src="/thumb.png"></a>' + "</div>" * depth
        best = float("inf")
        for _ in range(tries):
            start = time.process_time()
            images = parse_page(page + '<img src="/outside.png">', "http://s.test/", selector="div")[0]
            best = min(best, time.process_time() - start)
            assert images == ["http://s.test/full.jpg"]
        return best

    shallow, deep = cpu_seconds(500, 5), cpu_seconds(4000, 3)
    assert deep < 20 * shallow, f"{deep:.3f} s of CPU for 4000 levels, {shallow:.3f} s for 500"


def test_unparseable_urls_are_recorded_and_the_rest_of_the_page_kept(site, tmp_path):
    site.expect_request("/gallery/1").respond_with_data("""<html><head><base href="http://[::1/base/"></head><body>
        <img src="ok-a.png"><img src="http://[::1/x">
        <a href="http://[::1/y.jpg"><img src="/img/ok-b.png"></a>
        <img srcset="http://[::1/big.png 2x, /img/small.png 1x">
        <a rel="next" href="http://[::1/next">next</a><link rel="next" href="/gallery/2">""", content_type="text/html")
    site.expect_request("/gallery/2").respond_with_data('<img src="/img/ok-c.png">', content_type="text/html")
    for i, name in enumerate(["/gallery/ok-a.png", "/img/ok-b.png", "/img/ok-c.png", "/img/small.png"]):
        site.expect_request(name).respond_with_data(image(i))
    spec = {"kind": "html", "url": site.url_for("/gallery/1")}
    bad = {"http://[::1/base/", "http://[::1/x", "http://[::1/y.jpg", "http://[::1/big.png", "http://[::1/next"}

    # a run killed after the crawl (the store not closed), then resumed: the resume reads the
    # journaled page, so the bad URLs must come from the journal, and nothing crashes again
    source = html.Source.from_params(spec, "scrape.sources[0]")
    html.collect(source, RawStore(tmp_path / "raw", min_side=32), settings())
    store = RawStore(tmp_path / "raw", min_side=32)
    html.collect(source, store, settings())
    store.close()

    manifest, rejected = read_csv(tmp_path / "raw" / "manifest.csv"), read_csv(tmp_path / "raw" / "rejected.csv")
    assert sorted(r["origin"].split("/", 3)[-1] for r in manifest) == [
        "gallery/ok-a.png", "img/ok-b.png", "img/ok-c.png"]  # a bad <base> is ignored, as browsers do
    assert {r["origin"]: r["reason"] for r in rejected} == dict.fromkeys(bad, "bad-url")
    assert all(site.url_for("/gallery/1") in r["detail"] for r in rejected)
    assert requested(site).count("/gallery/1") == 1 and "/img/small.png" not in requested(site)


def test_page_over_max_page_bytes_is_too_large(site, tmp_path):
    big = '<img src="/img/a.png">\n' * 55_000  # 1.2 MB
    site.expect_request("/big").respond_with_data(big, content_type="text/html")
    site.expect_request("/small").respond_with_data('<img src="/img/b.png">', content_type="text/html")
    site.expect_request("/img/b.png").respond_with_data(image(2, size=600))  # 1.1 MB: images have their own cap
    spec = {"kind": "html", "url": [site.url_for("/big"), site.url_for("/small")]}
    manifest, rejected = run(html, spec, tmp_path / "raw", max_page_bytes=1_000_000, max_bytes=2_000_000)
    assert [(r["origin"], r["reason"]) for r in rejected] == [(site.url_for("/big"), "too-large")]
    assert [r["origin"] for r in manifest] == [site.url_for("/img/b.png")]


def test_validate_names_bad_keys():
    with pytest.raises(ParamError, match=r"scrape.sources\[2\].url"):
        html.Source.from_params({"kind": "html", "url": "ftp://x/"}, "scrape.sources[2]")
    with pytest.raises(ParamError, match=r"scrape.sources\[2\].url\[1\]"):
        html.Source.from_params({"kind": "html", "url": ["http://x/", "http://[::1/x"]}, "scrape.sources[2]")
    with pytest.raises(ParamError, match=r"scrape.sources\[0\].selector"):
        html.Source.from_params({"kind": "html", "url": "http://x/", "selector": "div[["}, "scrape.sources[0]")
    with pytest.raises(ParamError, match=r"scrape.sources\[0\].max_pages"):
        html.Source.from_params({"kind": "html", "url": "http://x/", "max_pages": 0}, "scrape.sources[0]")


def _bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, format="PNG")  # 81 Mpx in a few kB
    return buf.getvalue()


def _truncated_jpeg() -> bytes:
    data = image(40, size=128, fmt="JPEG")
    return data[: len(data) // 2]


def test_gallery_with_traps(site, other_site, tmp_path):
    o = other_site.url_for
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    pages = {
        "/gallery/1": f"""<html><body><h1>Gallery</h1>
            <a href="/img/full-a.jpg"><img src="/img/thumb-a.jpg"></a>
            <img src="/img/ph.gif" data-src="/img/lazy-b.png">
            <img srcset="/img/c-small.png 200w, /img/c-large.png 900w">
            <img src="/private/d.png">
            <img src="/img/noai.png"><img src="/img/fake.jpg"><img src="/img/trunc.jpg">
            <img src="/img/bomb.png"><img src="/img/huge.png"><img src="/img/pixel.gif">
            <img src="/img/busy.png"><img src="/img/moved.png"><img src="/img/missing.png">
            <img src="data:image/png;base64,iVBORw0KGgo="><a href="javascript:alert(1)">js</a>
            <img src="{o('/cdn/e.png')}"><a href="{o('/gallery/elsewhere')}">elsewhere</a>
            <a rel="next" href="/gallery/2">next</a>""",
        "/gallery/2": f"""<HTML><BODY><IMG SRC="/img/f.png"><img src="/img/same-as-f.png">
            <picture><source srcset="/img/g-1x.png 1x, /img/g-2x.png 2x"><img src="/img/g.png"></picture>
            <a rel="next" href="/gallery/1">back to the start (a cycle)</a>
            <link rel="next" href="{o('/gallery/other-host')}">""",
    }
    for path, body in pages.items():
        site.expect_request(path).respond_with_data(body, content_type="text/html")
    served = {"/img/full-a.jpg": image(1), "/img/lazy-b.png": image(2), "/img/c-large.png": image(3),
              "/img/f.png": image(4), "/img/same-as-f.png": image(4), "/img/g-2x.png": image(5),
              "/img/moved-here.png": image(6), "/private/d.png": image(7), "/img/trunc.jpg": _truncated_jpeg(),
              "/img/fake.jpg": b"<html><body>Not an image</body></html>", "/img/bomb.png": _bomb(),
              "/img/huge.png": b"\x89PNG" + b"x" * 250_000, "/img/pixel.gif": image(8, size=1, fmt="GIF"),
              "/img/busy.png": image(9)}
    for path, body in served.items():
        site.expect_request(path).respond_with_data(body, content_type="image/png")
    site.expect_request("/img/noai.png").respond_with_data(image(10), headers={"X-Robots-Tag": "noai"})
    site.expect_request("/img/missing.png").respond_with_data("nope", status=404)
    site.expect_request("/img/moved.png").respond_with_data("", status=302, headers={"Location": "/img/moved-here.png"})
    site.expect_oneshot_request("/img/busy.png").respond_with_data("busy", status=503, headers={"Retry-After": "1"})
    other_site.expect_request("/cdn/e.png").respond_with_data(image(11), content_type="image/png")

    manifest, rejected = run(html, {"kind": "html", "url": site.url_for("/gallery/1")}, tmp_path / "raw")

    stored = {r["origin"].split("/", 3)[-1]: r for r in manifest}
    assert set(stored) == {"img/full-a.jpg", "img/lazy-b.png", "img/c-large.png", "img/f.png",
                           "img/g-2x.png", "img/moved.png", "img/busy.png", "cdn/e.png"}
    assert stored["img/f.png"]["other_origins"].endswith("/img/same-as-f.png")  # same bytes stored once
    assert stored["img/f.png"]["page_url"] == site.url_for("/gallery/2")
    assert all(r["fetched_at"] and r["width"] == "64" and r["file"] == f"images/{r['sha256']}.png"
               for r in manifest)
    reasons = {r["origin"].split("/", 3)[-1]: r["reason"] for r in rejected}
    assert reasons == {"private/d.png": "robots", "img/noai.png": "opt-out", "img/fake.jpg": "not-an-image",
                       "img/trunc.jpg": "decode-error", "img/bomb.png": "decompression-bomb",
                       "img/huge.png": "too-large", "img/pixel.gif": "too-small", "img/missing.png": "http-404"}
    paths = requested(site)
    assert paths.count("/gallery/1") == 1 and paths.count("/gallery/2") == 1  # the cycle is not followed again
    assert "/private/d.png" not in paths and "/img/thumb-a.jpg" not in paths and "/img/c-small.png" not in paths
    assert requested(other_site) == ["/robots.txt", "/cdn/e.png"]  # images may be elsewhere, pages not
    assert len(list((tmp_path / "raw" / "images").iterdir())) == 8


def test_max_pages_and_max_images(site, tmp_path):
    for i in range(1, 6):
        site.expect_request(f"/p{i}").respond_with_data(
            f'<img src="/a{i}.png"><img src="/b{i}.png"><a rel="next" href="/p{i + 1}">next</a>',
            content_type="text/html")
        site.expect_request(f"/a{i}.png").respond_with_data(image(100 + i))
        site.expect_request(f"/b{i}.png").respond_with_data(image(200 + i))
    spec = {"kind": "html", "url": site.url_for("/p1"), "max_pages": 2}
    manifest, _ = run(html, spec, tmp_path / "a")
    assert len(manifest) == 4 and "/p3" not in requested(site)
    spec = {"kind": "html", "url": site.url_for("/p1"), "max_images": 3}
    manifest, _ = run(html, spec, tmp_path / "b")
    assert len(manifest) == 3


def test_page_that_is_not_html_is_rejected(site, tmp_path):
    site.expect_request("/gallery.jpg").respond_with_data(image(1), content_type="image/png")
    site.expect_request("/gone").respond_with_data("no", status=404)
    manifest, rejected = run(html, {"kind": "html", "url": [site.url_for("/gallery.jpg"), site.url_for("/gone")]},
                             tmp_path / "raw")
    assert manifest == [] and [r["reason"] for r in rejected] == ["not-html", "http-404"]
