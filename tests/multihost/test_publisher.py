"""tailcast.multihost.publisher: an agent's hub into Redis, against a real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from tailcast.multihost import keys
from tailcast.multihost import publisher as publisher_module
from tailcast.multihost.keys import lines_key
from tests.helpers import DEADLINE, apoll, assert_contiguous, ws_connect
from tests.multihost.conftest import AgentHarness, RedisServer, redis_seqs, web_config


async def apoll_async(check: Callable[[], Awaitable[Any]], want: Any) -> None:
    """Poll an async check until it gives ``want`` (a deadline, not a sleep)."""
    deadline = time.monotonic() + DEADLINE
    while await check() != want:
        assert time.monotonic() < deadline, f"{check} never gave {want!r}"
        await asyncio.sleep(0.01)


async def test_lines_that_left_the_agent_ring_during_an_outage_are_a_gap(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    a = await start_agent(redis_server.url, "app", history=50)
    w = await start_server(web_config(redis_server.url))
    await apoll(lambda: "app" in w.hub.streams)
    client = await ws_connect(session, w.ws_url)
    await client.send({"type": "subscribe", "streams": ["app"], "tail": 0})
    stream = a.hub.streams["app"]
    a.write(stream, 10)
    await client.wait_lines("app", 10)

    redis_server.kill()
    await apoll(lambda: not a.agent.publisher.connected.is_set())
    a.write(stream, 200)  # only the newest 50 stay in the agent's ring
    redis_server.restart()
    gap = await client.recv_type("gap", timeout=20)
    assert (gap["from"], gap["to"]) == (11, 160)
    lines = await client.wait_lines("app", 60)
    assert [x["seq"] for x in lines] == list(range(1, 11)) + list(range(161, 211))
    # Counted once Redis's reply to that XADD is read, which may come after the
    # web node has read the entry and sent it on.
    await apoll(lambda: a.agent.publisher.lines_lost == 150)


async def test_dropped_connections_resume_without_duplicates(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    """CLIENT KILL drops every connection while Redis keeps its data: the agent
    asks Redis where it stands and goes on after it; Redis refuses repeats."""
    a = await start_agent(redis_server.url, "app")
    w = await start_server(web_config(redis_server.url))
    await apoll(lambda: "app" in w.hub.streams)
    client = await ws_connect(session, w.ws_url)
    await client.send({"type": "subscribe", "streams": ["app"], "tail": 0})
    stream = a.hub.streams["app"]
    r: Any = aioredis.from_url(redis_server.url)  # redis-py's execute_command is untyped
    try:
        for _ in range(5):
            a.write(stream, 200)
            await r.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        lines = await client.wait_lines("app", 1000, timeout=20)
        assert_contiguous(lines, 1)
        key = lines_key("app", stream.epoch)
        assert await redis_seqs(redis_server.url, key) == list(range(1, 1001))
    finally:
        await r.aclose()
    assert a.agent.publisher.lines_lost == 0


async def test_stream_id_owned_by_a_live_agent_is_not_taken(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
) -> None:
    a = await start_agent(redis_server.url, "app")
    b = await start_agent(redis_server.url, "app")
    a.write(a.hub.streams["app"], 3)
    b.write(b.hub.streams["app"], 7)
    w = await start_server(web_config(redis_server.url))
    await apoll(lambda: "app" in w.hub.streams and w.hub.streams["app"].last_seq == 3)
    assert w.hub.streams["app"].epoch == a.hub.streams["app"].epoch
    assert b.agent.publisher.conflicts == {"app": a.agent.publisher.instance}


async def test_what_lands_in_redis(
    redis_server: RedisServer, start_agent: Callable[..., Any]
) -> None:
    """A record naming the agent and the lines key, one entry ``SEQ-0`` per batch, a goodbye."""
    a = await start_agent(redis_server.url, "app")
    publisher = a.agent.publisher
    stream = a.hub.streams["app"]
    a.write(stream, 3)
    await apoll(lambda: publisher.lines_published == 3)
    r: Any = aioredis.from_url(redis_server.url)
    try:
        record = keys.StreamRecord.loads(await r.hget(keys.STREAMS, "app"))
        assert (record.agent, record.epoch, record.state) == (
            publisher.instance,
            stream.epoch,
            "live",
        )
        assert record.key == lines_key("app", stream.epoch)
        entries = await r.xrange(record.key)
        assert [e[0] for e in entries] == [b"1-0"]
        assert entries[0][1][keys.COUNT_FIELD] == b"3"
        assert keys.batch_lines(entries[0][1]) == stream.lines_after(0, 3)[1]
        events = [keys.parse_event(fields) for _, fields in await r.xrange(keys.EVENTS)]
        assert (keys.EVENT_INFO, "app") in [(kind, sid) for kind, sid, _ in events]
        assert await r.exists(keys.agent_key(publisher.instance))

        await a.agent.stop()  # the stream stays, marked stopped; the heartbeat goes
        record = keys.StreamRecord.loads(await r.hget(keys.STREAMS, "app"))
        assert record.state == "error" and "stopped" in record.extra["message"]
        assert not await r.exists(keys.agent_key(publisher.instance))
        assert await redis_seqs(redis_server.url, record.key) == [1, 2, 3]
    finally:
        await r.aclose()


async def test_a_removed_stream_leaves_redis(
    redis_server: RedisServer, start_agent: Callable[..., Any]
) -> None:
    a = await start_agent(redis_server.url, "app", "other")
    key = lines_key("app", a.hub.streams["app"].epoch)
    a.write(a.hub.streams["app"], 2)
    await apoll(lambda: a.agent.publisher.lines_published == 2)
    a.hub.remove_stream("app")
    r: Any = aioredis.from_url(redis_server.url)
    try:
        await apoll_async(lambda: r.hexists(keys.STREAMS, "app"), False)
        # The record goes first, then the lines key (a command later).
        await apoll_async(lambda: r.exists(key), 0)
        assert await r.hexists(keys.STREAMS, "other")
    finally:
        await r.aclose()
    stats = a.agent.publisher.statistics()
    assert stats["connected"] is True and stats["lines_published"] == 2
    # The one-batch round trip went on the lane (raw RESP), not through redis-py.
    lane = stats["xadd_lane"]
    assert lane["opened"] == 1 and lane["on_lane"] >= 1 and lane["by_redis_py"] == 0


async def test_the_heartbeat_comes_again_and_again(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    monkeypatch: Any,
) -> None:
    """The agent key, deleted, is written again by the next beat, busy or not."""
    monkeypatch.setattr(publisher_module, "HEARTBEAT", 0.1)
    a: AgentHarness = await start_agent(redis_server.url, "app")
    publisher = a.agent.publisher
    stream = a.hub.streams["app"]
    r: Any = aioredis.from_url(redis_server.url)
    try:
        for n in range(3):
            await r.delete(keys.agent_key(publisher.instance))
            await apoll_async(lambda: r.exists(keys.agent_key(publisher.instance)), 1)
            a.write(stream, 5)  # lines meanwhile: the round trips go on, and the beats

            def published(n: int = n) -> bool:
                return publisher.lines_published == 5 * (n + 1)

            await apoll(published)
    finally:
        await r.aclose()
