"""The polite HTTP fetcher every web source shares.

``Fetcher.get(url)`` returns the body of one URL or raises ``Rejected`` with the
reason that goes into rejected.csv; no URL and no server makes it raise anything else. On the way it

- refuses anything but http/https, and URLs that do not parse (``bad-url``), on every redirect hop too;
- refuses hosts that resolve to a non-public address (``private-address``) unless ``allow_private``:
  the check sits in the connection (``adapter.GuardedAdapter``), so it covers redirects and robots.txt,
  and the connection goes to the address that was checked (no second lookup to rebind);
- honours robots.txt as RFC 9309 says (up to 5 redirects, first 500 KiB, 4xx allows all,
  429/5xx/unreachable disallows for now as ``robots-unavailable``), Crawl-delay included, capped at ``max_wait``;
- keeps to ``per_host`` concurrent requests and ``delay`` seconds between request
  starts for each host;
- retries 429/5xx with exponential backoff and ``Retry-After`` (urllib3 ``Retry``),
  giving up when Retry-After asks for more than ``max_wait``;
- cuts a file off at ``deadline`` seconds (``too-slow``), however slowly the server trickles;
- honours ``X-Robots-Tag: noai / noimageai`` opt-outs the way img2dataset does;
- caps the body at ``max_bytes``, from Content-Length and while streaming.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
from urllib3.exceptions import InvalidHeader, LocationValueError, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from pipeline.sources.adapter import GuardedAdapter, GuardedSession, Hop, current_hop, set_hop
from pipeline.sources.store import Rejected
from pipeline.params import ParamError, build, knob

VERSION = "0.1"
OPT_OUT = {"noai", "noimageai"}
# X-Robots-Tag directives that carry a value after ':', so the word before it is no bot name
VALUED = {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
RETRY_STATUS = (429, 500, 502, 503, 504)
MAX_REDIRECTS = 5           # RFC 9309 asks robots.txt readers for at least five; files get the same
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309's minimum parsing limit; Google reads this much too
CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpSettings:
    """Politeness of the web sources: params.yaml's ``scrape.http``."""

    contact: str = knob("")                       # email or URL for the User-Agent; required by web sources
    workers: int = knob(16, minimum=1)            # downloads in parallel, across hosts
    per_host: int = knob(2, minimum=1)            # concurrent requests to one host
    delay: float = knob(0.5, minimum=0)           # seconds between request starts to one host
    max_bytes: int = knob(30_000_000, minimum=1024)  # bigger bodies are refused
    max_page_bytes: int = knob(2_000_000, minimum=1024)  # HTML pages and API answers: html.parser takes 2-3 s per MB
    robots: bool = knob(True)                     # honour robots.txt
    timeout: float = knob(30.0, minimum=0.1)      # seconds without an answer (per socket read)
    # seconds one file may take, all hops and retries but not waits for a turn: a trickle never trips `timeout`
    deadline: float = knob(120.0, minimum=0.1)
    retries: int = knob(3, minimum=0)             # on 429/5xx and network errors
    backoff: float = knob(1.0, minimum=0)         # exponential backoff factor, seconds
    max_wait: float = knob(300.0, minimum=0)      # longest Retry-After or Crawl-delay obeyed (Heritrix: 300 s)
    allow_private: bool = knob(False)             # reach private/loopback addresses: for your own network only

    @classmethod
    def from_params(cls, http: Mapping, needs_contact: bool) -> "HttpSettings":
        """From ``scrape.http``; ``needs_contact`` when a web source is configured."""
        settings = build(cls, http, "scrape.http")
        if needs_contact and not settings.contact.strip():
            raise ParamError("scrape.http.contact",
                             "set an email or URL so site owners can reach you (it goes into the User-Agent)")
        return settings


