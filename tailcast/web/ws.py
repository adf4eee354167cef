"""``GET /ws``: protocol v1 over WebSocket.

One connection = one :class:`~tailcast.registry.Client`. Two tasks serve it:
this handler reads client frames, and a sender task drains the client's queue
into the socket. Only the sender writes line data, so a slow socket only ever
slows its own sender; the registry sees that as a full queue and sends a gap.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSCloseCode, WSMsgType, web

from tailcast.errors import FrameError, TooManyClients
from tailcast.protocol import wire
from tailcast.registry import Client, Outgoing, Registry
from tailcast.web.app import AUTH, CONFIG, HUB, REGISTRY, SERVER_NAME, WEBSOCKETS, json_error
from tailcast.web.auth import origin_allowed

__all__ = ["websocket_handler"]

log = logging.getLogger("tailcast.ws")

# How long an unauthenticated socket may take to answer its 4001 close.
UNAUTHENTICATED_CLOSE_TIMEOUT = 2.0


def _query_subscription(request: web.Request) -> tuple[list[str], int | None]:
    """``?streams=ID,ID&tail=N`` for clients that only listen."""
    raw = request.query.get("streams")
    if raw is None:
        return [], None
    streams = [s.strip() for s in raw.split(",") if s.strip()]
    for stream_id in streams:
        if stream_id != wire.ALL and not wire.STREAM_ID_RE.match(stream_id):
            raise web.HTTPBadRequest(text=f"not a stream id: {stream_id[:80]!r}")
    tail = None
    if "tail" in request.query:
        try:
            tail = int(request.query["tail"])
        except ValueError:
            tail = -1
        if not 0 <= tail <= wire.MAX_TAIL:
            raise web.HTTPBadRequest(text=f"tail must be a whole number from 0 to {wire.MAX_TAIL}")
    return streams, tail


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
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow")


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    registry = request.app[REGISTRY]
    hub = request.app[HUB]
    if not origin_allowed(request, config.allow_origin, config.trust_proxy):
        return json_error(403, "origin not allowed")
    streams, tail = _query_subscription(request)
    named = {s for s in streams if s != wire.ALL}
    if len(named) > config.max_subscriptions:
        return json_error(
            400, f"more than {config.max_subscriptions} streams named (--max-subscriptions)"
        )
    if not request.app[AUTH].request_ok(request):
        return await _refuse_unauthenticated(request)
    try:
        client = registry.connect(request.remote or "")
    except TooManyClients as exc:
        return json_error(503, str(exc), **{"Retry-After": "5"})
    ws = web.WebSocketResponse(
        protocols=(wire.SUBPROTOCOL,),
        heartbeat=config.heartbeat,
        max_msg_size=config.max_frame,
        compress=False,  # per-client compression would undo "encode once"
    )
    try:
        await ws.prepare(request)
        request.app[WEBSOCKETS].add(ws)
        # Hello and the URL subscription in one step (no await between): the
        # hello's last_seq is exactly where live delivery starts.
        hello = wire.hello_frame(SERVER_NAME, hub.infos())
        unknown = registry.subscribe(client, streams, tail=tail) if streams else []
        await ws.send_frame(hello, WSMsgType.TEXT)
        if unknown:
            await ws.close(
                code=wire.CLOSE_UNKNOWN_STREAM,
                message=f"unknown stream: {unknown[0]}"[:120].encode(),
            )
            return ws
        sender = asyncio.create_task(_sender(ws, client, registry))
        try:
            await _reader(ws, client, registry, named, config.max_subscriptions)
        finally:
            client.close()
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, ConnectionError):
                pass
            except Exception:
                log.exception("websocket sender for %s failed", client.peer)
        return ws
    finally:
        request.app[WEBSOCKETS].discard(ws)
        registry.disconnect(client)


async def _refuse_unauthenticated(request: web.Request) -> web.WebSocketResponse:
    """Upgrade and close with 4001 at once, sending nothing else.

    A browser cannot read the status of a refused upgrade but can read a close
    code. This socket takes no ``--max-clients`` slot (no registry client), and
    a peer that never answers the close is dropped after
    :data:`UNAUTHENTICATED_CLOSE_TIMEOUT`, so that unauthenticated sockets
    cannot crowd out authenticated ones.
    """
    ws = web.WebSocketResponse(
        protocols=(wire.SUBPROTOCOL,),
        timeout=UNAUTHENTICATED_CLOSE_TIMEOUT,
        max_msg_size=4096,  # nothing it sends is read but its close
        compress=False,
    )
    await ws.prepare(request)
    await ws.close(code=wire.CLOSE_NOT_AUTHENTICATED, message=b"not authenticated")
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
                wanted = named.union(s for s in frame.streams if s != wire.ALL)
                if len(wanted) > max_subscriptions:
                    # All or nothing: a partial subscription would be a surprise.
                    client_error(
                        client,
                        f"subscribe refused: more than {max_subscriptions} streams "
                        "per client (--max-subscriptions); nothing was subscribed",
                    )
                    continue
                since = dict(frame.since) if frame.since is not None else None
                unknown = registry.subscribe(client, frame.streams, tail=frame.tail, since=since)
                if unknown:
                    await ws.close(
                        code=wire.CLOSE_UNKNOWN_STREAM,
                        message=f"unknown stream: {unknown[0]}"[:120].encode(),
                    )
                    return
                named.update(wanted)
            else:
                registry.unsubscribe(client, frame.streams)
                if wire.ALL in frame.streams:
                    named.clear()  # "*" unsubscribes everything
                else:
                    named.difference_update(frame.streams)
        elif msg.type == WSMsgType.BINARY:
            client_error(client, "binary frames are not part of protocol v1; send JSON text")
        elif msg.type == WSMsgType.ERROR:
            # aiohttp has already closed the socket (1009 for a frame too large).
            log.info("websocket %s closed: %s", client.peer, ws.exception())
            return


def client_error(client: Client, message: str) -> None:
    """Queue an ``error`` frame (through the queue, so it keeps its place among lines)."""
    client._put(Outgoing("error", None, 0, 0, wire.error_frame(message)))
