"""``GET /ws``: protocol v1 against a real server on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from urllib.parse import urlsplit

import aiohttp
import pytest

from tailcast import __version__
from tests.harness import ServerHarness
from tests.helpers import WSClient, apoll, assert_contiguous, gather_with_timeout, texts, ws_connect
from tests.web.conftest import Serve, line_text, publish

INFO_KEYS = {"id", "name", "kind", "state", "epoch", "first_seq", "last_seq"}


async def test_hello_is_the_first_frame(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    publish(h.hub, h.hub.streams["app"], 3)
    client = await ws_connect(session, h.ws_url)
    assert client.ws.protocol == "tailcast.v1"
    hello = await client.recv()
    assert hello["type"] == "hello"
    assert hello["version"] == 1
    assert hello["server"] == f"tailcast/{__version__}"
    infos = {s["id"]: s for s in hello["streams"]}
    assert set(infos) == {"app", "other"}
    for info in infos.values():
        assert set(info) >= INFO_KEYS
    assert (infos["app"]["first_seq"], infos["app"]["last_seq"]) == (1, 3)
    assert infos["app"]["kind"] == "stdin"
    assert infos["other"]["argv"] == ["true"]


async def test_a_client_offering_no_subprotocol_is_served(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    client = await ws_connect(session, h.ws_url + "?streams=app&tail=0", protocols=())
    assert (await client.recv())["type"] == "hello"
    publish(h.hub, h.hub.streams["app"], 1)
    assert texts(await client.wait_lines("app", 1)) == [line_text(1)]


async def test_query_subscription_with_tail(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    app, other = h.hub.streams["app"], h.hub.streams["other"]
    publish(h.hub, app, 20)
    publish(h.hub, other, 2)
    client = await ws_connect(session, h.ws_url + "?streams=*&tail=5")
    assert (await client.recv())["type"] == "hello"
    lines = await client.wait_lines("app", 5)
    assert_contiguous(lines, 16)
    assert texts(lines) == [line_text(n) for n in range(16, 21)]
    assert_contiguous(await client.wait_lines("other", 2), 1)
    publish(h.hub, app, 3)
    assert_contiguous(await client.wait_lines("app", 8), 16)
    # A stream added later reaches a "*" subscriber, announced first.
    new = h.hub.add_stream("late", "file", path="/tmp/late.log")
    streams = await client.recv_type("streams")
    assert "late" in {s["id"] for s in streams["streams"]}
    publish(h.hub, new, 2)
    assert_contiguous(await client.wait_lines("late", 2), 1)


async def test_subscribe_tail_since_and_reconnect_resume(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    publish(h.hub, app, 50)
    first = await ws_connect(session, h.ws_url)
    await first.recv_type("hello")
    await first.send({"type": "subscribe", "streams": ["app"], "tail": 10})
    assert_contiguous(await first.wait_lines("app", 10), 41)
    publish(h.hub, app, 5)
    got = await first.wait_lines("app", 15)
    assert_contiguous(got, 41)
    last_seen = got[-1]["seq"]
    await first.ws.close()
    # Lines published while the client is away.
    publish(h.hub, app, 7)
    second = await ws_connect(session, h.ws_url)
    await second.recv_type("hello")
    await second.send({"type": "subscribe", "streams": ["app"], "since": {"app": last_seen}})
    publish(h.hub, app, 3)
    resumed = await second.wait_lines("app", 10)
    assert_contiguous(resumed, last_seen + 1)
    assert [line["seq"] for line in got + resumed] == list(range(41, 66))
    assert not [f for f in second.frames if f["type"] == "gap"]


async def test_resume_from_before_the_ring_gets_a_gap_first(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(history=10)
    app = h.hub.streams["app"]
    publish(h.hub, app, 30)  # ring 21..30
    client = await ws_connect(session, h.ws_url)
    await client.recv_type("hello")
    await client.send({"type": "subscribe", "streams": ["app"], "since": {"app": 4}})
    gap = await client.recv()
    assert gap == {"type": "gap", "stream": "app", "from": 5, "to": 20}
    assert_contiguous(await client.wait_lines("app", 10), 21)


async def test_unsubscribe(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    app, other = h.hub.streams["app"], h.hub.streams["other"]
    client = await ws_connect(session, h.ws_url + "?streams=app,other&tail=0")
    await client.recv_type("hello")
    publish(h.hub, app, 1)
    await client.wait_lines("app", 1)
    await client.send({"type": "unsubscribe", "streams": ["app"]})
    # No reply to wait for: the frame after it (a bad one) answers in order.
    await client.send("{}")
    await client.recv_type("error")
    publish(h.hub, app, 5)
    publish(h.hub, other, 1)
    await client.wait_lines("other", 1)  # frames of one client keep their order
    assert len(client.lines["app"]) == 1


async def test_status_and_streams_messages(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    other = h.hub.streams["other"]
    client = await ws_connect(session, h.ws_url + "?streams=other&tail=0")
    await client.recv_type("hello")
    h.hub.set_state(other, "live")
    assert await client.recv() == {"type": "status", "stream": "other", "state": "live"}
    h.hub.set_state(other, "exited", exit_code=3)
    assert await client.recv() == {
        "type": "status",
        "stream": "other",
        "state": "exited",
        "exit_code": 3,
    }
    h.hub.add_stream("more", "file", path="/x")
    frame = await client.recv()
    assert frame["type"] == "streams"
    assert [s["id"] for s in frame["streams"]] == ["app", "other", "more"]
    assert frame["streams"][2]["path"] == "/x"


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        '{"type":"dance"}',
        '{"type":"subscribe","streams":["Not An Id"]}',
        '{"type":"subscribe","streams":["app"],"tail":-3}',
        "[" * 5000,
        b"\x00binary",
    ],
    ids=["not-json", "unknown-type", "bad-id", "bad-tail", "deep-nesting", "binary"],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_usable(
    serve: Serve, session: aiohttp.ClientSession, bad: str | bytes
) -> None:
    h = await serve()
    client = await ws_connect(session, h.ws_url)
    await client.recv_type("hello")
    if isinstance(bad, bytes):
        await client.ws.send_bytes(bad)
    else:
        await client.ws.send_str(bad)
    error = await client.recv()
    assert error["type"] == "error"
    assert isinstance(error["message"], str)
    assert error["message"]
    # tail covers lines published before the server has read the subscribe.
    await client.send({"type": "subscribe", "streams": ["app"], "tail": 10})
    publish(h.hub, h.hub.streams["app"], 2)
    assert_contiguous(await client.wait_lines("app", 2), 1)


async def test_frame_over_max_frame_closes_1009(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(max_frame=1024)
    client = await ws_connect(session, h.ws_url)
    await client.recv_type("hello")
    # Just under the limit is fine...
    await client.send({"type": "subscribe", "streams": ["app"], "tail": 9, "pad": "x" * 900})
    publish(h.hub, h.hub.streams["app"], 1)
    await client.wait_lines("app", 1)
    # ... over it closes the connection.
    await client.send("x" * 1025)
    assert await client.wait_closed() == 1009


@pytest.mark.parametrize(
    "how", ["query", "frame", "since-only"], ids=["query", "subscribe", "since"]
)
async def test_unknown_stream_closes_4004(
    serve: Serve, session: aiohttp.ClientSession, how: str
) -> None:
    h = await serve()
    if how == "query":
        client = await ws_connect(session, h.ws_url + "?streams=app,nope")
        await client.recv_type("hello")
    else:
        client = await ws_connect(session, h.ws_url)
        await client.recv_type("hello")
        frame: dict[str, object] = {"type": "subscribe", "streams": ["app", "nope"]}
        if how == "since-only":
            frame["since"] = {"nope": 3}
        await client.send(frame)
    assert await client.wait_closed() == 4004


async def test_bad_query_is_400_before_upgrade(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    for query in ("?streams=Bad!", "?streams=app&tail=-1", "?streams=app&tail=x"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(h.ws_url + query)
        assert info.value.status == 400


# -- authentication and origin ------------------------------------------------------------

TOKEN = "s3cret-token"


async def test_token_required_closes_4001(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(token=TOKEN)
    for kwargs in (
        {},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"protocols": ("tailcast.v1", "bearer.wrong")},
    ):
        client = await ws_connect(session, h.ws_url + "?streams=app", **kwargs)
        assert await client.wait_closed() == 4001
        # No stream data before the close: not even the hello.
        assert client.frames == []


async def test_bearer_header_works(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(token=TOKEN)
    publish(h.hub, h.hub.streams["app"], 2)
    client = await ws_connect(
        session, h.ws_url + "?streams=app", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    await client.recv_type("hello")
    assert_contiguous(await client.wait_lines("app", 2), 1)


async def test_bearer_subprotocol_works_and_is_never_echoed(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    publish(h.hub, h.hub.streams["app"], 1)
    ws = await session.ws_connect(
        h.ws_url + "?streams=app", protocols=("tailcast.v1", f"bearer.{TOKEN}")
    )
    try:
        assert ws.protocol == "tailcast.v1"
        assert ws._response.headers["Sec-WebSocket-Protocol"] == "tailcast.v1"
        assert TOKEN not in str(ws._response.headers)
        hello = json.loads((await ws.receive(timeout=10)).data)
        assert hello["type"] == "hello"
        lines = json.loads((await ws.receive(timeout=10)).data)
        assert lines["lines"][0]["text"] == line_text(1)
    finally:
        await ws.close()


async def test_cross_origin_refused_before_upgrade_even_with_token(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN, allow_origin=("https://viewer.example",))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for bad_origin in ("https://evil.example", "http://127.0.0.1:1", "null"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(h.ws_url, headers={**auth, "Origin": bad_origin})
        assert info.value.status == 403
    own = "http://" + urlsplit(h.url).netloc
    for origin in (own, "https://viewer.example", None):
        headers = dict(auth) if origin is None else {**auth, "Origin": origin}
        client = await ws_connect(session, h.ws_url, headers=headers)
        assert (await client.recv())["type"] == "hello", origin
        await client.ws.close()
    assert h.registry.statistics()["connects"] == 3  # the refused ones never got a client


async def test_max_clients_answers_503(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(max_clients=2)
    clients = [await ws_connect(session, h.ws_url) for _ in range(2)]
    for client in clients:
        await client.recv_type("hello")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await session.ws_connect(h.ws_url)
    assert info.value.status == 503
    await clients[0].ws.close()
    await apoll(lambda: h.registry.statistics()["clients"] == 1)
    again = await ws_connect(session, h.ws_url)
    assert (await again.recv())["type"] == "hello"


# -- a client that never reads ----------------------------------------------------------


async def _stalled_websocket(h: ServerHarness) -> asyncio.StreamWriter:
    """A raw TCP client that completes the upgrade and then never reads again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", h.server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        b"GET /ws?streams=app&tail=0 HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    assert status.startswith(b"HTTP/1.1 101"), status
    return writer


