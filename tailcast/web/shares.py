"""Share links over HTTP: ``/api/shares`` for the owner, and what a share may do.

- ``POST /api/shares`` ``{"streams": [ID...], "expires_in": SECONDS}`` →
  ``201 {"id", "token", "streams", "expires"}`` (the one answer that holds
  the token); ``GET /api/shares`` lists the live ones without tokens;
  ``DELETE /api/shares/ID`` revokes one at once. Owner only; without a
  ``--token`` the server has no owner to tell from anyone, so ``403``.
- :func:`share_refusal` is the rule the auth middleware applies to a share's
  every request: an allow-list of routes (the viewer, its static files,
  ``/healthz``, login, ``/ws``, the stream list and a stream's lines, events
  and stats; not ``/metrics``, control or ``/api/shares``: ``403``), and a
  stream id outside the share is ``404``, worded as for a stream that does
  not exist, so a share cannot probe which other streams there are.
- :func:`end_clients` closes the WebSockets and SSE streams of a share that
  was revoked (at once) or expired (:func:`watch_expiry` looks every
  :data:`WATCH_SECONDS`): a WebSocket gets ``4001``, an SSE stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from tailcast.registry import Registry
from tailcast.shares import MAX_EXPIRES_IN, Principal
from tailcast.web.keys import AUTH, CONFIG, HUB, REGISTRY
from tailcast.web.responses import json_error

__all__ = [
    "SHARE_ENDED",
    "WATCH_SECONDS",
    "create_share",
    "delete_share",
    "end_clients",
    "list_shares",
    "request_principal",
    "share_refusal",
    "watch_expiry",
]

# The close reason of a client whose share ended (the WebSocket sender closes with 4001).
SHARE_ENDED = "share expired or revoked"
# How often expiry is looked for: an open connection of an expired share is
# closed within this (the contract says within a second).
WATCH_SECONDS = 0.2
# The routes a share may use, relative to the base path.
SHARE_ROUTES = frozenset(
    {
        "",
        "healthz",
        "ws",
        "api/login",
        "api/streams",
        "api/streams/{id}/lines",
        "api/streams/{id}/events",
        "api/streams/{id}/stats",
        "static/{name}",
    }
)


def request_principal(request: web.Request) -> Principal | None:
    """Who the request is (``None``: no valid credentials)."""
    return request.app[AUTH].principal(request)


def share_refusal(request: web.Request, principal: Principal, base: str) -> web.Response | None:
    """The answer to a share's request it may not make, or ``None`` to let it through."""
    info = request.match_info
    if info.http_exception is not None:
        return None  # the router answers (404, 405) as for anyone
    canonical = info.route.resource.canonical if info.route.resource is not None else ""
    relative = canonical[len(base) :] if canonical.startswith(base) else ""
    if canonical == base[:-1]:
        relative = ""
    if relative not in SHARE_ROUTES:
        return json_error(403, "a share link can only read its streams")
    stream_id = info.get("id")
    if stream_id is not None and not principal.sees(stream_id):
        return json_error(404, f"unknown stream: {stream_id}")
    return None


def _owner_only(request: web.Request) -> web.Response | None:
    """403 unless the owner asks (and there is an owner: a token is configured)."""
    auth = request.app[AUTH]
    if not auth.enabled:
        return json_error(403, "share links need --token (without one everyone is the owner)")
    principal = request_principal(request)
    if principal is None or not principal.is_owner:
        return json_error(403, "only the owner (the full token) manages share links")
    return None


def _expires_in(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 0 < value <= MAX_EXPIRES_IN else None


async def create_share(request: web.Request) -> web.Response:
    refused = _owner_only(request)
    if refused is not None:
        return refused
    usage = 'body must be JSON {"streams": [ID...], "expires_in": SECONDS}'
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return json_error(400, usage)
    if not isinstance(body, dict):
        return json_error(400, usage)
    streams = body.get("streams")
    if not isinstance(streams, list) or not streams or not all(isinstance(s, str) for s in streams):
        return json_error(400, "streams must be a non-empty list of stream ids")
    limit = request.app[CONFIG].max_subscriptions
    if len(set(streams)) > limit:
        return json_error(400, f"more than {limit} streams (--max-subscriptions)")
    known = request.app[HUB].streams
    unknown = [s for s in streams if s not in known]
    if unknown:
        # "*" too: a share names its streams, it never grows by itself.
        return json_error(400, f"unknown stream: {unknown[0]}")
    expires_in = _expires_in(body.get("expires_in"))
    if expires_in is None:
        return json_error(400, f"expires_in must be a number of seconds, 1 to {MAX_EXPIRES_IN}")
    try:
        share, token = request.app[AUTH].shares.create(streams, expires_in)
    except OverflowError as exc:
        return json_error(409, str(exc))
    answer: dict[str, Any] = {"id": share.id, "token": token, "streams": list(share.streams)}
    answer["expires"] = share.expires
    return web.json_response(answer, status=201, headers={"Cache-Control": "no-store"})


async def list_shares(request: web.Request) -> web.Response:
    refused = _owner_only(request)
    if refused is not None:
        return refused
    shares = request.app[AUTH].shares.list()
    return web.json_response({"shares": [s.info() for s in shares]})


async def delete_share(request: web.Request) -> web.Response:
    refused = _owner_only(request)
    if refused is not None:
        return refused
    share_id = request.match_info["id"]
    if not request.app[AUTH].shares.revoke(share_id):
        return json_error(404, f"unknown share: {share_id}")
    end_clients(request.app[REGISTRY], {share_id})
    return web.Response(status=204)


def end_clients(registry: Registry, share_ids: set[str]) -> int:
    """Close every client of these shares (WebSocket: 4001; SSE: the stream ends)."""
    ended = 0
    for client in registry.clients:
        if client.principal.share in share_ids:
            client.close(SHARE_ENDED)
            ended += 1
    return ended


async def _watch(app: web.Application) -> None:
    auth = app[AUTH]
    registry = app[REGISTRY]
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        auth.shares.prune()
        ended = {
            c.principal.share
            for c in registry.clients
            if c.principal.share is not None and not auth.shares.live(c.principal.share)
        }
        if ended:
            end_clients(registry, {s for s in ended if s is not None})


async def watch_expiry(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the task that ends clients of expired shares while the app runs."""
    if not app[AUTH].enabled:
        yield  # no token, no shares
        return
    task = asyncio.create_task(_watch(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
