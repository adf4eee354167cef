"""``GET /ws``: protocol v1 over WebSocket.

One connection = one :class:`~tailcast.client.Client`. Two tasks serve it:
this handler reads client frames, and a sender task drains the client's queue
into the socket. Only the sender writes line data, so a slow socket only ever
slows its own sender; the registry sees that as a full queue, and the sender
then reads on from the history at the socket's pace (``Client.next_batch``).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from tailcast import __version__
from tailcast.client import Client
from tailcast.errors import FrameError, TooManyClients
from tailcast.hub import Hub
from tailcast.protocol import wire
from tailcast.registry import Registry
from tailcast.web.auth import origin_allowed
from tailcast.web.keys import AUTH, CONFIG, HUB, REGISTRY, WEBSOCKETS
from tailcast.web.linger import LingeringWebSocketResponse
from tailcast.web.params import bounded_int, stream_ids
from tailcast.web.responses import json_error
from tailcast.web.shares import SHARE_ENDED

__all__ = ["SERVER_NAME", "client_error", "websocket_handler"]

log = logging.getLogger("tailcast.ws")

# The ``server`` of the hello frame.
SERVER_NAME = f"tailcast/{__version__}"

# How long an unauthenticated socket may take to answer its 4001 close.
UNAUTHENTICATED_CLOSE_TIMEOUT = 2.0


def _query_subscription(request: web.Request) -> tuple[list[str], int | None]:
    """``?streams=ID,ID&tail=N`` for clients that only listen."""
    streams = stream_ids(request)
    if streams is None:
        return [], None  # ?tail= alone means nothing: there is nothing to tail
    return streams, bounded_int(request, "tail", 0, wire.MAX_TAIL)


async def _sender(ws: web.WebSocketResponse, client: Client, registry: Registry) -> None:
    """Drain the client's queue into the socket until the client is closed."""
    while True:
        batch = await client.next_batch()
        if not batch:
            break
        for item in batch:
            await ws.send_frame(item.payload, WSMsgType.TEXT)
            registry.sent(client, item)
    if client.close_reason and client.close_reason.startswith("too slow"):
        await ws.close(code=wire.CLOSE_POLICY, message=b"too slow")
    elif client.close_reason == SHARE_ENDED:
        await ws.close(code=wire.CLOSE_NOT_AUTHENTICATED, message=SHARE_ENDED.encode())


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    registry = request.app[REGISTRY]
    if not origin_allowed(request, config.allow_origin, config.trust_proxy):
        return json_error(403, "origin not allowed")
    streams, tail = _query_subscription(request)
    named = {s for s in streams if s != wire.ALL}
    if len(named) > config.max_subscriptions:
        return json_error(
            400, f"more than {config.max_subscriptions} streams named (--max-subscriptions)"
        )
    principal = request.app[AUTH].principal(request)
    if principal is None:
        return await _refuse_unauthenticated(request)
    try:
        client = registry.connect(request.remote or "", principal)
    except TooManyClients as exc:
        return json_error(503, str(exc), **{"Retry-After": "5"})
    ws = LingeringWebSocketResponse(
        protocols=(wire.SUBPROTOCOL,),
        heartbeat=config.heartbeat,
        max_msg_size=config.max_frame,
        compress=False,  # per-client compression would undo "encode once"
    )
    try:
        await ws.prepare(request)
        request.app[WEBSOCKETS].add(ws)
        if await _hello(ws, request.app[HUB], registry, client, streams, tail):
            await _serve(ws, client, registry, named, config.max_subscriptions)
    finally:
        request.app[WEBSOCKETS].discard(ws)
        registry.disconnect(client)
    # After the client's slot is free: a peer that broke the protocol may take
    # a moment to read its close code (see tailcast.web.linger).
    await ws.linger()
    return ws


async def _hello(
    ws: web.WebSocketResponse,
    hub: Hub,
    registry: Registry,
    client: Client,
    streams: list[str],
    tail: int | None,
) -> bool:
    """Send the hello and subscribe ``?streams=``; ``False`` if one is unknown (closed 4004)."""
    # Hello and the URL subscription in one step (no await between): the
    # hello's last_seq is exactly where live delivery starts.
    # A share link's client hears only of its own streams.
    infos = [i for i in hub.infos() if client.principal.sees(i["id"])]
    hello = wire.hello_frame(SERVER_NAME, infos)
    unknown = registry.subscribe(client, streams, tail=tail) if streams else []
    await ws.send_frame(hello, WSMsgType.TEXT)
    if unknown:
        await _close_unknown(ws, unknown[0])
        return False
    return True


