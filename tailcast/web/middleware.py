"""What every request goes through: error shape, body limit, authentication, headers.

Middlewares, outermost first (:func:`middlewares` gives them in that order):

0. ``guard`` (:mod:`tailcast.web.guard`): tells the connection guard that a
   request began, trusted or not, and ended;
1. ``errors``: every error answer is JSON ``{"error": TEXT}`` with its status;
2. ``body_limit``: a body announced larger than ``--max-body`` is ``413`` at once;
3. ``auth``: with a token configured, everything but ``/healthz``, the login
   route and the viewer's static files (which hold no log data: the viewer
   must load to show its login form) needs credentials; a share link's
   credentials reach only what :func:`~tailcast.web.shares.share_refusal` lets through;
4. ``body_deadline`` (:mod:`tailcast.web.guard`): a body arrives within
   ``--header-timeout`` of its headers, read only once authentication passed.

Security headers go on every response through ``on_response_prepare``
(:func:`security_headers`): no inline script, no framing, no sniffing, no referrer.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tailcast.web.guard import body_deadline_middleware, guard_middleware
from tailcast.web.keys import AUTH
from tailcast.web.responses import json_error
from tailcast.web.shares import share_refusal

__all__ = [
    "CSP",
    "SECURITY_HEADERS",
    "errors_middleware",
    "make_auth_middleware",
    "make_body_limit_middleware",
    "middlewares",
    "security_headers",
]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Headers of an aiohttp HTTP error worth keeping on its JSON version.
KEPT_ERROR_HEADERS = ("Allow", "Retry-After")


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's plain-text HTTP errors (404 of the router, 405, 413...) as JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        reason = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return json_error(
            exc.status,
            reason or "error",
            **{k: v for k, v in exc.headers.items() if k in KEPT_ERROR_HEADERS},
        )


def make_body_limit_middleware(max_body: int) -> Middleware:
    """413 at once for a request that announces a body over ``--max-body``
    (aiohttp itself would only notice while reading it, if it ever arrives)."""

    @web.middleware
    async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > max_body:
            return json_error(413, f"request body larger than {max_body} bytes (--max-body)")
        return await handler(request)

    return body_limit_middleware


def _open_paths(base: str) -> tuple[set[str], str]:
    """The paths open without credentials: exact ones, and the static prefix."""
    return {base + "healthz", base + "api/login", base, base[:-1] or "/"}, base + "static/"


def make_auth_middleware(base: str) -> Middleware:
    """401 for a request without valid credentials, unless its path is open;
    403/404 for a share link's request outside what it may read."""
    open_exact, open_prefix = _open_paths(base)

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = request.app[AUTH]
        if not auth.enabled:
            return await handler(request)
        path = request.path
        principal = auth.principal(request)
        # /ws answers unauthenticated clients itself, with close code 4001,
        # because a browser cannot read the status of a refused upgrade.
        if (
            principal is None
            and path not in open_exact
            and not path.startswith(open_prefix)
            and path != base + "ws"
        ):
            return json_error(401, "not authenticated", **{"WWW-Authenticate": "Bearer"})
        if principal is not None and not principal.is_owner:
            refused = share_refusal(request, principal, base)
            if refused is not None:
                return refused
        return await handler(request)

    return auth_middleware


def middlewares(base: str, max_body: int) -> list[Middleware]:
    """The application's middlewares, outermost first."""
    return [
        guard_middleware,
        errors_middleware,
        make_body_limit_middleware(max_body),
        make_auth_middleware(base),
        body_deadline_middleware,
    ]


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors and streams included (a middleware misses those
    built by the error middleware or prepared inside a handler)."""
    response.headers.update(SECURITY_HEADERS)
