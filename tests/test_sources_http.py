"""The polite fetcher against real local servers: safety, robots, opt-outs, limits, retries."""
from __future__ import annotations

import importlib
import inspect
import socket
import threading
import time
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import urllib3
from urllib3.connection import HTTPConnection
from werkzeug import Response

from pipeline.sources.adapter import Hop
from pipeline.sources.store import Rejected
from pipeline.params import ParamError
from pipeline.sources import ScrapeConfig
from pipeline.sources.http import ROBOTS_MAX_BYTES, Fetcher, HttpSettings, retry_after
from web_fixtures import (CONTACT, connects, image, other_site, requested, settings, site, trickle,  # noqa: F401
                          _host_a, _host_b)


# float rounding in the fetcher's schedule, not a margin for load: the timing tests bound request
# starts from below on the server's clock (these servers run in this process), and load only delays them
EPS = 1e-3


def fetcher(**http) -> Fetcher:
    return Fetcher.from_settings(settings(**http))


def reason(f: Fetcher, url: str) -> str:
    with pytest.raises(Rejected) as e:
        f.get(url)
    return e.value.reason


def timed(f: Fetcher, url: str) -> tuple[str, float]:
    """The reason ``url`` is rejected for, and the seconds it took."""
    start = time.monotonic()
    return reason(f, url), time.monotonic() - start


def test_user_agent_names_project_and_contact(site):
    site.expect_request("/a.png").respond_with_data(image(1))
    assert fetcher().get(site.url_for("/a.png")).content == image(1)
    agents = {req.headers["User-Agent"] for req, _ in site.log}
    assert len(agents) == 1 and agents.pop().startswith("wallgan/") and CONTACT in site.log[0][0].headers["User-Agent"]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.png", "file:///etc/passwd", "data:image/png;base64,AA"])
def test_only_http_and_https(url):
    assert reason(fetcher(), url) == "not-http"


def test_five_redirects_are_followed_and_a_sixth_is_refused(site):
    """MAX_REDIRECTS (RFC 9309's five) hops are followed, one more is a redirect loop.
    (Mutation benchmark: kills http.py:196 ``range(MAX_REDIRECTS + 1)`` -> ``+ 0``.)"""
    for k in range(6):
        site.expect_request(f"/r{k}.png").respond_with_response(
            Response(status=302, headers={"Location": f"/r{k + 1}.png"}))
    site.expect_request("/r6.png").respond_with_data(image(3))
    f = fetcher(robots=False)
    assert f.get(site.url_for("/r1.png")).content == image(3)
    assert reason(f, site.url_for("/r0.png")) == "redirect-loop"


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


def test_robots_txt_is_checked_again_after_a_redirect(site):
    """A redirect into a disallowed path is refused, not followed.

    Fails when Fetcher._follow checks robots.txt for the first hop only (shown by hand)."""
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    site.expect_request("/a.png").respond_with_response(Response(status=302, headers={"Location": "/private/b.png"}))
    site.expect_request("/private/b.png").respond_with_data(image(3))
    assert reason(fetcher(), site.url_for("/a.png")) == "robots"
    assert requested(site) == ["/robots.txt", "/a.png"]


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


@pytest.mark.parametrize("status", [429, 500, 503])
def test_unreachable_robots_means_no_access_for_now(site, status):
    site.expect_oneshot_request("/robots.txt").respond_with_data("down", status=status)
    site.expect_request("/a.png").respond_with_data(image(5))
    f = fetcher(retries=0)
    assert reason(f, site.url_for("/a.png")) == "robots-unavailable"  # retryable: a later run asks again
    assert reason(f, site.url_for("/a.png")) == "robots-unavailable"
    assert requested(site) == ["/robots.txt"]  # remembered, not asked again for every URL


def test_robots_timing_out_means_no_access_for_now(site):
    release = threading.Event()

    def late(_request):  # answers (allowing all) only when released, or after 10 s
        release.wait(10)
        return Response("User-agent: *\nDisallow:\n")

    site.expect_oneshot_request("/robots.txt").respond_with_handler(late)
    site.expect_request("/a.png").respond_with_data(image(5))
    why, took = timed(fetcher(retries=0, timeout=1), site.url_for("/a.png"))
    release.set()
    _logged(site, 1)  # the held answer is logged in this test, not in whichever runs next
    # the 1 s timeout, not the 10 s answer: a wide margin either way
    assert why == "robots-unavailable" and took < 5 and "/a.png" not in requested(site)


