"""``GET /api/streams/ID/events``: one stream as Server-Sent Events.

Frames are the same JSON objects as on the WebSocket, one per event:
``event: lines`` (``id:`` = the last seq in it), ``event: gap`` (``id:`` = its
``to``), ``event: status`` (no id). A reconnecting ``EventSource`` sends
``Last-Event-ID`` and resumes right after it, with a ``gap`` first if lines
have left history. ``?tail=N`` sets the first backlog; ``q``, ``regex=1``,
``case=1``, ``invert=1``, ``levels=`` filter the lines (as ``subscribe``'s
``filter``). Idle connections get a comment every 15 s so that proxies keep
them open.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from tailcast.client import Client, Outgoing
from tailcast.errors import TooManyClients, UnknownStream
from tailcast.protocol import wire
from tailcast.registry import Registry
from tailcast.shares import OWNER
from tailcast.web.auth import origin_allowed
from tailcast.web.keys import AUTH, CONFIG, HUB, REGISTRY
from tailcast.web.params import line_filter, natural
from tailcast.web.responses import json_error

__all__ = ["events_handler", "format_event"]

KEEPALIVE_SECONDS = 15.0
# aiohttp does not cancel a handler whose client went away, and an idle
# stream only finds out at its next write: look at the transport this often so
# a vanished client frees its --max-clients slot within about a second.
LIVENESS_SECONDS = 1.0


def format_event(item: Outgoing) -> bytes | None:
    """One queue item as an SSE event (``None``: not part of a single-stream feed)."""
    if item.kind == "lines":
        head = f"id: {item.last}\nevent: lines\ndata: ".encode()
    elif item.kind == "gap":
        head = f"id: {item.last}\nevent: gap\ndata: ".encode()
    elif item.kind == "status":
        head = b"event: status\ndata: "
    else:
        return None
    return head + item.payload + b"\n\n"


# The stream's headers: never cached, never buffered by a proxy.
EVENT_STREAM_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


def _resume_point(request: web.Request, stream_id: str) -> tuple[dict[str, int] | None, int | None]:
    """``(since, tail)`` from ``Last-Event-ID`` and ``?tail=N``."""
    since: dict[str, int] | None = None
    last_id = request.headers.get("Last-Event-ID")
    if last_id is not None and last_id.strip():
        since = {stream_id: natural(last_id.strip(), "Last-Event-ID")}
    tail = natural(request.query["tail"], "tail") if "tail" in request.query else None
    if tail is not None and tail > wire.MAX_TAIL:
        raise web.HTTPBadRequest(text=f"tail must be at most {wire.MAX_TAIL}")
    return since, tail


async def events_handler(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    registry = request.app[REGISTRY]
    if not origin_allowed(request, config.allow_origin, config.trust_proxy):
        return json_error(403, "origin not allowed")
    try:
        stream = request.app[HUB].get(request.match_info["id"])
    except UnknownStream as exc:
        return json_error(404, str(exc))
    since, tail = _resume_point(request, stream.id)
    flt = line_filter(request)  # a bad pattern is a 400 before any event
    try:
        # The middleware let only a stream of the share's through; the client
        # carries the share so that its revocation or expiry ends this stream.
        client = registry.connect(
            request.remote or "", request.app[AUTH].principal(request) or OWNER
        )
    except TooManyClients as exc:
        return json_error(503, str(exc), **{"Retry-After": "5"})
    try:
        response = web.StreamResponse(headers=EVENT_STREAM_HEADERS)
        await response.prepare(request)
        registry.subscribe(client, [stream.id], tail=tail, since=since, line_filter=flt)
        await response.write(b"retry: 1000\n\n")
        await _pump(request, response, client, registry)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response
    except ConnectionError:
        return web.Response(status=499)  # the client went away; nobody reads this
    finally:
        registry.disconnect(client)


async def _pump(
    request: web.Request, response: web.StreamResponse, client: Client, registry: Registry
) -> None:
    """Write the client's queue as events until it is closed or the peer is gone."""
    idle = 0.0
    while True:
        try:
            batch = await asyncio.wait_for(client.next_batch(), LIVENESS_SECONDS)
        except TimeoutError:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            idle += LIVENESS_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                await response.write(b": keepalive\n\n")
            continue
        idle = 0.0
        if not batch:
            return
        for item in batch:
            event = format_event(item)
            if event is not None:
                await response.write(event)
                registry.sent(client, item)
