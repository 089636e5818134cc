"""The fetcher's plumbing into requests and urllib3: the one module that uses their private hooks.

``GuardedAdapter`` refuses non-public addresses at connect time and shows every socket it uses
to the thread's ``Hop``, whose watchdog cuts it at the deadline; ``GuardedSession`` leaves
redirects to the fetcher. The hooks, and why no public API does their job:

- ``HTTPConnection._new_conn`` and ``_dns_host``: the one place urllib3 resolves a name and
  opens the TCP socket, before TLS. The address check has to be on the address actually
  connected to, or a second lookup can answer differently (DNS rebinding). urllib3 has no
  resolver hook, ``socket_options`` never sees the address, and the public ``connect()``
  only wraps ``_new_conn`` in the TLS setup, which overriding it would mean rewriting.
  It also hands over the socket before the TLS handshake, so the watchdog can cut a slow one.
- ``HTTPConnectionPool._get_conn`` and ``_put_conn``: a kept-alive connection from the pool
  never passes through ``_new_conn``, so the watchdog takes its socket here, and lets go
  when it goes back to the pool, where another thread may take it. The pool has no public event.
- ``PoolManager.pool_classes_by_scheme``: undocumented; the only way to have the PoolManager
  requests builds in ``HTTPAdapter.init_poolmanager`` (the public override) use these pools.
- ``Session.get_redirect_target``: documented, but what this relies on is not: requests calls
  it even with ``allow_redirects=False`` (to fill ``Response.next``), and reads the whole body
  of a redirect (endless ones too) when it answers. Returning None stops that; the fetcher
  takes each hop itself, checking its URL, robots.txt and (through the connection) its address.

Tested with urllib3 2.0 to 2.7 and requests 2.31 to 2.34: pyproject.toml keeps to majors 2,
and tests/test_sources_http.py fails loudly when an installed version lacks a hook or stops
calling it, instead of the checks being skipped without a word.

Not covered: through a proxy (HTTP(S)_PROXY in the environment) requests uses a ``ProxyManager``
with urllib3's own pools, so neither the address check nor the watchdog applies there.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
import time
from contextlib import suppress

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError
from urllib3.util.connection import allowed_gai_family

from pipeline.sources.store import Rejected


class Hop:
    """The request this thread is making: whether it may reach private addresses, its
    deadline, and the socket it reads from, which the watchdog cuts when the deadline passes."""

    def __init__(self, allow_private: bool, seconds: float = float("inf")):
        self.allow_private = allow_private
        self.end = time.monotonic() + seconds
        self.sock: socket.socket | None = None
        self.expired = self.done = False
        self.lock = threading.Lock()

    def left(self) -> float:
        return self.end - time.monotonic()

    def hold(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` from now on; raise too-slow when the deadline has passed (no new attempt)."""
        with self.lock:
            if self.expired:
                raise Rejected("too-slow", "deadline passed")
            self.sock = sock

    def release(self, sock: socket.socket | None) -> None:
        with self.lock:  # back in the pool, another thread may take it: never cut it after this
            if self.sock is sock:
                self.sock = None

    def expire(self) -> None:
        """The watchdog: a read timeout never fires on a trickle, so wake the blocked read."""
        with self.lock:
            if self.done:
                return
            self.expired = True
            if self.sock is not None:
                with suppress(OSError):  # closed meanwhile
                    # socket.socket's own shutdown, so an SSL socket's state is not touched from this thread
                    socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def finish(self) -> bool:
        """Stop watching; True when the deadline passed."""
        with self.lock:
            self.done, self.sock = True, None
            return self.expired


_local = threading.local()


def current_hop() -> Hop:
    """This thread's hop; outside one, a hop that reaches no private address and never expires."""
    return getattr(_local, "hop", None) or Hop(allow_private=False)


def set_hop(hop: Hop | None) -> None:
    """Make ``hop`` this thread's (None: no hop) for the connections it uses from now on."""
    _local.hop = hop


class _Guarded:
    """Connection mixin: refuse non-public addresses, and let the watchdog see each new socket."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn() if current_hop().allow_private else self._public_conn()
        try:
            current_hop().hold(sock)
        except Rejected:
            sock.close()
            raise
        return sock

    def _public_conn(self) -> socket.socket:
        """Resolve once, refuse when any address is not global, connect to an address just checked."""
        name = self._dns_host
        try:
            found = socket.getaddrinfo(name.strip("[]"), self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as e:  # no second lookup: it could answer differently
            raise NameResolutionError(self.host, self, e) from e
        addresses = list(dict.fromkeys(info[4][0] for info in found))
        # one private answer refuses the name: mixing public and private answers is a rebinding trick or a mistake
        private = [a for a in addresses if not ipaddress.ip_address(a).is_global]
        if private:
            raise Rejected("private-address", f"{self.host} is {private[0]}; set scrape.http.allow_private to reach it")
        try:
            for i, address in enumerate(addresses):
                self._dns_host = address  # self.host (SNI, certificate) is restored before TLS starts
                try:
                    return super()._new_conn()
                except ConnectTimeoutError:  # NewConnectionError too: try the next address
                    if i == len(addresses) - 1:
                        raise
        finally:
            self._dns_host = name


class _Watched:
    """Pool mixin: a pooled connection's socket is watched while this thread uses it, and no longer after."""

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        try:
            current_hop().hold(conn.sock)  # None until it connects: _Guarded holds the new socket then
        except Rejected:
            conn.close()
            raise
        return conn

    def _put_conn(self, conn):
        if conn is not None:
            current_hop().release(conn.sock)
        super()._put_conn(conn)


class _HTTPConnection(_Guarded, HTTPConnection):
    pass


class _HTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _HTTPPool(_Watched, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(_Watched, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """requests' adapter on the checked, watched pools above (a Rejected raised there passes through untouched)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class GuardedSession(requests.Session):
    """A Session that never looks at a redirect: the caller takes each hop with its own checks."""

    def get_redirect_target(self, resp):
        # requests would otherwise read the whole body of every redirect (endless ones too)
        # and parse Location unguarded, even with allow_redirects=False
        return None
