"""Local HTTP servers and test images for the web-source tests.

Servers listen on 127.0.0.1 and 127.0.0.2 (two "hosts"); nothing leaves the machine.
Test modules import the fixtures they use from here.
"""
from __future__ import annotations

import csv
import io
import ipaddress
import socket
import socketserver
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pytest_httpserver import HTTPServer

from pipeline.sources.store import RawStore
from pipeline.sources.http import HttpSettings

CONTACT = "tests@example.org"


def _serve(host: str):
    server = HTTPServer(host=host, port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture(scope="session")
def _host_a():
    yield from _serve("127.0.0.1")


@pytest.fixture(scope="session")
def _host_b():
    yield from _serve("127.0.0.2")


def _fresh(server: HTTPServer, robots: str) -> HTTPServer:
    server.clear()
    # oneshot handlers win over this, so a test can serve its own robots.txt
    server.expect_request("/robots.txt").respond_with_data(robots, content_type="text/plain")
    return server


@pytest.fixture
def site(_host_a) -> HTTPServer:
    """The site under test, with a robots.txt that allows everything."""
    return _fresh(_host_a, "User-agent: *\nDisallow:\n")


@pytest.fixture
def other_site(_host_b) -> HTTPServer:
    return _fresh(_host_b, "User-agent: *\nDisallow:\n")


@pytest.fixture
def connects(monkeypatch) -> list[str]:
    """Every address a socket of this process tries to connect to during the test, in order.

    Any address but loopback is refused here, before a packet is sent, so a test whose
    address check broke still reaches nothing outside this machine; it fails on the list instead.
    """
    tried: list[str] = []
    connect = socket.socket.connect

    def guarded(sock, address):
        tried.append(address[0])
        if not ipaddress.ip_address(address[0].split("%")[0]).is_loopback:
            raise ConnectionRefusedError(f"tests connect to loopback only, not {address[0]}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return tried


@contextmanager
def trickle(answer: bytes, step: int = 8, pause: float = 0.6):
    """A raw server on 127.0.0.1 that answers any request with ``answer``, ``step`` bytes every ``pause``
    seconds, headers included (werkzeug sends headers at once); yields its base URL."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            for i in range(0, len(answer), step):
                time.sleep(pause)
                try:
                    self.request.sendall(answer[i:i + step])
                except OSError:  # the client hung up
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def image(seed: int, size: int = 64, fmt: str = "PNG") -> bytes:
    """A distinct noisy image; ``seed`` makes the bytes differ."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def settings(**http) -> HttpSettings:
    """Fast, test-sized politeness settings (``scrape.http``), read as params.yaml's would be."""
    # allow_private: every test server is on loopback, which the fetcher refuses by default
    return HttpSettings.from_params({"contact": CONTACT, "workers": 4, "per_host": 4, "delay": 0.0, "retries": 2,
                                     "backoff": 0.0, "timeout": 5.0, "max_bytes": 200_000, "allow_private": True,
                                     **http},
                                    needs_contact=True)


def run(module, spec: dict, root: Path, name: str = "scrape.sources[0]", **http) -> tuple[list, list]:
    """Read ``spec`` as ``module.Source``, collect it into a fresh store under ``root``; return (manifest, rejected) rows."""
    source = module.Source.from_params(spec, name)
    store = RawStore(root, min_side=32)
    module.collect(source, store, settings(**http))
    store.close()
    return read_csv(root / "manifest.csv"), read_csv(root / "rejected.csv")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def requested(server: HTTPServer) -> list[str]:
    """Paths the server was asked for, in order."""
    return [req.path for req, _ in server.log]
