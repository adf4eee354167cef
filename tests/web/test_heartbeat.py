"""Heartbeats detect dead peers: a client that stops answering pings is dropped."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os

import aiohttp

from tests.helpers import apoll, ws_connect
from tests.web.conftest import Serve


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
