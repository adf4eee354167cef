"""tailcast.multihost.mirror: Redis into a web node's hub, against a real redis-server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import aiohttp
import redis.asyncio as aioredis

from tailcast.hub import Hub
from tailcast.multihost.keys import lines_key
from tailcast.multihost.mirror import Mirror
from tailcast.multihost.publisher import Publisher
from tests.helpers import apoll, assert_contiguous, texts, ws_connect
from tests.multihost.conftest import AgentHarness, RedisServer, web_config


class FakeController:
    async def restart(self) -> None: ...

    async def stop(self) -> None: ...


async def fake_stats() -> dict[str, Any]:
    return {"cpu": 1.0}


async def test_trimming_shows_as_a_gap(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    a: AgentHarness = await start_agent(redis_server.url, "app", history=100)
    stream = a.hub.streams["app"]
    for n in range(1, 21):
        a.write(stream, 100)  # no more than the agent's ring holds, then wait

        def published(n: int = n) -> bool:
            return a.agent.publisher.lines_published >= 100 * n

        await apoll(published)
    assert a.agent.publisher.lines_lost == 0
    r = aioredis.from_url(redis_server.url)
    try:
        # As redis-py gives it without decode_responses: (id, fields) pairs of bytes.
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]", await r.xrange(lines_key("app", stream.epoch))
        )
    finally:
        await r.aclose()
    # One entry per batch, trimmed by seq (MINID): never below the history.
    length = sum(int(fields[b"n"]) for _, fields in entries)
    assert 100 <= length < 2000
    assert len(entries) < 20

    w = await start_server(web_config(redis_server.url))
    await apoll(lambda: "app" in w.hub.streams)
    mirrored = w.hub.streams["app"]
    assert mirrored.last_seq == 2000
    assert mirrored.first_seq == 2000 - min(length, w.hub.history) + 1
    client = await ws_connect(session, w.ws_url)
    await client.send({"type": "subscribe", "streams": ["app"], "since": {"app": 0}})
    gap = await client.recv_type("gap")
    assert (gap["from"], gap["to"]) == (1, mirrored.first_seq - 1)
    lines = await client.wait_lines("app", 2000 - mirrored.first_seq + 1)
    assert_contiguous(lines, mirrored.first_seq)


async def test_agent_restart_is_a_new_epoch(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    a1 = await start_agent(redis_server.url, "app")
    a1.write(a1.hub.streams["app"], 30)
    w = await start_server(web_config(redis_server.url))
    await apoll(lambda: "app" in w.hub.streams and w.hub.streams["app"].last_seq == 30)
    old_epoch = w.hub.streams["app"].epoch
    # Subscribed in the URL: done when the hello comes (a status frame is not
    # replayed, so the subscription must be in place before the stop).
    client = await ws_connect(session, w.ws_url + "?streams=*&tail=0")
    await client.recv_type("hello")
    await a1.agent.stop()  # a clean stop: the stream stays, marked stopped
    frame = await client.recv_type("status")
    assert frame["state"] == "error" and "stopped" in frame["message"]

    a2 = await start_agent(redis_server.url, "app")
    a2.write(a2.hub.streams["app"], 5)
    await apoll(lambda: "app" in w.hub.streams and w.hub.streams["app"].epoch != old_epoch)
    new_epoch = w.hub.streams["app"].epoch
    while True:  # the old stream's removal, then the new one
        infos = (await client.recv_type("streams"))["streams"]
        if any(s["id"] == "app" and s["epoch"] == new_epoch for s in infos):
            break
    lines = await client.wait_lines("app", 5)
    assert texts(lines) == [f"app {n}" for n in range(1, 6)]
    r = aioredis.from_url(redis_server.url)
    try:
        assert not await r.exists(lines_key("app", old_epoch))  # the old epoch is deleted
    finally:
        await r.aclose()


async def test_own_streams_keep_their_controller_and_stats_provider(
    redis_server: RedisServer, start_agent: Callable[..., Any]
) -> None:
    """``serve --redis SOURCE``: the node's own streams come back through Redis and
    still answer restart/stop and /stats; another agent's stream does not."""
    other = await start_agent(redis_server.url, "remote")
    local = Hub(10)
    own = local.add_stream("own", "cmd")
    controller = FakeController()
    own.controller = controller
    own.stats_provider = fake_stats
    local.set_state(own, "live")
    publisher = Publisher(redis_server.url, local)
    hub = Hub(10)
    mirror = Mirror(redis_server.url, hub, local)
    await publisher.start()
    await mirror.start()
    try:
        await apoll(lambda: {"own", "remote"} <= set(hub.streams))
        assert hub.streams["own"].controller is controller
        assert hub.streams["own"].stats_provider is fake_stats
        assert hub.streams["remote"].controller is None
        assert hub.streams["remote"].stats_provider is None
        assert other.hub.streams["remote"].epoch == hub.streams["remote"].epoch
        stats = mirror.statistics()
        assert stats["connected"] is True and stats["streams"] == 2
    finally:
        await publisher.stop()
        await mirror.stop()


async def test_lines_keep_the_agents_numbers_and_bytes(
    redis_server: RedisServer, start_agent: Callable[..., Any]
) -> None:
    a = await start_agent(redis_server.url, "app")
    a.write(a.hub.streams["app"], 5)  # history, read before the stream is announced
    await apoll(lambda: a.agent.publisher.lines_published == 5)
    hub = Hub(100)
    mirror = Mirror(redis_server.url, hub)
    await mirror.start()
    try:
        await apoll(lambda: "app" in hub.streams and hub.streams["app"].last_seq == 5)
        a.write(a.hub.streams["app"], 5)  # followed
        await apoll(lambda: hub.streams["app"].last_seq == 10)
        assert hub.streams["app"].lines_after(0, 10) == a.hub.streams["app"].lines_after(0, 10)
        assert mirror.lines_mirrored == 5  # the history is adopted, not mirrored line by line
    finally:
        await mirror.stop()
