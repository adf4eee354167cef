"""Every limit, from the outside: request body (``--max-body``), subscriptions
per client (``--max-subscriptions``), clients (``--max-clients``, WebSocket
and SSE together), inbound frames (``--max-frame``: fragmented, or announcing
a huge length), header size; each has a flag, a default, and refuses nonsense.

The plain cases (one frame over --max-frame, 503 for WebSockets) are in
tests/web/test_ws.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tailcast.cli import main
from tailcast.config import Config
from tests.harness import ServerHarness
from tests.helpers import WSClient, apoll, ws_connect
from tests.security.conftest import raw_request, status_of
from tests.web.conftest import Serve, publish

# -- request body ------------------------------------------------------------------


async def test_body_over_max_body_is_413_json(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(max_body=2048)
    small = json.dumps({"token": "x" * 1900}).encode()
    async with session.post(h.url + "api/login", data=small) as response:
        assert response.status == 204  # no token configured: any token logs in
    big = json.dumps({"token": "x" * 3000}).encode()
    async with session.post(h.url + "api/login", data=big) as response:
        assert response.status == 413
        assert response.content_type == "application/json"
        assert "error" in await response.json()


async def test_chunked_body_over_max_body_is_413(serve: Serve) -> None:
    """No Content-Length: the limit counts what arrives."""
    h = await serve(max_body=2048)
    chunk = b"x" * 1000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    response = await raw_request(
        h.server.port,
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body,
    )
    assert status_of(response) == 413, response[:200]
    assert b'"error"' in response


async def test_announced_huge_body_is_refused_without_waiting_for_it(serve: Serve) -> None:
    """A Content-Length of a terabyte is refused on sight, not read."""
    h = await serve(max_body=2048)
    response = await raw_request(
        h.server.port,
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1099511627776\r\nConnection: close\r\n\r\n{",
    )
    assert status_of(response) == 413, response[:200]


async def test_oversized_headers_are_refused(serve: Serve) -> None:
    h = await serve()
    response = await raw_request(
        h.server.port,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
        + b"a" * (32 * 1024)
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert 400 <= status_of(response) < 500, response[:200]
    # And the server goes on serving.
    ok = await raw_request(
        h.server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert status_of(ok) == 200


# -- subscriptions -----------------------------------------------------------------


@pytest.fixture
async def many(serve: Serve) -> AsyncIterator[ServerHarness]:
    """A server with streams s0..s5 (and app, other), at most 3 named per client."""
    h: ServerHarness = await serve(max_subscriptions=3)
    for i in range(6):
        h.hub.add_stream(f"s{i}", "stdin")
    yield h


async def sync(client: WSClient) -> None:
    """Wait until the server has handled every frame sent so far: frames are
    handled in order, and the error for this unknown type is queued in order."""
    kind = f"sync-{next(_SYNCS)}"
    await client.send({"type": kind})
    while True:
        frame = await client.recv_type("error")
        if kind in frame["message"]:
            return


_SYNCS = itertools.count()


async def _subscribed(client: WSClient, h: ServerHarness, stream: str) -> None:
    """Publish into ``stream`` and wait for it: every frame before has arrived."""
    await sync(client)
    publish(h.hub, h.hub.streams[stream], 1)
    before = len(client.lines.get(stream, []))
    await client.wait_lines(stream, before + 1)


async def test_subscribe_over_the_limit_is_an_error_and_subscribes_nothing(
    many: ServerHarness, session: aiohttp.ClientSession
) -> None:
    h = many
    client = await ws_connect(session, h.ws_url)
    await client.recv_type("hello")
    await client.send({"type": "subscribe", "streams": ["s0", "s1"], "tail": 0})
    await client.send({"type": "subscribe", "streams": ["s1", "s2"], "tail": 0})  # 3: fine
    await _subscribed(client, h, "s2")
    await client.send({"type": "subscribe", "streams": ["s3", "s4"], "tail": 0})
    error = await client.recv_type("error")
    assert "--max-subscriptions" in error["message"]
    assert "nothing was subscribed" in error["message"]
    # Nothing of the refused frame took effect: s3's line would arrive before s0's.
    publish(h.hub, h.hub.streams["s3"], 1)
    await _subscribed(client, h, "s0")
    assert "s3" not in client.lines and "s4" not in client.lines
    stats = h.registry.statistics()["subscriptions"]
    assert {k for k, v in stats.items() if v} == {"s0", "s1", "s2"}
    # Unsubscribing makes room; the connection stayed usable throughout.
    await client.send({"type": "unsubscribe", "streams": ["s0"]})
    await client.send({"type": "subscribe", "streams": ["s3"], "tail": 0})
    await _subscribed(client, h, "s3")


async def test_star_counts_as_one_subscription(
    many: ServerHarness, session: aiohttp.ClientSession
) -> None:
    h = many  # 8 streams, limit 3
    client = await ws_connect(session, h.ws_url + "?streams=*&tail=0")
    await client.recv_type("hello")
    for stream in ("s5", "app"):
        await _subscribed(client, h, stream)
    await client.send({"type": "subscribe", "streams": ["*", "s0", "s1", "s2"], "tail": 0})
    await _subscribed(client, h, "s1")
    errors = [f for f in client.frames if f["type"] == "error"]
    assert all("sync-" in f["message"] for f in errors), errors


async def test_query_subscription_over_the_limit_is_400_before_upgrade(
    many: ServerHarness, session: aiohttp.ClientSession
) -> None:
    h = many
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await session.ws_connect(h.ws_url + "?streams=s0,s1,s2,s3")
    assert info.value.status == 400
    # Repeating an id is one subscription.
    client = await ws_connect(session, h.ws_url + "?streams=s0,s0,s0,s0,s1")
    assert (await client.recv())["type"] == "hello"
    assert h.registry.statistics()["connects"] == 1


# -- clients -----------------------------------------------------------------------


async def test_max_clients_counts_websocket_and_sse_together(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(max_clients=2)
    ws = await ws_connect(session, h.ws_url)
    await ws.recv_type("hello")
    async with session.get(h.url + "api/streams/app/events") as sse:
        assert sse.status == 200
        await apoll(lambda: h.registry.statistics()["clients"] == 2)
        async with session.get(h.url + "api/streams/app/events") as refused:
            assert refused.status == 503
            assert refused.headers["Retry-After"] == "5"
            assert "error" in await refused.json()
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(h.ws_url)
        assert info.value.status == 503
        # The limit is on streaming clients: the rest of the API still answers.
        async with session.get(h.url + "api/streams") as response:
            assert response.status == 200


# -- inbound frames ----------------------------------------------------------------


def _masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame (clients must mask) built by hand."""
    first = (0x80 if fin else 0) | opcode
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


