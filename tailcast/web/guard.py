"""The way in: time limits and caps for connections that are not yet trusted.

A connection is *waiting* while it has no authenticated request in progress:
from the moment it is accepted until its request's headers (and body) have
arrived, while an unauthenticated request is answered (``/healthz``, the
viewer's files, a ``401``, a WebSocket closed with ``4001``), and between two
requests on a keep-alive connection. Only waiting connections are limited:

- a new connection must complete a request's headers within
  ``header_timeout`` seconds, an idle keep-alive one within ``idle_timeout``
  seconds of its last answer; a request's body must arrive within
  ``header_timeout`` seconds of its headers (:func:`body_deadline_middleware`);
- at most ``max_pending`` waiting connections per address (an IPv6 address
  counts by its /64, what one host usually owns) and ``pool_total`` in all;
  beyond, the *oldest* waiting ones are dropped once they have waited
  :data:`GRACE` seconds: a client that sends its request at once always gets
  in, even from an address (a NAT, a proxy) an attacker shares, while the
  attacker's stalled connections are the oldest; and a burst of honest
  connections from one proxy is not cut before its requests are read;
- at most ``max_connections`` connections at all (what the descriptors left
  after the sources and the history allow): beyond, the oldest waiting one is
  dropped at once, whatever its age, or the new one if none waits, so
  ``accept()`` never runs out.

A request with valid credentials (or any request when no token is set) takes
its connection out of the waiting pool for as long as it runs: a WebSocket or
SSE client, once in, is never hit by these limits. Why not aiohttp's own
``keepalive_timeout``: it leaves the headers phase unlimited past the first
answer's timer and knows no per-address cap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from tailcast.web.keys import AUTH
from tailcast.web.responses import json_error

__all__ = [
    "GUARD",
    "ConnectionGuard",
    "GuardLimits",
    "GuardedProtocol",
    "address_key",
    "body_deadline_middleware",
    "guard_middleware",
]

log = logging.getLogger("tailcast.guard")

# How long a waiting connection is safe from the caps (not from the hard cap
# on all connections): a client sends its request within a round trip.
GRACE = 1.0

Transport = asyncio.BaseTransport


@dataclass(frozen=True)
class GuardLimits:
    """The limits of :class:`ConnectionGuard` (seconds and counts)."""

    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    max_pending: int = 32
    pool_total: int = 256
    max_connections: int = 1_000_000


def address_key(peer: Any) -> str:
    """What the per-address cap counts by: the IPv4 address, or the IPv6 /64."""
    host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return str(host)
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


class _Conn:
    __slots__ = ("key", "proto", "since", "timer", "waiting")

    def __init__(self, key: str, proto: GuardedProtocol | None) -> None:
        self.key = key
        self.proto = proto
        self.since = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.waiting = True


class ConnectionGuard:
    """Tracks every connection of one server; drops the waiting ones over a limit."""

    def __init__(self, limits: GuardLimits) -> None:
        self.limits = limits
        self._conns: dict[Transport, _Conn] = {}
        self._pool: OrderedDict[Transport, None] = OrderedDict()  # oldest first
        self._by_key: dict[str, OrderedDict[Transport, None]] = {}
        self._over: set[str] = set()  # addresses over the cap, within their grace
        self._trim_timer: asyncio.TimerHandle | None = None
        self.timed_out = 0
        self.evicted = 0
        self.refused = 0

    # -- the protocol's side ------------------------------------------------
    def opened(self, transport: Transport, proto: GuardedProtocol | None = None) -> None:
        """A connection was accepted (after its TLS handshake, with TLS)."""
        if len(self._conns) >= self.limits.max_connections and not self._evict_oldest(self._pool):
            self.refused += 1
            _abort(transport)
            return
        conn = _Conn(address_key(transport.get_extra_info("peername")), proto)
        self._conns[transport] = conn
        self._wait(transport, conn, self.limits.header_timeout)

    def closed(self, transport: Transport) -> None:
        conn = self._conns.pop(transport, None)
        if conn is not None:
            self._unwait(transport, conn)

    def headers_in(self, transport: Transport) -> None:
        """A request's header block has arrived (read, perhaps not yet handled):
        it is no longer stalling, whatever a busy server makes it wait."""
        conn = self._conns.get(transport)
        if conn is not None:
            self._unwait(transport, conn)

    # -- the middleware's side ----------------------------------------------
    def request_started(self, transport: Transport | None, authenticated: bool) -> None:
        """A request is handled: trusted, it stays out of the pool; else it goes
        back in, without a clock (its handler ends it), so that the caps bound
        unauthenticated work too (a ``401``, a WebSocket closed with 4001)."""
        conn = self._conns.get(transport) if transport is not None else None
        if conn is None or transport is None:
            return
        self._unwait(transport, conn)
        if not authenticated:
            self._wait(transport, conn, None)

    def request_done(self, transport: Transport | None) -> None:
        """Its answer is written: idle again, the keep-alive clock runs."""
        conn = self._conns.get(transport) if transport is not None else None
        if conn is not None and transport is not None and not transport.is_closing():
            self._unwait(transport, conn)
            self._wait(transport, conn, self.limits.idle_timeout)
            if conn.proto is not None:
                conn.proto.watch_headers()

    # -- inside -------------------------------------------------------------
    def _wait(self, transport: Transport, conn: _Conn, timeout: float | None) -> None:
        conn.waiting = True
        loop = asyncio.get_running_loop()
        conn.since = loop.time()
        self._pool[transport] = None
        same = self._by_key.setdefault(conn.key, OrderedDict())
        same[transport] = None
        if timeout is not None:
            conn.timer = loop.call_later(timeout, self._expire, transport)
        if len(same) > self.limits.max_pending:
            self._over.add(conn.key)
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest waiting connections over a cap, once past their grace."""
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        wake = now + GRACE
        for key in list(self._over):
            same = self._by_key.get(key)
            while same and len(same) > self.limits.max_pending:
                since = self._conns[next(iter(same))].since
                if since > now - GRACE:
                    wake = min(wake, since + GRACE)
                    break
                self._evict_oldest(same)
            else:
                self._over.discard(key)
        while len(self._pool) > self.limits.pool_total:
            since = self._conns[next(iter(self._pool))].since
            if since > now - GRACE:
                wake = min(wake, since + GRACE)
                break
            self._evict_oldest(self._pool)
        over = self._over or len(self._pool) > self.limits.pool_total
        if over:
            self._trim_timer = loop.call_at(wake + 0.01, self._trim)

    def _unwait(self, transport: Transport, conn: _Conn) -> None:
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        if not conn.waiting:
            return
        conn.waiting = False
        self._pool.pop(transport, None)
        same = self._by_key.get(conn.key)
        if same is not None:
            same.pop(transport, None)
            if not same:
                del self._by_key[conn.key]

    def _evict_oldest(self, pool: OrderedDict[Transport, None] | None) -> bool:
        """Drop the oldest connection of ``pool``; False if it is empty."""
        if not pool:
            return False
        self.evicted += 1
        self._drop(next(iter(pool)))
        return True

    def _expire(self, transport: Transport) -> None:
        conn = self._conns.get(transport)
        if conn is not None:
            conn.timer = None
            self.timed_out += 1
            self._drop(transport)

    def _drop(self, transport: Transport) -> None:
        conn = self._conns.pop(transport, None)
        if conn is not None:
            self._unwait(transport, conn)
        # A plain socket with nothing left to send closes with a FIN; a TLS
        # one would wait for the peer's close_notify, and unsent bytes for a
        # reader that may never read: those are reset, so the descriptor is
        # free now, not whenever the peer decides.
        get_size = getattr(transport, "get_write_buffer_size", None)
        pending = get_size() if get_size is not None else 0
        if pending or transport.get_extra_info("sslcontext") is not None:
            _abort(transport)
        else:
            transport.close()

    def statistics(self) -> dict[str, int]:
        return {
            "connections": len(self._conns),
            "waiting": len(self._pool),
            "timed_out": self.timed_out,
            "evicted": self.evicted,
            "refused": self.refused,
        }