async def test_a_stalled_client_does_not_hold_back_others(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    queue_bytes = 256 * 1024
    h = await serve(queue_bytes=queue_bytes, history=100_000)
    app = h.hub.streams["app"]
    stalled = await _stalled_websocket(h)
    try:
        good = await ws_connect(session, h.ws_url + "?streams=app&tail=0")
        await good.recv_type("hello")
        await apoll(lambda: h.registry.statistics()["subscriptions"].get("app") == 2)
        payload = "x" * 1000
        rounds = 0
        behind_for = 0
        # Feed until the stalled client's kernel buffers and queue are full and
        # it falls behind, then some more (bounded: 40 MB at most).
        while behind_for < 20:
            rounds += 1
            assert rounds < 800, "the stalled client never fell behind"
            start = app.last_seq + 1
            h.hub.publish_lines(app, [(1.0, payload, None, False) for _ in range(50)])
            await good.wait_lines("app", app.last_seq)
            stats = h.registry.statistics()
            # Each client's queue is bounded; the good one drains as it goes.
            assert stats["queued_bytes_max"] <= queue_bytes, stats
            assert start == app.last_seq - 49
            behind_for += stats["readers_catching_up"]
        assert_contiguous(good.lines["app"], 1)
        assert len(good.lines["app"]) == app.last_seq
        stats = h.registry.statistics()
        # Behind, not dropped: its lines wait in the history, no gap, no loss.
        assert stats["readers_catching_up"] == 1
        assert (stats["lines_dropped"], stats["gaps"]) == (0, 0)
        assert stats["clients"] == 2
    finally:
        stalled.close()


async def test_a_burst_of_200k_lines_reaches_20_clients_whole(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """The issue's burst: every client that reads gets every line, no gap."""
    total, count = 200_000, 20
    h = await serve(history=300_000)
    app = h.hub.streams["app"]
    clients = [await ws_connect(session, h.ws_url + "?streams=app&tail=0") for _ in range(count)]
    for client in clients:
        await client.recv_type("hello")
    await apoll(lambda: h.registry.statistics()["subscriptions"].get("app") == count)
    publish(h.hub, app, total)  # one batch, like a file that grew by 200 000 lines

    async def read_all(client: WSClient) -> tuple[int, int]:
        """(lines, gaps), checking the order without keeping every frame."""
        got = gaps = 0
        next_seq = 1
        while got < total:
            msg = await client.ws.receive(timeout=60)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            if frame["type"] == "gap":
                gaps += 1
            elif frame["type"] == "lines":
                seqs = [line["seq"] for line in frame["lines"]]
                assert seqs == list(range(next_seq, next_seq + len(seqs)))
                next_seq += len(seqs)
                got += len(seqs)
        return got, gaps

    results = await gather_with_timeout(*(read_all(c) for c in clients), timeout=120)
    assert results == [(total, 0)] * count
    stats = h.registry.statistics()
    assert (stats["gaps"], stats["lines_dropped"]) == (0, 0)
    assert stats["lines_from_history"] > 0  # they did fall behind, and caught up
    await apoll(lambda: h.registry.statistics()["readers_catching_up"] == 0)


# -- heartbeats: a client that stops answering pings is dropped ------------------------


async def _raw_upgrade(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket upgrade by hand: after it, this peer never reads or pongs again."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /ws?streams=*&tail=0 HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: tailcast.v1\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


async def test_a_peer_that_never_pongs_is_dropped(serve: Serve) -> None:
    h = await serve(heartbeat=1.0)
    port = h.server.port
    _, silent = await _raw_upgrade(port)
    try:
        await apoll(lambda: h.registry.statistics()["clients"] == 1)
        # No pong within the heartbeat: the server closes its side and frees
        # the client, although this TCP connection is still open.
        await apoll(lambda: h.registry.statistics()["clients"] == 0, timeout=10.0)
        assert not silent.is_closing()
    finally:
        silent.close()


async def test_a_peer_that_pongs_stays(serve: Serve) -> None:
    """The control case: aiohttp's client answers pings, and stays connected.

    Time passing is the point here (several heartbeat periods), not a
    synchronisation: the assertion is that nothing happens meanwhile.
    """
    h = await serve(heartbeat=1.0)
    async with aiohttp.ClientSession() as session:
        client = await ws_connect(session, h.ws_url + "?streams=*&tail=0")
        await client.recv_type("hello")
        # Several heartbeat periods pass while the client keeps reading.
        with_deadline = asyncio.get_running_loop().time() + 3.5
        while asyncio.get_running_loop().time() < with_deadline:
            with contextlib.suppress(TimeoutError):
                await client.recv(timeout=0.5)
        assert h.registry.statistics()["clients"] == 1
        await client.ws.close()