async def _raw_websocket(h: ServerHarness) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", h.server.port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def _close_code(reader: asyncio.StreamReader) -> int:
    """Read server frames until its close frame; return the close code."""
    while True:
        b0, b1 = await asyncio.wait_for(reader.readexactly(2), 10)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        payload = await asyncio.wait_for(reader.readexactly(n), 10)
        if b0 & 0x0F == 0x8:
            code: int = struct.unpack("!H", payload[:2])[0]
            return code


@pytest.mark.parametrize("how", ["fragments", "announced"])
async def test_frames_over_max_frame_close_1009_and_the_server_goes_on(
    serve: Serve, session: aiohttp.ClientSession, how: str
) -> None:
    h = await serve(max_frame=1024)
    reader, writer = await _raw_websocket(h)
    try:
        if how == "fragments":
            # Each fragment is small; the message they make is not.
            writer.write(_masked_frame(0x1, b"[" * 600, fin=False))
            writer.write(_masked_frame(0x0, b"[" * 600, fin=True))
        else:
            # Only the head of a frame announcing 2**62 bytes: refused on sight.
            writer.write(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 62) + os.urandom(4))
        await writer.drain()
        assert await _close_code(reader) == 1009
    finally:
        writer.close()
    await apoll(lambda: h.registry.statistics()["clients"] == 0)
    client = await ws_connect(session, h.ws_url + "?streams=app")
    await client.recv_type("hello")
    publish(h.hub, h.hub.streams["app"], 1)
    await client.wait_lines("app", 1)


# -- flags -------------------------------------------------------------------------


def test_every_limit_has_a_default() -> None:
    config = Config()
    assert config.max_clients == 1000
    assert config.max_frame == 64 * 1024
    assert config.max_subscriptions == 1000
    assert config.max_body == 64 * 1024
    assert config.queue_bytes == 4 * 1024 * 1024


@pytest.mark.parametrize(
    "flag", ["--max-clients", "--max-frame", "--max-subscriptions", "--max-body", "--queue-bytes"]
)
@pytest.mark.parametrize("value", ["0", "-5", "lots", "1.5"])
def test_every_limit_refuses_nonsense(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    assert main(["--port", "0", flag, value, "-"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err, err


@pytest.mark.parametrize(
    ("flag", "env", "field"),
    [
        ("--max-subscriptions", "TAILCAST_MAX_SUBSCRIPTIONS", "max_subscriptions"),
        ("--max-body", "TAILCAST_MAX_BODY", "max_body"),
    ],
)
def test_new_limits_from_flag_and_environment(flag: str, env: str, field: str) -> None:
    from tailcast.cli import build_parser
    from tailcast.config import build_config

    ns = build_parser()["serve"].parse_args([flag, "4096", "-"])
    assert getattr(build_config({field: getattr(ns, field)}, ["-"], environ={}), field) == 4096
    assert getattr(build_config({}, ["-"], environ={env: "5000"}), field) == 5000