@pytest.mark.parametrize("status", [401, 403])
def test_robots_4xx_allows_everything(site, status):  # RFC 9309 2.3.1.3: "unavailable", 401/403 too
    site.expect_oneshot_request("/robots.txt").respond_with_data("no", status=status)
    site.expect_request("/a.png").respond_with_data(image(5))
    assert fetcher().get(site.url_for("/a.png")).content == image(5)


def test_robots_400_allows_everything_whatever_its_body_says(site):
    """RFC 9309 2.3.1.3: every 4xx, 400 included, means "unavailable": allow all, the body is not rules.
    (Mutation benchmark: kills http.py:313 ``status_code >= 400`` -> ``>= 401``.)"""
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /\n", status=400)
    site.expect_request("/a.png").respond_with_data(image(5))
    assert fetcher().get(site.url_for("/a.png")).content == image(5)


def test_robots_redirects_are_followed(site):
    site.expect_oneshot_request("/robots.txt").respond_with_response(
        Response(status=301, headers={"Location": "/moved/robots.txt"}))
    site.expect_request("/moved/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    site.expect_request("/public/a.png").respond_with_data(image(5))
    f = fetcher()
    assert reason(f, site.url_for("/private/a.png")) == "robots"
    assert f.get(site.url_for("/public/a.png")).content == image(5)


def test_robots_read_up_to_500_kib(site):
    head = "User-agent: *\nDisallow: /private/\n"
    padding = "# padding line\n" * (664 * 1024 // 15)
    site.expect_oneshot_request("/robots.txt").respond_with_data(head + padding + "Disallow: /late/\n")
    site.expect_request("/public/a.png").respond_with_data(image(5))
    site.expect_request("/late/a.png").respond_with_data(image(6))
    f = fetcher()
    assert len(head + padding) > ROBOTS_MAX_BYTES == 500 * 1024
    assert reason(f, site.url_for("/private/a.png")) == "robots"
    assert f.get(site.url_for("/public/a.png")).content == image(5)
    assert f.get(site.url_for("/late/a.png")).content == image(6)  # past the limit: not read


@pytest.mark.parametrize("rules", ["Disallow: //[x", pytest.param("Crawl-delay: " + "9" * 5000, id="5000-digits")])
def test_unreadable_robots_txt_is_a_rejection_not_a_crash(site, rules):
    site.expect_oneshot_request("/robots.txt").respond_with_data(f"User-agent: *\n{rules}\n")
    assert reason(fetcher(), site.url_for("/a.png")) == "robots-unavailable"


def test_huge_crawl_delay_is_capped_not_overflowed(site):
    huge = "9" * 4000  # an int Python reads, too big for a float
    site.expect_oneshot_request("/robots.txt").respond_with_data(f"User-agent: *\nCrawl-delay: {huge}\n")
    site.expect_request("/a.png").respond_with_data(image(5))
    assert fetcher(max_wait=1).get(site.url_for("/a.png")).content == image(5)


@pytest.mark.parametrize("tag, blocked", [("noai", True), ("noindex, NoImageAI", True),
                                          ("wallgan: noai", True), ("otherbot: noai", False),
                                          ("noindex", False),
                                          ("noai, unavailable_after: 25 Jun 2010 15:00:00 PST", True),
                                          ("otherbot: noindex, wallgan: noimageai", True),
                                          ("max-image-preview:large, noai", True),
                                          ("unavailable_after: 25 Jun 2010 15:00:00 PST", False)])
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


def test_a_body_of_exactly_max_bytes_is_kept(site):
    """The cap refuses bodies over ``max_bytes``, not one that fills it.
    (Mutation benchmark: kills http.py:255 ``len(body) > max_bytes`` -> ``>=``.)"""
    site.expect_request("/full.png").respond_with_data(b"x" * 100_000)
    assert len(fetcher(max_bytes=100_000).get(site.url_for("/full.png")).content) == 100_000


def test_too_large_while_streaming_an_endless_body(site):
    sent = []

    def endless(_request):
        def chunks():
            while True:  # no Content-Length and no end: only a streaming cap stops this
                sent.append(1)
                yield b"x" * 65536
        return Response(chunks(), content_type="image/png")

    site.expect_request("/endless.png").respond_with_handler(endless)
    why, took = timed(fetcher(max_bytes=100_000), site.url_for("/endless.png"))
    assert why == "too-large" and took < 10  # read to the end, it would run to the 120 s deadline


def test_503_with_retry_after_is_retried_after_the_wait(site):
    times = []
    site.expect_oneshot_request("/busy.png").respond_with_handler(
        lambda r: times.append(time.monotonic()) or Response("busy", status=503, headers={"Retry-After": "1"}))
    site.expect_request("/busy.png").respond_with_handler(
        lambda r: times.append(time.monotonic()) or Response(image(7), content_type="image/png"))
    assert fetcher().get(site.url_for("/busy.png")).content == image(7)
    assert len(times) == 2 and times[1] - times[0] >= 0.9


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_every_try_later_status_is_retried(site, status):
    """429 and the 5xx answers that mean "try later" are retried like 503.
    (Mutation benchmark: kills http.py:42 ``RETRY_STATUS`` entries 429, 502, 504 -> other codes.)"""
    site.expect_oneshot_request("/busy.png").respond_with_data("busy", status=status)
    site.expect_request("/busy.png").respond_with_data(image(7))
    assert fetcher().get(site.url_for("/busy.png")).content == image(7)


def test_retries_are_bounded(site):
    site.expect_request("/down.png").respond_with_data("down", status=503)
    assert reason(fetcher(retries=2), site.url_for("/down.png")) == "http-503"
    assert [req.path for req, _ in site.log].count("/down.png") == 3


@pytest.mark.parametrize("limit", [{"max_wait": 10}, {"max_wait": 300, "deadline": 5}], ids=["max_wait", "deadline"])
def test_retry_after_past_max_wait_or_deadline_gives_up_at_once(site, limit):
    """Each limit alone gives up on a 60 s Retry-After: at once, without asking again.

    Fails when _Retry.increment leaves either limit out of its check (it then waits the 60 s)."""
    site.expect_request("/later.png").respond_with_data("later", status=429, headers={"Retry-After": "60"})
    why, took = timed(fetcher(**limit), site.url_for("/later.png"))
    assert why == "http-429" and requested(site).count("/later.png") == 1 and took < 5


@pytest.mark.parametrize("value, seconds", [("120", 120), (" 7 ", 7), ("Wed, 21 Oct 2015 07:28:00 GMT", 0),
                                            ("soon", None), ("-3", None), (None, None),
                                            pytest.param("9" * 5000, None, id="5000-digits")])
def test_retry_after_reads_seconds_and_http_dates(value, seconds):
    assert retry_after(value) == seconds
    assert 3590 < retry_after(formatdate(time.time() + 3600, usegmt=True)) <= 3600


def test_retry_after_as_http_date_is_waited_for_and_capped(site):
    """Asked again no earlier than the date given; a date past max_wait is given up on at once.

    Fails when Retry-After is ignored (asked again at once) or max_wait is not applied (waits 60 s)."""
    due, again = [], []

    def busy(_request):  # the date is written when answering, so a slow run cannot have passed it already
        due.append(int(time.time()) + 2)  # HTTP dates have one-second resolution: 1 to 2 s ahead
        return Response("busy", status=503, headers={"Retry-After": formatdate(due[0], usegmt=True)})

    site.expect_oneshot_request("/busy.png").respond_with_handler(busy)
    site.expect_request("/busy.png").respond_with_handler(
        lambda r: again.append(time.time()) or Response(image(7), content_type="image/png"))
    later = formatdate(time.time() + 60, usegmt=True)  # past max_wait but within the deadline
    site.expect_request("/later.png").respond_with_data("later", status=503, headers={"Retry-After": later})
    f = fetcher(max_wait=10)
    assert f.get(site.url_for("/busy.png")).content == image(7)
    assert again[0] >= due[0] - 0.01  # on the server's clock: load can only make it later
    why, took = timed(f, site.url_for("/later.png"))
    assert why == "http-503" and requested(site).count("/later.png") == 1 and took < 5


def test_unreadable_retry_after_falls_back_to_backoff(site):
    site.expect_oneshot_request("/busy.png").respond_with_data("busy", status=503, headers={"Retry-After": "soon"})
    site.expect_request("/busy.png").respond_with_data(image(7))
    assert fetcher().get(site.url_for("/busy.png")).content == image(7)


def test_crawl_delay_is_capped_by_max_wait(site):
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nCrawl-delay: 100000\n")
    a = _tracking(site, "/a.png", image(11))
    f = fetcher(delay=0.0, max_wait=1)
    both = threading.Thread(target=lambda: [f.get(site.url_for("/a.png")) for _ in range(2)], daemon=True)
    start = time.monotonic()
    both.start()
    both.join(timeout=10)
    assert not both.is_alive(), "the 100000 s Crawl-delay was obeyed"
    # waited the capped 1 s (see test_per_host_delay_between_request_starts), and not much more
    assert a.starts[1] - start >= 1 - EPS and a.starts[1] - a.starts[0] < 3


@pytest.mark.parametrize("url", ["http://[::1/x", "http://127.0.0.1:99999/a.png",
                                 pytest.param("http://" + "a" * 300 + "/a.png", id="300-char-label")])
def test_bad_urls_are_rejected_not_raised(url):
    assert reason(fetcher(), url) == "bad-url"


def test_url_robotparser_cannot_read_is_rejected_not_raised(site):
    site.expect_request("/a.png").respond_with_data(image(1))
    url = site.url_for("/a.png").replace("://", "://x%5B@")  # robotparser unquotes it to an unbalanced "["
    assert reason(fetcher(), url) == "bad-url"


def test_bad_location_is_rejected_not_raised():
    answer = b"HTTP/1.1 302 Found\r\nLocation: http://[::1/x\r\nContent-Length: 0\r\n\r\n"
    with trickle(answer, step=len(answer), pause=0) as base:  # werkzeug refuses to send such a Location
        assert reason(fetcher(robots=False), base + "/a.png") == "bad-url"


def test_redirect_body_is_not_read(site):
    sent = []

    def endless(_request):
        def chunks():
            while len(sent) < 3000:  # 200 MB at most, so a fetcher that reads it all still ends
                sent.append(1)
                yield b"x" * 65536
        return Response(chunks(), status=302, headers={"Location": "/b.png"})

    site.expect_request("/a.png").respond_with_handler(endless)
    site.expect_request("/b.png").respond_with_data(image(1))
    assert fetcher().get(site.url_for("/a.png")).content == image(1)
    assert len(sent) < 100


@pytest.mark.parametrize("host", ["site", "10.0.0.1", "169.254.169.254", "[::1]"])
def test_private_addresses_are_refused_by_default(site, connects, host):
    url = site.url_for("/a.png") if host == "site" else f"http://{host}:{site.port}/a.png"
    site.expect_request("/a.png").respond_with_data(image(1))
    for robots in (True, False):
        assert reason(fetcher(allow_private=False, robots=robots), url) == "private-address"
    assert connects == [] and requested(site) == []  # not even robots.txt: refused before connecting


@pytest.mark.parametrize("answers", [["93.184.215.14", "10.0.0.1"], ["10.0.0.1", "93.184.215.14"]],
                         ids=["public-first", "private-first"])
def test_name_with_one_private_answer_is_refused_before_connecting(monkeypatch, connects, answers):
    """A name that resolves to a public and a private address is refused, and neither is connected to.

    Fails when adapter._Guarded._public_conn refuses a name only when all its answers are private
    (shown by hand): it then connects (refused here by ``connects``) and ends as network-error."""
    asked, numeric = [], socket.getaddrinfo

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        if host != "mixed.test":  # addresses as written only (urllib3 reads the one it is given): no lookup
            return numeric(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port)) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    for robots in (True, False):
        assert reason(fetcher(allow_private=False, robots=robots), "http://mixed.test/a.png") == "private-address"
    assert asked and connects == []


def test_every_address_of_a_name_is_tried_before_a_network_error(monkeypatch, connects):
    """A name's public answers are tried once each, in order; when the last fails too, the URL is a
    network-error. (Mutation benchmark: kills adapter.py:135 ``len(addresses) - 1`` -> ``+ 1``, which
    swallows the last failure.)"""
    answers, numeric = ["93.184.215.14", "93.184.215.15"], socket.getaddrinfo

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        if host != "two.test":
            return numeric(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port)) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert reason(fetcher(allow_private=False, robots=False, retries=0), "http://two.test/a.png") == "network-error"
    assert connects == answers


