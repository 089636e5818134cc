"""The polite fetcher against real local servers: safety, robots, opt-outs, limits, retries."""
from __future__ import annotations

import threading
import time

import pytest
from werkzeug import Response

from pipeline.images.store import Rejected
from pipeline.params import ParamError
from pipeline.sources import ScrapeConfig
from pipeline.sources.http import Fetcher, HttpSettings
from web_fixtures import CONTACT, image, other_site, settings, site, _host_a, _host_b  # noqa: F401


def fetcher(**http) -> Fetcher:
    return Fetcher.from_settings(settings(**http))


def reason(f: Fetcher, url: str) -> str:
    with pytest.raises(Rejected) as e:
        f.get(url)
    return e.value.reason


def test_user_agent_names_project_and_contact(site):
    site.expect_request("/a.png").respond_with_data(image(1))
    assert fetcher().get(site.url_for("/a.png")).content == image(1)
    agents = {req.headers["User-Agent"] for req, _ in site.log}
    assert len(agents) == 1 and agents.pop().startswith("wallgan/") and CONTACT in site.log[0][0].headers["User-Agent"]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.png", "file:///etc/passwd", "data:image/png;base64,AA"])
def test_only_http_and_https(url):
    assert reason(fetcher(), url) == "not-http"


def test_redirect_followed_but_not_to_other_schemes(site):
    site.expect_request("/old.png").respond_with_response(Response(status=301, headers={"Location": "/new.png"}))
    site.expect_request("/new.png").respond_with_data(image(2))
    site.expect_request("/sneaky.png").respond_with_response(
        Response(status=302, headers={"Location": "file:///etc/passwd"}))
    f = fetcher()
    r = f.get(site.url_for("/old.png"))
    assert r.content == image(2) and r.url.endswith("/new.png")
    assert reason(f, site.url_for("/sneaky.png")) == "not-http"


def test_robots_txt_disallow_is_never_requested(site):
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    site.expect_request("/private/a.png").respond_with_data(image(3))
    site.expect_request("/public/a.png").respond_with_data(image(3))
    f = fetcher()
    assert reason(f, site.url_for("/private/a.png")) == "robots"
    assert f.get(site.url_for("/public/a.png")).content == image(3)
    paths = [req.path for req, _ in site.log]
    assert "/private/a.png" not in paths and paths.count("/robots.txt") == 1


def test_robots_can_be_turned_off(site):
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /\n")
    site.expect_request("/a.png").respond_with_data(image(4))
    assert reason(fetcher(), site.url_for("/a.png")) == "robots"
    assert fetcher(robots=False).get(site.url_for("/a.png")).content == image(4)


def test_robots_addressed_to_our_agent(site):
    site.expect_oneshot_request("/robots.txt").respond_with_data(
        "User-agent: wallgan\nDisallow: /\n\nUser-agent: *\nDisallow:\n")
    site.expect_request("/a.png").respond_with_data(image(5))
    assert reason(fetcher(), site.url_for("/a.png")) == "robots"


def test_unreachable_robots_means_no_access(site):
    site.expect_oneshot_request("/robots.txt").respond_with_data("down", status=500)
    site.expect_request("/a.png").respond_with_data(image(5))
    assert reason(fetcher(retries=0), site.url_for("/a.png")) == "robots"


@pytest.mark.parametrize("tag, blocked", [("noai", True), ("noindex, NoImageAI", True),
                                          ("wallgan: noai", True), ("otherbot: noai", False),
                                          ("noindex", False)])
def test_x_robots_tag_opt_out(site, tag, blocked):
    site.expect_request("/a.png").respond_with_data(image(6), headers={"X-Robots-Tag": tag})
    f = fetcher()
    if blocked:
        assert reason(f, site.url_for("/a.png")) == "opt-out"
    else:
        assert f.get(site.url_for("/a.png")).content == image(6)


def test_http_errors_become_reasons(site):
    site.expect_request("/gone.png").respond_with_data("no", status=404)
    assert reason(fetcher(), site.url_for("/gone.png")) == "http-404"


def test_too_large_from_content_length_without_reading_body(site):
    site.expect_request("/big.png").respond_with_data(b"x" * 300_000)
    assert reason(fetcher(max_bytes=100_000), site.url_for("/big.png")) == "too-large"