async def _close_unknown(ws: web.WebSocketResponse, stream_id: str) -> None:
    await ws.close(
        code=wire.CLOSE_UNKNOWN_STREAM, message=f"unknown stream: {stream_id}"[:120].encode()
    )


async def _serve(
    ws: web.WebSocketResponse,
    client: Client,
    registry: Registry,
    named: set[str],
    max_subscriptions: int,
) -> None:
    """Read client frames here while a sender task writes the client's queue."""
    sender = asyncio.create_task(_sender(ws, client, registry))
    try:
        await _reader(ws, client, registry, named, max_subscriptions)
    finally:
        client.close()
        sender.cancel()
        try:
            await sender
        except (asyncio.CancelledError, ConnectionError):
            pass
        except Exception:
            log.exception("websocket sender for %s failed", client.peer)


async def _refuse_unauthenticated(request: web.Request) -> web.WebSocketResponse:
    """Upgrade and close with 4001 at once, sending nothing else.

    A browser cannot read the status of a refused upgrade but can read a close
    code. This socket takes no ``--max-clients`` slot (no registry client), and
    a peer that never answers the close is dropped after
    :data:`UNAUTHENTICATED_CLOSE_TIMEOUT` (plus at most
    :data:`~tailcast.web.linger.LINGER_SECONDS` if it sent a frame over the
    limit), so that unauthenticated sockets cannot crowd out authenticated ones.
    """
    ws = LingeringWebSocketResponse(
        protocols=(wire.SUBPROTOCOL,),
        timeout=UNAUTHENTICATED_CLOSE_TIMEOUT,
        max_msg_size=4096,  # nothing it sends is read but its close
        compress=False,
    )
    await ws.prepare(request)
    await ws.close(code=wire.CLOSE_NOT_AUTHENTICATED, message=b"not authenticated")
    await ws.linger()  # if it sent a frame too large before its close
    return ws


async def _reader(
    ws: web.WebSocketResponse,
    client: Client,
    registry: Registry,
    named: set[str],
    max_subscriptions: int,
) -> None:
    """Serve client frames. ``named``: the stream ids this client subscribed by
    name (``*`` is one subscription, whatever the number of streams), which
    ``--max-subscriptions`` bounds."""
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            try:
                frame = wire.parse_client_frame(msg.data)
            except FrameError as exc:
                client_error(client, str(exc))
                continue
            if isinstance(frame, wire.Subscribe):
                if not await _subscribe(ws, client, registry, frame, named, max_subscriptions):
                    return
            else:
                _unsubscribe(client, registry, frame, named)
        elif msg.type == WSMsgType.BINARY:
            client_error(client, "binary frames are not part of protocol v1; send JSON text")
        elif msg.type == WSMsgType.ERROR:
            # aiohttp has sent its close frame (1009 for a frame too large);
            # the socket lingers until the handler's ws.linger().
            log.info("websocket %s closed: %s", client.peer, ws.exception())
            return


async def _subscribe(
    ws: web.WebSocketResponse,
    client: Client,
    registry: Registry,
    frame: wire.Subscribe,
    named: set[str],
    max_subscriptions: int,
) -> bool:
    """Apply a subscribe frame; ``False`` if it named an unknown stream (closed 4004)."""
    wanted = named.union(s for s in frame.streams if s != wire.ALL)
    if len(wanted) > max_subscriptions:
        # All or nothing: a partial subscription would be a surprise.
        client_error(
            client,
            f"subscribe refused: more than {max_subscriptions} streams "
            "per client (--max-subscriptions); nothing was subscribed",
        )
        return True
    since = dict(frame.since) if frame.since is not None else None
    unknown = registry.subscribe(
        client, frame.streams, tail=frame.tail, since=since, line_filter=frame.filter
    )
    if unknown:
        await _close_unknown(ws, unknown[0])
        return False
    named.update(wanted)
    return True


def _unsubscribe(
    client: Client, registry: Registry, frame: wire.Unsubscribe, named: set[str]
) -> None:
    registry.unsubscribe(client, frame.streams)
    if wire.ALL in frame.streams:
        named.clear()  # "*" unsubscribes everything
    else:
        named.difference_update(frame.streams)


def client_error(client: Client, message: str) -> None:
    """Queue an ``error`` frame (through the queue, so it keeps its place among lines)."""
    client.send_error(message)
