"""tailcast.multihost.outgoing: an agent's streams share round trips (a real redis-server)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from tailcast.multihost import outgoing
from tailcast.multihost import publisher as publisher_module
from tailcast.multihost.keys import lines_key
from tailcast.multihost.outgoing import PIPELINE
from tests.helpers import apoll
from tests.multihost.conftest import RedisServer, redis_seqs


async def test_many_streams_share_round_trips(
    redis_server: RedisServer, start_agent: Callable[..., Any]
) -> None:
    """40 streams with a few lines each: ceil(40 / PIPELINE) round trips, not 40."""
    names = [f"s{i:02d}" for i in range(40)]
    a = await start_agent(redis_server.url, *names)
    publisher = a.agent.publisher
    before = publisher.round_trips
    for name in names:  # no await in between: the publisher sees them all at once
        a.write(a.hub.streams[name], 5)
    await apoll(lambda: publisher.lines_published == 200)
    assert publisher.round_trips - before == math.ceil(len(names) / PIPELINE)
    for name in names:
        key = lines_key(name, a.hub.streams[name].epoch)
        assert await redis_seqs(redis_server.url, key) == [1, 2, 3, 4, 5]


async def test_a_burst_beside_quiet_streams(
    redis_server: RedisServer, start_agent: Callable[..., Any]
) -> None:
    """A stream's batches are never split between round trips; every line lands once."""
    a = await start_agent(redis_server.url, "busy", "q1", "q2", "q3")
    streams = a.hub.streams
    a.write(streams["q1"], 3)
    a.write(streams["busy"], 20_500)  # 21 batches: more than one round trip's worth
    a.write(streams["q2"], 1)
    a.write(streams["q3"], 2)
    await apoll(lambda: a.agent.publisher.lines_published == 20_506)
    for name, count in (("busy", 20_500), ("q1", 3), ("q2", 1), ("q3", 2)):
        key = lines_key(name, streams[name].epoch)
        assert await redis_seqs(redis_server.url, key) == list(range(1, count + 1)), name


async def test_a_refused_entry_holds_back_only_its_stream(
    redis_server: RedisServer, start_agent: Callable[..., Any]
) -> None:
    """One stream's key is not a stream (WRONGTYPE) in the middle of a round trip.

    The streams before and after it in the same round trip are counted and not
    sent again; once the key is fixed, the refused stream's lines land, once.
    """
    a = await start_agent(redis_server.url, "a", "bad", "c")
    publisher = a.agent.publisher
    streams = a.hub.streams
    key = {name: lines_key(name, streams[name].epoch) for name in streams}
    r: Any = aioredis.from_url(redis_server.url)
    try:
        await r.set(key["bad"], b"not a stream")
        for name in ("a", "bad", "c"):
            a.write(streams[name], 5)
        await apoll(lambda: publisher.lines_published == 10 and publisher.last_error is not None)
        assert "WRONGTYPE" in (publisher.last_error or "")
        assert await redis_seqs(redis_server.url, key["a"]) == [1, 2, 3, 4, 5]
        assert await redis_seqs(redis_server.url, key["c"]) == [1, 2, 3, 4, 5]
        await r.delete(key["bad"])
        await apoll(lambda: publisher.lines_published == 15)
        assert await redis_seqs(redis_server.url, key["bad"]) == [1, 2, 3, 4, 5]
        a.write(streams["c"], 2)  # and the others go on from where they were
        await apoll(lambda: publisher.lines_published == 17)
        assert await redis_seqs(redis_server.url, key["c"]) == list(range(1, 8))
        assert await redis_seqs(redis_server.url, key["a"]) == [1, 2, 3, 4, 5]
    finally:
        await r.aclose()


async def test_a_stream_removed_during_its_round_trip_is_forgotten(
    redis_server: RedisServer, start_agent: Callable[..., Any], monkeypatch: Any
) -> None:
    """Removed while its entries are on the way: its numbers are not set again afterwards.

    (A fake around the real send: the removal must land inside the round trip.)
    """
    a = await start_agent(redis_server.url, "gone", "stays")
    publisher = a.agent.publisher
    real_send = outgoing.send
    removed: list[str] = []

    async def send_removing(*args: Any) -> list[Any]:
        if not removed:
            removed.append("gone")
            a.hub.remove_stream("gone")  # what a glob match deleted does, mid round trip
        return await real_send(*args)

    monkeypatch.setattr(publisher_module, "send", send_removing)
    a.write(a.hub.streams["gone"], 3)
    a.write(a.hub.streams["stays"], 4)
    await apoll(lambda: publisher.lines_published == 7)
    assert removed == ["gone"]
    assert "gone" not in publisher._published and "gone" not in publisher._confirmed
    stays = lines_key("stays", a.hub.streams["stays"].epoch)
    assert await redis_seqs(redis_server.url, stays) == [1, 2, 3, 4]
