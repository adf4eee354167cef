"""Authentication (token, session cookie, WebSocket subprotocol) and the Origin check.

The token is compared in constant time. A browser cannot set headers on a
WebSocket, so it offers ``bearer.TOKEN`` as a subprotocol beside
``tailcast.v1``; the server selects ``tailcast.v1`` and never echoes the token.
``POST /api/login`` trades the token for a random session id in an
``HttpOnly; SameSite=Strict`` cookie: the token itself is never stored in the
browser. Sessions are kept in a bounded table (oldest dropped first).
A share link's token (:mod:`tailcast.shares`) is presented the same ways and
stands for that share only.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque

from aiohttp import web

from tailcast.shares import OWNER, Principal, ShareStore

__all__ = ["COOKIE", "Auth", "is_https", "origin_allowed", "own_origin"]

COOKIE = "tailcast_session"
MAX_SESSIONS = 10_000
SESSION_SECONDS = 7 * 24 * 3600
# Failed logins allowed per client address per minute: slows down guessing
# without locking out a user who mistyped.
LOGIN_FAILURES_PER_MINUTE = 10


class Auth:
    """Credentials to a :class:`~tailcast.shares.Principal`; a no-op when no token is configured.

    A credential is the full token (the owner), a live share's token (that
    share), or a session id from ``POST /api/login``, which remembers which of
    the two logged in. A share's session ends with the share.
    """

    def __init__(self, token: str | None, shares: ShareStore | None = None) -> None:
        self._token = token.encode() if token else None
        self.shares = shares if shares is not None else ShareStore(None)
        self._sessions: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._failures: dict[str, deque[float]] = {}
        self._clock = time.monotonic

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def token_ok(self, candidate: str | None) -> bool:
        """Whether ``candidate`` is the full (owner's) token."""
        if self._token is None:
            return True
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), self._token)

    def principal_of_token(self, candidate: str | None) -> Principal | None:
        """The owner for the full token, a share for a live share's token, else ``None``."""
        if self._token is None:
            return OWNER
        if not candidate:
            return None
        if self.token_ok(candidate):
            return OWNER
        share = self.shares.find(candidate)
        return share.principal if share is not None else None

    def principal(self, request: web.Request) -> Principal | None:
        """Who the request is (header, cookie or subprotocol); ``None``: nobody we know."""
        if self._token is None:
            return OWNER
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            found = self.principal_of_token(header[7:].strip())
            if found is not None:
                return found
        found = self.session_principal(request.cookies.get(COOKIE))
        if found is not None:
            return found
        return self.principal_of_token(ws_bearer(request))

    def _still_live(self, principal: Principal) -> bool:
        return principal.share is None or self.shares.live(principal.share)

    def request_ok(self, request: web.Request) -> bool:
        """Whether the request carries valid credentials (header, cookie or subprotocol)."""
        return self.principal(request) is not None

    def session_principal(self, session: str | None) -> Principal | None:
        if not session:
            return None
        entry = self._sessions.get(session)
        if entry is None:
            return None
        created, principal = entry
        if self._clock() - created > SESSION_SECONDS or not self._still_live(principal):
            del self._sessions[session]
            return None
        return principal

    def session_ok(self, session: str | None) -> bool:
        return self.session_principal(session) is not None

    def login(self, token: str, peer: str) -> tuple[str, Principal] | None:
        """A new session id and whom it stands for, for a right token; else ``None``."""
        principal = self.principal_of_token(token)
        if principal is None:
            self._failures.setdefault(peer, deque(maxlen=LOGIN_FAILURES_PER_MINUTE)).append(
                self._clock()
            )
            if len(self._failures) > MAX_SESSIONS:
                self._failures.pop(next(iter(self._failures)))
            return None
        session = secrets.token_urlsafe(32)
        self._sessions[session] = (self._clock(), principal)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session, principal

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
