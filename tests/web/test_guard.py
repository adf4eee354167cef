"""tailcast.web.guard on a real in-process server: what it counts and drops.

The hostile cases at scale (1 100 connections under a 1 024-file limit) are
in tests/security/test_slowloris.py and test_descriptors.py; here, the rules
one by one, read from the guard's own counters.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tailcast.web.guard import address_key
from tests.harness import make_config
from tests.helpers import apoll


def test_address_key_counts_ipv6_by_its_64() -> None:
    assert address_key(("192.0.2.7", 5000)) == "192.0.2.7"
    assert address_key(("2001:db8:1:2:aaaa::1", 1, 0, 0)) == "2001:db8:1:2::/64"
    assert address_key(("2001:db8:1:2:bbbb::9", 1, 0, 0)) == "2001:db8:1:2::/64"
    assert address_key(("::ffff:192.0.2.7", 1, 0, 0)) == "192.0.2.7"


async def _open(port: int, data: bytes, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    sock.send(data)
    return sock


@pytest.mark.asyncio
async def test_a_complete_request_leaves_the_pool_a_partial_one_times_out(
    start_server: Callable[..., Any],
) -> None:
    harness = await start_server(make_config(header_timeout=0.5, idle_timeout=0.5))
    guard = harness.server.guard
    partial = await _open(harness.port, b"GET /healthz HTTP/1.1\r\nHo")
    try:
        await apoll(lambda: guard.statistics()["connections"] == 1)
        assert guard.statistics()["waiting"] == 1
        await apoll(lambda: guard.timed_out == 1)
        assert guard.statistics()["connections"] == 0
    finally:
        partial.close()
    # A trusted client (no token set: every request is trusted) is never
    # timed out while its request runs: a WebSocket past both limits.
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(harness.ws_url, protocols=("tailcast.v1",)) as ws,
    ):
        await ws.receive(timeout=5)  # hello
        await apoll(lambda: guard.statistics()["waiting"] == 0)
        before = guard.timed_out
        await asyncio.sleep(1.2)  # longer than both limits: a span, not a sync
        assert guard.timed_out == before
        assert not ws.closed


@pytest.mark.asyncio
async def test_unauthenticated_requests_stay_counted(start_server: Callable[..., Any]) -> None:
    harness = await start_server(make_config(token="t0ken-123456", max_pending=2))
    guard = harness.server.guard
    # An unauthenticated WebSocket is closed with 4001; while it lingers it
    # counts as waiting, like any untrusted connection.
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(harness.ws_url, protocols=("tailcast.v1",)) as ws,
    ):
        await apoll(lambda: guard.statistics()["waiting"] >= 1)
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 4001