def test_private_addresses_open_with_allow_private(site):
    site.expect_request("/a.png").respond_with_data(image(1))
    assert fetcher(allow_private=True).get(site.url_for("/a.png")).content == image(1)


def _trickling(_request):
    def chunks():
        for _ in range(20):
            time.sleep(0.6)
            yield b"x" * 8
    return Response(chunks(), headers={"Content-Length": "160"}, content_type="image/png")


def test_trickled_body_is_cut_at_the_deadline_and_frees_the_host(site):
    site.expect_request("/slow.png").respond_with_handler(_trickling)
    site.expect_request("/a.png").respond_with_data(image(1))
    f = fetcher(timeout=2, deadline=2, per_host=1)
    f.get(site.url_for("/robots.txt"))  # robots.txt first, so only the trickle is timed
    cut, took = timed(f, site.url_for("/slow.png"))
    assert cut == "too-slow" and 1.9 < took < 5  # the whole trickle takes 12 s
    start = time.monotonic()
    assert f.get(site.url_for("/a.png")).content == image(1) and time.monotonic() - start < 3


def test_trickled_headers_are_cut_at_the_deadline():
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n" + b"X-Pad: 0123456789\r\n" * 10 + b"\r\n"
    with trickle(answer) as base:
        cut, took = timed(fetcher(timeout=2, deadline=2, robots=False), base + "/a.png")
    assert cut == "too-slow" and 1.9 < took < 5  # the whole trickle takes 18 s