def _abort(transport: Transport) -> None:
    abort = getattr(transport, "abort", None)
    if abort is not None:
        abort()
    else:
        transport.close()


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the guard told of its life.

    A wrapper rather than a subclass: aiohttp builds its ``RequestHandler``
    with arguments of its own, and the transport only ever calls these methods.
    """

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: Transport | None = None
        # Looking for the end of a request's header block (the guard's first
        # sign that a request is not stalling), and the bytes it may span.
        self._watching = True
        self._tail = b""

    def watch_headers(self) -> None:
        """Look for the next request's header block (after an answer)."""
        self._watching = True
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)
        self._guard.opened(transport, self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.closed(self._transport)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._watching and self._transport is not None:
            seen = self._tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._watching = False
                self._guard.headers_in(self._transport)
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


GUARD = web.AppKey("guard", ConnectionGuard)


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: tells the guard a request began (trusted or not) and ended."""
    guard = request.app.get(GUARD)
    if guard is None:  # an app served without a Server (some unit tests)
        return await handler(request)
    transport = request.transport
    auth = request.app[AUTH]
    guard.request_started(transport, authenticated=not auth.enabled or auth.request_ok(request))
    try:
        return await handler(request)
    finally:
        guard.request_done(transport)


@web.middleware
async def body_deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Innermost: a body must arrive within the header timeout of its headers.

    Read here, after the authentication check, so that a request refused with
    ``401`` is not read at all; the handler then finds the body in memory.
    """
    guard = request.app.get(GUARD)
    if guard is not None and request.can_read_body:
        try:
            await asyncio.wait_for(request.read(), guard.limits.header_timeout)
        except TimeoutError:
            guard.timed_out += 1
            response = json_error(408, "request body too slow (--header-timeout)")
            response.force_close()
            return response
    return await handler(request)
