"""The polite HTTP fetcher every web source shares.

``Fetcher.get(url)`` returns the body of one URL or raises ``Rejected`` with the
reason that goes into rejected.csv. On the way it

- refuses anything but http/https, on every redirect hop too;
- honours robots.txt (urllib.robotparser, including Crawl-delay) unless turned off;
- keeps to ``per_host`` concurrent requests and ``delay`` seconds between request
  starts for each host;
- retries 429/5xx with exponential backoff and ``Retry-After`` (urllib3 ``Retry``);
- honours ``X-Robots-Tag: noai / noimageai`` opt-outs the way img2dataset does;
- caps the body at ``max_bytes``, from Content-Length and while streaming.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from pipeline.images.store import Rejected
from pipeline.params import ParamError, build, knob

VERSION = "0.1"
OPT_OUT = {"noai", "noimageai"}
RETRY_STATUS = (429, 500, 502, 503, 504)
MAX_REDIRECTS = 5
ROBOTS_MAX_BYTES = 500_000  # Google reads the first 500 KiB of a robots.txt too
CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpSettings:
    """Politeness of the web sources: params.yaml's ``scrape.http``."""

    contact: str = knob("")                       # email or URL for the User-Agent; required by web sources
    workers: int = knob(16, minimum=1)            # downloads in parallel, across hosts
    per_host: int = knob(2, minimum=1)            # concurrent requests to one host
    delay: float = knob(0.5, minimum=0)           # seconds between request starts to one host
    max_bytes: int = knob(30_000_000, minimum=1024)  # bigger bodies are refused
    robots: bool = knob(True)                     # honour robots.txt
    timeout: float = knob(30.0, minimum=0.1)      # seconds without an answer
    retries: int = knob(3, minimum=0)             # on 429/5xx and network errors
    backoff: float = knob(1.0, minimum=0)         # exponential backoff factor, seconds
    max_wait: float = knob(300.0, minimum=0)      # give up when Retry-After asks for longer

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


@dataclass
class Response:
    url: str            # the final URL, after redirects
    headers: dict
    content: bytes


class _Retry(Retry):
    """urllib3 Retry that gives up, instead of hanging, when Retry-After asks for more than ``max_wait``."""

    def __init__(self, *args, max_wait: float = 300.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait

    def new(self, **kwargs):  # urllib3 copies only its own arguments on every retry
        retry = super().new(**kwargs)
        retry.max_wait = self.max_wait
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        wait = self.get_retry_after(response) if response is not None else None
        if wait is not None and wait > self.max_wait:
            raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:.0f}s > max_wait"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


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
        self.max_bytes, self.robots, self.timeout = s.max_bytes, s.robots, s.timeout
        retry = _Retry(
            max_wait=s.max_wait, total=s.retries, backoff_factor=s.backoff, status_forcelist=RETRY_STATUS,
            allowed_methods={"GET", "HEAD"}, respect_retry_after_header=True,
            raise_on_status=False, redirect=False)
        adapter = HTTPAdapter(max_retries=retry, pool_connections=s.workers, pool_maxsize=s.workers)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.user_agent
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._hosts: dict[str, _Host] = {}
        self._robots: dict[str, RobotFileParser | None] = {}
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
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(url)
            if robots and not self._allowed(url):
                raise Rejected("robots", f"disallowed by {_origin(url)}/robots.txt")
            with self._host(url).turn():
                r = self._request(url, params)
                try:
                    if r.is_redirect:
                        url, params = urljoin(r.url, r.headers["Location"]), None
                        continue
                    return self._read(r, max_bytes)
                finally:
                    r.close()
        raise Rejected("redirect-loop", f"more than {MAX_REDIRECTS} redirects")

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------ internals

    def _request(self, url: str, params: dict | None) -> requests.Response:
        try:
            return self.session.get(url, params=params, stream=True, allow_redirects=False,
                                    timeout=self.timeout)
        except requests.exceptions.InvalidURL as e:
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
        body = bytearray()
        try:
            for chunk in r.iter_content(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise Rejected("too-large", f"body over {max_bytes} bytes")
        except requests.exceptions.RequestException as e:
            raise Rejected("network-error", f"{type(e).__name__}: {str(e)[:200]}") from None
        return Response(r.url, dict(r.headers), bytes(body))

    def _host(self, url: str) -> _Host:
        name = urlsplit(url).hostname or ""
        with self._lock:
            if name not in self._hosts:
                self._hosts[name] = _Host(self.per_host, self.delay)
            return self._hosts[name]

    def _allowed(self, url: str) -> bool:
        origin = _origin(url)
        with self._lock:
            lock = self._robots_locks.setdefault(origin, threading.Lock())
        with lock:  # one robots.txt fetch per origin, however many threads ask
            if origin not in self._robots:
                self._robots[origin] = self._fetch_robots(origin)
        parser = self._robots[origin]
        return parser is not None and parser.can_fetch(self.user_agent, url)

    def _fetch_robots(self, origin: str) -> RobotFileParser | None:
        """The parsed robots.txt; None (nothing allowed) when the server fails, like Google."""
        parser = RobotFileParser(origin + "/robots.txt")
        try:
            with self._host(origin).turn():
                r = self._request(origin + "/robots.txt", None)
                try:
                    if r.status_code in (401, 403):
                        parser.disallow_all = True
                    elif 400 <= r.status_code < 500:
                        parser.allow_all = True
                    else:
                        text = self._read(r, ROBOTS_MAX_BYTES).content.decode("utf-8", "replace")
                        parser.parse(text.splitlines())
                finally:
                    r.close()
        except Rejected:
            return None
        parser.modified()
        delay = parser.crawl_delay(self.user_agent)
        if delay:
            host = self._host(origin)
            host.delay = max(host.delay, float(delay))
        return parser


def _check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise Rejected("not-http", f"scheme {scheme or '(none)'!r}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _opted_out(values: list[str], agent: str) -> bool:
    """img2dataset's reading of X-Robots-Tag: ``[bot:] directive, directive``, bot optional."""
    token = agent.split("/")[0].lower()
    for value in values:
        parts = value.split(":", 1)
        bot = parts[0].strip().lower() if len(parts) == 2 else token
        if bot == token and OPT_OUT & {d.strip().lower() for d in parts[-1].split(",")}:
            return True
    return False