def test_too_large_while_streaming_an_endless_body(site):
    sent = []

    def endless(_request):
        def chunks():
            while True:  # no Content-Length and no end: only a streaming cap stops this
                sent.append(1)
                yield b"x" * 65536
        return Response(chunks(), content_type="image/png")

    site.expect_request("/endless.png").respond_with_handler(endless)
    start = time.monotonic()
    assert reason(fetcher(max_bytes=100_000), site.url_for("/endless.png")) == "too-large"
    assert time.monotonic() - start < 3


def test_503_with_retry_after_is_retried_after_the_wait(site):
    times = []
    site.expect_oneshot_request("/busy.png").respond_with_handler(
        lambda r: times.append(time.monotonic()) or Response("busy", status=503, headers={"Retry-After": "1"}))
    site.expect_request("/busy.png").respond_with_handler(
        lambda r: times.append(time.monotonic()) or Response(image(7), content_type="image/png"))
    assert fetcher().get(site.url_for("/busy.png")).content == image(7)
    assert len(times) == 2 and times[1] - times[0] >= 0.9


def test_retries_are_bounded(site):
    site.expect_request("/down.png").respond_with_data("down", status=503)
    assert reason(fetcher(retries=2), site.url_for("/down.png")) == "http-503"
    assert [req.path for req, _ in site.log].count("/down.png") == 3


def test_retry_after_longer_than_max_wait_gives_up_at_once(site):
    site.expect_request("/later.png").respond_with_data("later", status=429, headers={"Retry-After": "3600"})
    start = time.monotonic()
    assert reason(fetcher(max_wait=10), site.url_for("/later.png")) == "http-429"
    assert time.monotonic() - start < 2


def _tracking(server, path, body, pause):
    """Serve ``path`` slowly and record the peak number of requests in progress."""
    state = {"now": 0, "peak": 0, "starts": []}
    lock = threading.Lock()

    def handler(_request):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            state["starts"].append(time.monotonic())
        time.sleep(pause)
        with lock:
            state["now"] -= 1
        return Response(body, content_type="image/png")

    server.expect_request(path).respond_with_handler(handler)
    return state


def _in_parallel(f: Fetcher, urls: list[str]) -> None:
    threads = [threading.Thread(target=f.get, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_per_host_concurrency_limit(site, other_site):
    a = _tracking(site, "/a.png", image(8), 0.15)
    b = _tracking(other_site, "/b.png", image(9), 0.15)
    f = fetcher(workers=8, per_host=2)
    _in_parallel(f, [site.url_for("/a.png")] * 6 + [other_site.url_for("/b.png")] * 6)
    assert a["peak"] == 2 and b["peak"] == 2  # two per host, and both hosts at once


def test_per_host_delay_between_request_starts(site):
    a = _tracking(site, "/a.png", image(10), 0.0)
    f = fetcher(workers=4, per_host=4, delay=0.2)
    f.get(site.url_for("/robots.txt"))  # the robots fetch takes the first slot
    _in_parallel(f, [site.url_for("/a.png")] * 3)
    gaps = [b - a for a, b in zip(a["starts"], a["starts"][1:])]
    assert len(gaps) == 2 and min(gaps) >= 0.18


def test_crawl_delay_in_robots_slows_us_down(site):
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nCrawl-delay: 1\n")
    a = _tracking(site, "/a.png", image(11), 0.0)
    f = fetcher(delay=0.0)
    f.get(site.url_for("/a.png"))
    f.get(site.url_for("/a.png"))
    assert a["starts"][1] - a["starts"][0] >= 0.9


def test_web_sources_need_a_contact():
    scrape = {"sources": [{"kind": "urls", "path": __file__}], "min_side": 32, "http": {}}
    with pytest.raises(ParamError, match="scrape.http.contact"):
        ScrapeConfig.from_params(scrape)
    offline = ScrapeConfig.from_params({"sources": [{"kind": "synthetic"}]})
    assert offline.http == HttpSettings()   # no web source: no contact needed, defaults apply
    scrape = {"sources": [{"kind": "synthetic"}], "http": {"contact": "me@example.org", "per_host": 0}}
    with pytest.raises(ParamError, match="scrape.http.per_host"):
        ScrapeConfig.from_params(scrape)


def test_unknown_http_key_suggests_the_nearest():
    scrape = {"sources": [{"kind": "synthetic"}], "http": {"contact": "me@example.org", "dealy": 1}}
    with pytest.raises(ParamError, match=r"scrape.http.dealy: unknown key; did you mean `delay`\?"):
        ScrapeConfig.from_params(scrape)
