"""Authentication (token, session cookie, WebSocket subprotocol) and the Origin check.

The token is compared in constant time. A browser cannot set headers on a
WebSocket, so it offers ``bearer.TOKEN`` as a subprotocol beside
``tailcast.v1``; the server selects ``tailcast.v1`` and never echoes the token.
``POST /api/login`` trades the token for a random session id in an
``HttpOnly; SameSite=Strict`` cookie: the token itself is never stored in the
browser. Sessions are kept in a bounded table (oldest dropped first).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque

from aiohttp import web

__all__ = ["COOKIE", "Auth", "is_https", "origin_allowed", "own_origin"]

COOKIE = "tailcast_session"
MAX_SESSIONS = 10_000
SESSION_SECONDS = 7 * 24 * 3600
# Failed logins allowed per client address per minute: slows down guessing
# without locking out a user who mistyped.
LOGIN_FAILURES_PER_MINUTE = 10


class Auth:
    """Token checks for one server; a no-op when no token is configured."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None
        self._sessions: OrderedDict[str, float] = OrderedDict()
        self._failures: dict[str, deque[float]] = {}
        self._clock = time.monotonic

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def token_ok(self, candidate: str | None) -> bool:
        if self._token is None:
            return True
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), self._token)

    def request_ok(self, request: web.Request) -> bool:
        """Whether the request carries valid credentials (header, cookie or subprotocol)."""
        if self._token is None:
            return True
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer " and self.token_ok(header[7:].strip()):
            return True
        if self.session_ok(request.cookies.get(COOKIE)):
            return True
        return self.token_ok(ws_bearer(request))

    def session_ok(self, session: str | None) -> bool:
        if not session:
            return False
        created = self._sessions.get(session)
        if created is None:
            return False
        if self._clock() - created > SESSION_SECONDS:
            del self._sessions[session]
            return False
        return True

    def login(self, token: str, peer: str) -> str | None:
        """A new session id for a right token, else ``None``."""
        if not self.token_ok(token):
            self._failures.setdefault(peer, deque(maxlen=LOGIN_FAILURES_PER_MINUTE)).append(
                self._clock()
            )
            if len(self._failures) > MAX_SESSIONS:
                self._failures.pop(next(iter(self._failures)))
            return None
        session = secrets.token_urlsafe(32)
        self._sessions[session] = self._clock()
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def login_throttled(self, peer: str) -> bool:
        failures = self._failures.get(peer)
        if failures is None or len(failures) < LOGIN_FAILURES_PER_MINUTE:
            return False
        return self._clock() - failures[0] < 60.0


def ws_bearer(request: web.Request) -> str | None:
    """The token offered as a ``bearer.TOKEN`` WebSocket subprotocol, if any."""
    header = request.headers.get("Sec-WebSocket-Protocol")
    if not header:
        return None
    for offered in header.split(","):
        proto = offered.strip()
        if proto.startswith("bearer."):
            return proto[7:]
    return None


def _forwarded(request: web.Request, name: str) -> str | None:
    """The first (client-side) value of a proxy's ``X-Forwarded-*`` header."""
    value = request.headers.get(name)
    if value is None:
        return None
    first = value.split(",")[0].strip().lower()
    return first or None


def own_origin(request: web.Request, trust_proxy: bool = False) -> tuple[str | None, str]:
    """The server's own ``(scheme, host[:port])`` as the browser sees it.

    Without ``trust_proxy`` the scheme is not known (``None``): behind a
    TLS-terminating proxy the scheme the server sees differs from the
    browser's, so only the host is compared. With it, the proxy's
    ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are believed — any client
    can send those headers, so only a proxy that sets them may be trusted.
    """
    host = request.host.lower()
    if not trust_proxy:
        return None, host
    return _forwarded(request, "X-Forwarded-Proto"), _forwarded(request, "X-Forwarded-Host") or host


def is_https(request: web.Request, trust_proxy: bool = False) -> bool:
    """Whether the browser talks HTTPS to us (for the cookie's ``Secure`` flag)."""
    if request.secure:
        return True
    return trust_proxy and _forwarded(request, "X-Forwarded-Proto") == "https"


def origin_allowed(
    request: web.Request, allowed: tuple[str, ...], trust_proxy: bool = False
) -> bool:
    """Same-origin or explicitly allowed; a request without Origin is not a browser's.

    The own origin is compared by host (and port), and by scheme too when the
    proxy in front is trusted to say it (:func:`own_origin`).
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if origin in (o.lower() for o in allowed):
        return True
    scheme, sep, netloc = origin.partition("://")
    if not sep:
        return False
    own_scheme, own_host = own_origin(request, trust_proxy)
    if own_scheme is not None and scheme != own_scheme:
        return False
    return netloc == own_host