class _Tracker:
    """Requests in progress on one path or more: when each came, on the clock the fetcher spaces
    requests by (time.monotonic(): the servers run in this process), and the most at once."""

    def __init__(self):
        self.starts: list[float] = []
        self.now = self.peak = 0
        self.gave_up = False
        self.changed = threading.Condition()

    def enter(self) -> None:
        with self.changed:
            self.starts.append(time.monotonic())
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.changed.notify_all()

    def leave(self) -> None:
        with self.changed:
            self.now -= 1

    def meet(self, n: int, seconds: float = 10.0) -> None:
        """Wait until ``n`` requests have been in progress at once; after ``seconds``, nobody waits any more."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.peak >= n or self.gave_up, seconds):
                self.gave_up = True
                self.changed.notify_all()


def _tracking(server, path, body, pause=0.0, meet: tuple[_Tracker, int] | None = None) -> _Tracker:
    """Serve ``path``, tracked; each answer waits until ``meet`` = (tracker, n) has seen n requests
    at once, then ``pause`` seconds more (``meet``'s tracker counts these requests too)."""
    tracker = _Tracker()
    trackers = [tracker] + ([meet[0]] if meet else [])

    def handler(_request):
        for t in trackers:
            t.enter()
        try:
            if meet:
                meet[0].meet(meet[1])
            time.sleep(pause)
        finally:
            for t in trackers:
                t.leave()
        return Response(body, content_type="image/png")

    server.expect_request(path).respond_with_handler(handler)
    return tracker


def _logged(server, n: int, seconds: float = 10.0) -> None:
    """Wait until ``server`` has logged ``n`` requests (it logs each once its handler returns)."""
    end = time.monotonic() + seconds
    while len(server.log) < n and time.monotonic() < end:
        time.sleep(0.01)


def _in_parallel(f: Fetcher, urls: list[str]) -> None:
    threads = [threading.Thread(target=f.get, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_per_host_concurrency_limit(site, other_site):
    """Two requests at once per host, and both hosts at the same time.

    Answers are held until four requests are in progress across the two hosts, so the peak is reached
    however slowly a loaded machine starts the threads, then 0.2 s more: time for a third to one host
    to come, were it let through. Fails with no per-host limit (a host gets 3 to 6) or one shared by all hosts."""
    both = _Tracker()
    a = _tracking(site, "/a.png", image(8), 0.2, meet=(both, 4))
    b = _tracking(other_site, "/b.png", image(9), 0.2, meet=(both, 4))
    f = fetcher(workers=8, per_host=2, timeout=30)  # longer than meet() waits: a held answer is never retried
    _in_parallel(f, [site.url_for("/a.png")] * 6 + [other_site.url_for("/b.png")] * 6)
    assert (a.peak, b.peak, both.peak, both.gave_up) == (2, 2, 4, False)


def test_per_host_delay_between_request_starts(site):
    """The k-th request to a host comes no earlier than k delays after the three were asked for.

    Each turn starts ``delay`` after the one before, the first no earlier than ``start``. Fails with
    no per-host delay (all three come at once) or with two requests sharing a turn."""
    a = _tracking(site, "/a.png", image(10))
    f = fetcher(workers=4, per_host=4, delay=0.2)
    f.get(site.url_for("/robots.txt"))  # the robots fetch takes the first turn
    start = time.monotonic()
    _in_parallel(f, [site.url_for("/a.png")] * 3)
    after = [round(t - start, 3) for t in sorted(a.starts)]
    assert len(after) == 3 and all(t >= k * 0.2 - EPS for k, t in enumerate(after)), after


def test_crawl_delay_in_robots_slows_us_down(site):
    site.expect_oneshot_request("/robots.txt").respond_with_data("User-agent: *\nCrawl-delay: 1\n")
    a = _tracking(site, "/a.png", image(11))
    f = fetcher(delay=0.0)
    start = time.monotonic()
    f.get(site.url_for("/a.png"))
    f.get(site.url_for("/a.png"))
    assert a.starts[1] - start >= 1 - EPS  # the first turn came after ``start``, the second 1 s after it


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


# ------------------------------------------------------------ the private hooks pipeline/sources/adapter.py uses

# (owner, hook, the parameters urllib3/requests call it with); an upgrade that changes one fails here by name
HOOKS = [
    ("urllib3.connection.HTTPConnection", "_new_conn", ["self"]),
    ("urllib3.connectionpool.HTTPConnectionPool", "_get_conn", ["self", "timeout"]),
    ("urllib3.connectionpool.HTTPConnectionPool", "_put_conn", ["self", "conn"]),
    ("requests.sessions.Session", "get_redirect_target", ["self", "resp"]),
]


@pytest.mark.parametrize("owner, hook, params", HOOKS, ids=[f"{o.rsplit('.', 1)[1]}.{h}" for o, h, _ in HOOKS])
def test_installed_urllib3_and_requests_have_the_adapter_hooks(owner, hook, params):
    module, name = owner.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    versions = f"urllib3 {urllib3.__version__}, requests {requests.__version__}"
    assert callable(getattr(cls, hook, None)), (
        f"{owner}.{hook} is gone in {versions}: pipeline/sources/adapter.py overrides it to check addresses "
        f"and watch sockets; port the adapter before widening the versions in pyproject.toml")
    found = list(inspect.signature(getattr(cls, hook)).parameters)
    assert found == params, (
        f"{owner}.{hook} takes {found} in {versions}, the adapter expects {params}: "
        f"port pipeline/sources/adapter.py before widening the versions in pyproject.toml")


def test_installed_urllib3_connects_to_dns_host():
    # the address check sets _dns_host to the address it checked; were it ignored, the name would be looked up again
    with socket.create_server(("127.0.0.1", 0)) as server:
        conn = HTTPConnection("checked.invalid", server.getsockname()[1])
        assert conn._dns_host == "checked.invalid", f"urllib3 {urllib3.__version__} keeps no _dns_host"
        conn._dns_host = "127.0.0.1"
        conn._new_conn().close()  # NameResolutionError if urllib3 resolved the name instead


def test_installed_urllib3_calls_the_adapter_hooks(monkeypatch):
    """The watchdog sees a new socket at connect, a pooled one while in use, and lets go of it in the pool."""
    seen = []
    for name in ("hold", "release"):
        monkeypatch.setattr(Hop, name, _recording(getattr(Hop, name), name, seen))
    with _keep_alive_server() as base:
        f = fetcher(allow_private=True, robots=False)
        for _ in range(2):
            assert f.get(base + "/a.png").content == image(1)
    sock = seen[1][1] if len(seen) > 1 else "a socket"
    assert seen == [("hold", None), ("hold", sock), ("release", sock), ("hold", sock), ("release", sock)], (
        f"urllib3 {urllib3.__version__} no longer calls _get_conn, _new_conn and _put_conn of the pools in "
        f"pool_classes_by_scheme as pipeline/sources/adapter.py expects; hold/release calls seen: {seen}")


def _recording(method, name, seen):
    def record(hop, sock):
        seen.append((name, sock))
        return method(hop, sock)
    return record


@contextmanager
def _keep_alive_server():
    """A server on 127.0.0.1 that keeps connections open (werkzeug's closes them); yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(image(1))))
            self.end_headers()
            self.wfile.write(image(1))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