def user_agent(contact: str) -> str:
    """Wikimedia's format: client/version (contact) library/version."""
    return f"wallgan/{VERSION} (+{contact}) requests/{requests.__version__}"


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait, given as delta-seconds or an HTTP date;
    None when absent or unreadable. Never raises."""
    if value is None:
        return None
    try:
        return float(Retry(0).parse_retry_after(value))
    except (InvalidHeader, ValueError, OverflowError):
        return None


@dataclass
class Response:
    url: str            # the final URL, after redirects
    headers: dict
    content: bytes


class _Retry(Retry):
    """urllib3 Retry that gives up, instead of hanging, when Retry-After asks for more than
    ``max_wait`` or than the deadline leaves; an unreadable Retry-After falls back to backoff."""

    def __init__(self, *args, max_wait: float = 300.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait

    def new(self, **kwargs):  # urllib3 copies only its own arguments on every retry
        retry = super().new(**kwargs)
        retry.max_wait = self.max_wait
        return retry

    def get_retry_after(self, response):
        return retry_after(response.headers.get("Retry-After"))

    def increment(self, method=None, url=None, response=None, *args, **kwargs):
        wait = self.get_retry_after(response) if response is not None else None
        if wait is not None and wait > min(self.max_wait, current_hop().left()):
            # urllib3 catches it and, raise_on_status being off, hands back this response
            raise MaxRetryError(None, url, ResponseError(f"Retry-After {wait:.0f}s > max_wait or deadline"))
        return super().increment(method, url, response, *args, **kwargs)


class _Host:
    """Per-host slots and spacing; hand-written because requests/urllib3 only limit pool size."""

    def __init__(self, limit: int, delay: float):
        self.slots = threading.Semaphore(limit)
        self.lock = threading.Lock()
        self.delay = delay
        self.next_start = 0.0

    @contextmanager
    def turn(self):
        with self.slots:
            with self.lock:
                now = time.monotonic()
                start = max(now, self.next_start)
                self.next_start = start + self.delay
            if start > now:
                time.sleep(start - now)
            yield


class Fetcher:
    """A requests Session with the politeness rules above; safe to share between threads."""

    def __init__(self, contact: str, **settings: Any):
        """``settings``: other fields of ``HttpSettings``, whose defaults fill the rest."""
        s = HttpSettings(contact=contact, **settings)
        self.user_agent = user_agent(s.contact)
        self.workers, self.per_host, self.delay = s.workers, s.per_host, s.delay
        self.max_bytes, self.max_page_bytes = s.max_bytes, s.max_page_bytes
        self.robots, self.timeout, self.deadline = s.robots, s.timeout, s.deadline
        self.max_wait, self.allow_private = s.max_wait, s.allow_private
        retry = _Retry(
            max_wait=s.max_wait, total=s.retries, backoff_factor=s.backoff, status_forcelist=RETRY_STATUS,
            allowed_methods={"GET", "HEAD"}, respect_retry_after_header=True,
            raise_on_status=False, redirect=False)
        adapter = GuardedAdapter(max_retries=retry, pool_connections=s.workers, pool_maxsize=s.workers)
        self.session = GuardedSession()
        self.session.headers["User-Agent"] = self.user_agent
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._hosts: dict[str, _Host] = {}
        self._robots: dict[str, RobotFileParser | Rejected] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: HttpSettings, **overrides: Any) -> "Fetcher":
        """A fetcher with ``settings``; ``overrides`` win (e.g. per_host=1)."""
        return cls(**{**asdict(settings), **overrides})

    def get(self, url: str, *, params: dict | None = None, max_bytes: int | None = None,
            robots: bool | None = None) -> Response:
        """GET ``url`` politely and return its body, or raise Rejected(reason, detail).

        ``max_bytes`` and ``robots`` override the fetcher's settings for this call.
        """
        max_bytes = max_bytes or self.max_bytes
        robots = self.robots if robots is None else robots
        return self._follow(url, params, robots, lambda r: self._read(r, max_bytes))

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------ internals

    def _follow(self, url: str, params: dict | None, robots: bool, read: Callable[[requests.Response], Any]) -> Any:
        """``read`` the answer at ``url`` after up to MAX_REDIRECTS redirects, each hop checked.

        The hops share one ``deadline``; waiting for a host's turn does not count against it.
        """
        left = self.deadline
        for _ in range(MAX_REDIRECTS + 1):
            _check_url(url)
            if robots:
                self._check_robots(url)
            with self._host(url).turn(), self._watch(left) as hop:
                r = self._request(url, params)
                try:
                    if not r.is_redirect:
                        return read(r)
                    url, params, left = _location(r), None, hop.left()
                finally:
                    r.close()
        raise Rejected("redirect-loop", f"more than {MAX_REDIRECTS} redirects")

    @contextmanager
    def _watch(self, seconds: float):
        """Run one hop with a watchdog that cuts its connection after ``seconds``
        (``too-slow``); any failure inside comes out as a Rejected."""
        hop = Hop(self.allow_private, seconds)
        set_hop(hop)
        timer = threading.Timer(max(seconds, 0.0), hop.expire)
        timer.daemon = True
        timer.start()
        failure = None
        try:
            yield hop
        except Rejected as e:
            failure = e
        except Exception as e:  # a surprise from requests/urllib3 is one URL's failure, not the stage's
            failure = Rejected("fetch-error", f"{type(e).__name__}: {str(e)[:200]}")
        finally:
            timer.cancel()
            set_hop(None)
            expired = hop.finish()
        if expired:  # whatever the cut connection raised, or a body it cut short
            raise Rejected("too-slow", f"over the {self.deadline:g}s deadline")
        if failure:
            raise failure

    def _request(self, url: str, params: dict | None) -> requests.Response:
        try:
            return self.session.get(url, params=params, stream=True, allow_redirects=False,
                                    timeout=self.timeout)
        except (requests.exceptions.InvalidURL, LocationValueError) as e:  # urllib3's slips through requests
            raise Rejected("bad-url", str(e)[:200]) from None
        except requests.exceptions.RequestException as e:
            raise Rejected("network-error", f"{type(e).__name__}: {str(e)[:200]}") from None

    def _read(self, r: requests.Response, max_bytes: int) -> Response:
        if r.status_code >= 400:
            raise Rejected(f"http-{r.status_code}", r.reason or "")
        if r.status_code != 200:
            raise Rejected(f"http-{r.status_code}", "expected 200")
        if _opted_out(r.raw.headers.getlist("X-Robots-Tag"), self.user_agent):
            raise Rejected("opt-out", "X-Robots-Tag: " + r.headers.get("X-Robots-Tag", ""))
        length = r.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise Rejected("too-large", f"Content-Length {length} > {max_bytes}")
        body = _body(r, max_bytes)
        if len(body) > max_bytes:
            raise Rejected("too-large", f"body over {max_bytes} bytes")
        return Response(r.url, dict(r.headers), body)

    def _host(self, url: str) -> _Host:
        name = urlsplit(url).hostname or ""
        with self._lock:
            if name not in self._hosts:
                self._hosts[name] = _Host(self.per_host, self.delay)
            return self._hosts[name]

    def _check_robots(self, url: str) -> None:
        origin = _origin(url)
        with self._lock:
            lock = self._robots_locks.setdefault(origin, threading.Lock())
        with lock:  # one robots.txt fetch per origin, however many threads ask
            if origin not in self._robots:
                self._robots[origin] = self._fetch_robots(origin)
        verdict = self._robots[origin]
        if isinstance(verdict, Rejected):  # remembered: not fetched again for every URL of the origin
            raise Rejected(verdict.reason, verdict.detail)
        try:
            allowed = verdict.can_fetch(self.user_agent, url)
        except ValueError as e:  # robotparser unquotes first, which can unbalance a [host]
            raise Rejected("bad-url", str(e)) from None
        if not allowed:
            raise Rejected("robots", f"disallowed by {origin}/robots.txt")

    def _fetch_robots(self, origin: str) -> RobotFileParser | Rejected:
        """The parsed robots.txt, or the Rejected every URL of ``origin`` gets (RFC 9309 2.3.1)."""
        parser = RobotFileParser(origin + "/robots.txt")
        try:
            lines = self._follow(origin + "/robots.txt", None, False, _robots_lines)
        except Rejected as e:
            if e.reason in ("private-address", "bad-url"):  # most likely the origin itself, as for the URL
                return e
            if e.reason != "redirect-loop":  # RFC 9309: after five redirects it may count as unavailable (allow)
                return Rejected("robots-unavailable", f"{origin}/robots.txt: {e}")
            lines = None
        if lines is None:
            parser.allow_all = True
        else:
            try:
                parser.parse(lines)
            except ValueError as e:  # robotparser gives up on e.g. "Disallow: //[x": no rules we can trust
                return Rejected("robots-unavailable", f"{origin}/robots.txt unreadable: {e}")
        parser.modified()
        delay = parser.crawl_delay(self.user_agent)
        if delay:
            host = self._host(origin)
            host.delay = max(host.delay, min(delay, self.max_wait))  # an int of any size, compared exactly
        return parser


def _robots_lines(r: requests.Response) -> list[str] | None:
    """robots.txt lines from its final answer: None (allow all) on 4xx; 429 and 5xx mean try later."""
    if r.status_code == 429 or r.status_code >= 500:
        raise Rejected(f"http-{r.status_code}", r.reason or "")
    if r.status_code >= 400:
        return None
    body = _body(r, ROBOTS_MAX_BYTES)
    if len(body) > ROBOTS_MAX_BYTES:  # parse what fits, without the line the limit cut in two
        body = body[:body.rfind(b"\n", 0, ROBOTS_MAX_BYTES) + 1]
    return body.decode("utf-8", "replace").splitlines()


def _body(r: requests.Response, limit: int) -> bytes:
    """The body, read to its end or until more than ``limit`` bytes came."""
    body = bytearray()
    try:
        for chunk in r.iter_content(CHUNK):
            body += chunk
            if len(body) > limit:
                break
    except requests.exceptions.RequestException as e:
        raise Rejected("network-error", f"{type(e).__name__}: {str(e)[:200]}") from None
    return bytes(body)


def _check_url(url: str) -> None:
    """Refuse, never crash on, what is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError when out of range
    except ValueError as e:
        raise Rejected("bad-url", f"{e}: {url[:200]}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Rejected("not-http", f"scheme {scheme or '(none)'!r}")
    if not parts.hostname:
        raise Rejected("bad-url", f"no host: {url[:200]}")


def _location(r: requests.Response) -> str:
    location = r.headers["Location"]
    try:
        return urljoin(r.url, location)
    except ValueError as e:
        raise Rejected("bad-url", f"Location {location[:200]}: {e}") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _opted_out(values: list[str], agent: str) -> bool:
    """Whether X-Robots-Tag opts out of AI use for us.

    Each value is a comma-separated list of directives; ``bot:`` before a directive
    addresses it and those after it to one bot. A directive that carries its own
    value (``unavailable_after: <date>``) is not a bot name.
    """
    token = agent.split("/")[0].lower()
    for value in values:
        bot = token
        for item in value.split(","):
            head, colon, rest = item.partition(":")
            head = head.strip().lower()
            if colon and head not in VALUED:
                bot, head = head, rest.strip().lower()
            if bot == token and head in OPT_OUT:
                return True
    return False
