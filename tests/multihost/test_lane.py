"""tailcast.multihost.lane: the agent's XADD as raw RESP, against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tailcast.errors import ConnectionLost
from tailcast.multihost import client, keys
from tailcast.multihost import lane as lane_module
from tailcast.multihost.lane import ErrorReply, Lanes, XaddLane, pack
from tests.helpers import DEADLINE
from tests.multihost.conftest import RedisServer

KEY = "tailcast:lines:s:e"


def fields(*lines: bytes) -> dict[bytes, bytes]:
    return keys.batch_fields(list(lines))


async def blocked_in_xadd(r: Any) -> None:
    """Until Redis shows a client held in an XADD (paused writes), within the deadline."""
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while True:
        listed = (await r.execute_command("CLIENT", "LIST")).decode()
        if any("flags=b" in c and "cmd=xadd" in c for c in listed.splitlines()):
            return
        assert asyncio.get_running_loop().time() < deadline, listed
        await asyncio.sleep(0.01)


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Any]:
    r = client.connect(redis_server.url)
    yield r
    await r.aclose()


def test_pack_is_resp_bulk_strings() -> None:
    assert pack(b"XADD", b"k", b"") == b"*3\r\n$4\r\nXADD\r\n$1\r\nk\r\n$0\r\n\r\n"


async def _an_entry_lands_as_redis_py_would_write_it(server: RedisServer) -> None:
    r: Any = client.connect(server.url)
    try:
        lane = await XaddLane.open(r)
        assert lane is not None
        await lane.xadd(KEY.encode(), b"0", b"5-0", fields(b'{"seq":5}', b'{"seq":6}'))
        await lane.xadd(KEY.encode(), b"7", b"7-0", fields(b'{"seq":7}'))
        entries = await r.xrange(KEY)
        assert [(e, keys.batch_lines(f)) for e, f in entries] == [
            (b"7-0", [b'{"seq":7}'])  # MINID = 7 trimmed the first entry, exactly
        ]
        await lane.close()
        assert lane.closed
        assert await r.ping()  # the connection went back to the pool in a known state
    finally:
        await r.aclose()


async def test_an_entry_lands_as_redis_py_would_write_it(
    redis_factory: Callable[..., RedisServer],
) -> None:
    await _an_entry_lands_as_redis_py_would_write_it(redis_factory())


# (A test of its own, not a parameter: redis_tls keeps a whole test off Valkey,
# and the plain case above runs on both servers.)
@pytest.mark.redis_tls
async def test_an_entry_lands_as_redis_py_would_write_it_over_tls_with_a_password(
    redis_factory: Callable[..., RedisServer],
) -> None:
    """redis-py made the connection: the URL means what it says (TLS, password)."""
    await _an_entry_lands_as_redis_py_would_write_it(redis_factory(password="s3cret", tls=True))


async def test_an_error_reply_is_returned_and_the_lane_goes_on(redis_client: Any) -> None:
    lane = await XaddLane.open(redis_client)
    assert lane is not None
    await lane.xadd(KEY.encode(), b"0", b"5-0", fields(b"a"))
    with pytest.raises(ErrorReply, match="equal or smaller"):
        await lane.xadd(KEY.encode(), b"0", b"5-0", fields(b"a again"))
    await redis_client.set("other", b"string")
    with pytest.raises(ErrorReply, match="WRONGTYPE"):
        await lane.xadd(b"other", b"0", b"6-0", fields(b"b"))
    await lane.xadd(KEY.encode(), b"0", b"6-0", fields(b"b"))
    assert not lane.closed
    assert [e for e, _ in await redis_client.xrange(KEY)] == [b"5-0", b"6-0"]


async def test_lanes_give_redis_py_s_error_reply_and_fall_back_without_a_lane(
    redis_client: Any,
) -> None:
    """What the publisher calls: None, or the refusal as a redis-py ResponseError, both ways."""
    refused = client.redis_exceptions().ResponseError
    for unsupported in (False, True):
        lanes = Lanes()
        lanes.unsupported = unsupported  # (a redis-py that hides its streams)
        key = f"{KEY}{unsupported}"
        assert await lanes.xadd(redis_client, key, fields(b"a"), "5-0", "0") is None
        again = await lanes.xadd(redis_client, key, fields(b"a"), "5-0", "0")
        assert isinstance(again, refused) and "equal or smaller" in str(again)
        assert [e for e, _ in await redis_client.xrange(key)] == [b"5-0"]
        await lanes.close()


async def test_redis_killed_is_connection_lost_and_a_new_lane_works_after(
    redis_server: RedisServer, redis_client: Any
) -> None:
    lanes = Lanes()
    assert await lanes.xadd(redis_client, KEY, fields(b"a"), "1-0", "0") is None
    redis_server.kill()
    with pytest.raises(ConnectionLost):
        await lanes.xadd(redis_client, KEY, fields(b"b"), "2-0", "0")
    redis_server.start()
    # The lane was dropped; the next command opens another on the same client.
    assert await lanes.xadd(redis_client, KEY, fields(b"b"), "2-0", "0") is None
    assert [e for e, _ in await redis_client.xrange(KEY)] == [b"2-0"]  # (no persistence)
    await lanes.close()


async def test_a_cancelled_command_abandons_its_connection(redis_client: Any) -> None:
    """A reply left unread would be the next command's: that connection is never reused."""
    lane = await XaddLane.open(redis_client)
    assert lane is not None
    await redis_client.execute_command("CLIENT", "PAUSE", "20000", "WRITE")
    try:
        task = asyncio.create_task(lane.xadd(KEY.encode(), b"0", b"1-0", fields(b"a")))
        await blocked_in_xadd(redis_client)  # (written; its reply awaited)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert lane.closed
    finally:
        await redis_client.execute_command("CLIENT", "UNPAUSE")
    lanes = Lanes()
    assert await lanes.xadd(redis_client, KEY, fields(b"b"), "2-0", "0") is None
    assert await redis_client.ping()
    await lanes.close()


async def test_a_reply_that_does_not_come_is_connection_lost(
    redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes paused in Redis past the read timeout (made short here): the lane gives up."""
    monkeypatch.setattr(lane_module, "SOCKET_TIMEOUT", 0.3)
    lanes = Lanes()
    assert await lanes.xadd(redis_client, KEY, fields(b"a"), "1-0", "0") is None
    await redis_client.execute_command("CLIENT", "PAUSE", "20000", "WRITE")
    try:
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(lanes.xadd(redis_client, KEY, fields(b"b"), "2-0", "0"), 10)
    finally:
        await redis_client.execute_command("CLIENT", "UNPAUSE")
    assert await lanes.xadd(redis_client, KEY, fields(b"c"), "3-0", "0") is None
    # (the paused XADD ran when writes resumed, on the closed connection's behalf or not)
    assert (await redis_client.xrange(KEY))[-1][0] == b"3-0"
    await lanes.close()


async def test_a_small_pool_keeps_its_connections_for_redis_py(redis_server: RedisServer) -> None:
    r: Any = client.connect(redis_server.url + "?max_connections=2")
    try:
        assert await XaddLane.open(r) is None
        lanes = Lanes()
        assert await lanes.xadd(r, KEY, fields(b"a"), "1-0", "0") is None  # (by redis-py)
        assert lanes.unsupported
    finally:
        await r.aclose()
