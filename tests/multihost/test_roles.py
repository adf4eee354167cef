"""Multi-host mode against a real redis-server: agents -> Redis -> web nodes.

Agents and web nodes run in-process (real hubs, real Redis, real WebSockets on
loopback); the agents' streams are fed by the test so that every line is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from tailcast.redis_link import lines_key
from tests.conftest import make_config
from tests.helpers import apoll, assert_contiguous, texts, ws_connect
from tests.multihost.conftest import AgentHarness, RedisServer


def web_config(url: str, **overrides: Any) -> Any:
    return make_config(redis=url, **overrides)


async def writer(agent: AgentHarness, stream_id: str, total: int, per_step: int) -> None:
    """Feed lines at a steady pace (pacing, not synchronisation)."""
    stream = agent.hub.streams[stream_id]
    while stream.last_seq < total:
        agent.write(stream, min(per_step, total - stream.last_seq))
        await asyncio.sleep(0.005)


async def test_two_agents_two_web_nodes_client_moves_between_nodes(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    url = redis_server.url
    a = await start_agent(url, "alpha")
    b = await start_agent(url, "beta")
    w1 = await start_server(web_config(url))
    w2 = await start_server(web_config(url))
    for w in (w1, w2):
        await apoll(lambda w=w: {"alpha", "beta"} <= set(w.hub.streams))
    # Every web node numbers alike: the same epoch as the agent.
    for sid, agent in (("alpha", a), ("beta", b)):
        epoch = agent.hub.streams[sid].epoch
        assert w1.hub.streams[sid].epoch == w2.hub.streams[sid].epoch == epoch

    total = 3000
    writing = asyncio.gather(writer(a, "alpha", total, 20), writer(b, "beta", total, 20))
    c1 = await ws_connect(session, w1.ws_url)
    await c1.send({"type": "subscribe", "streams": ["alpha", "beta"], "since": {}, "tail": 0})
    await c1.wait_lines("alpha", 300)
    await c1.ws.close()  # mid-stream: the writers go on
    since = {sid: lines[-1]["seq"] for sid, lines in c1.lines.items()}
    assert since["alpha"] < total, "the move must happen mid-stream"

    c2 = await ws_connect(session, w2.ws_url)
    await c2.send({"type": "subscribe", "streams": ["alpha", "beta"], "since": since})
    await writing
    for sid in ("alpha", "beta"):
        got = await c2.wait_lines(sid, total - since.get(sid, 0))
        whole = c1.lines.get(sid, []) + got
        first = whole[0]["seq"]
        assert_contiguous(whole, first)  # every line once, across the two nodes
        assert whole[-1]["seq"] == total
        assert texts(whole) == [f"{sid} {n}" for n in range(first, total + 1)]
    assert not [f for f in c1.frames + c2.frames if f["type"] == "gap"]
    # The bytes are the agent's: identical lines from both nodes' history.
    async with session.get(f"{w1.url}api/streams/alpha/lines?since=100&limit=5") as r1:
        body1 = await r1.json()
    async with session.get(f"{w2.url}api/streams/alpha/lines?since=100&limit=5") as r2:
        body2 = await r2.json()
    assert body1 == body2
    assert [line["seq"] for line in body1["lines"]] == [101, 102, 103, 104, 105]


async def test_redis_killed_and_restarted_mid_stream(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    a = await start_agent(redis_server.url, "app")
    w = await start_server(web_config(redis_server.url))
    await apoll(lambda: "app" in w.hub.streams)
    client = await ws_connect(session, w.ws_url)
    await client.send({"type": "subscribe", "streams": ["app"], "tail": 0})
    stream = a.hub.streams["app"]
    a.write(stream, 100)
    await client.wait_lines("app", 100)

    redis_server.kill()
    # The outage is visible to clients, and lines keep coming into the agent's ring.
    frame = await client.recv_type("status")
    assert frame["state"] == "error" and "redis" in frame["message"]
    a.write(stream, 400)
    await apoll(lambda: not a.agent.publisher.connected.is_set())

    redis_server.restart()  # an empty Redis: everything comes from the agent's ring
    lines = await client.wait_lines("app", 500, timeout=20)
    assert_contiguous(lines, 1)
    assert texts(lines)[-1] == "app 500"
    # The real state is back (the status frame came before or among the lines).
    await apoll(lambda: w.hub.streams["app"].state == "live")
    states = [f["state"] for f in client.frames if f["type"] == "status"]
    assert states[0] == "error" and "live" in states[1:], states
    a.write(stream, 10)
    assert_contiguous(await client.wait_lines("app", 510), 1)
    assert a.agent.publisher.lines_lost == 0
    assert a.agent.publisher.reconnects >= 1
    assert w.server.redis is not None and w.server.redis.mirror.reconnects >= 1
    assert not [f for f in client.frames if f["type"] == "gap"]


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
    assert a.agent.publisher.lines_lost == 150


async def test_maxlen_trimming_shows_as_a_gap(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    a = await start_agent(redis_server.url, "app", history=100)
    stream = a.hub.streams["app"]
    for n in range(1, 21):
        a.write(stream, 100)  # no more than the agent's ring holds, then wait
        await apoll(lambda n=n: a.agent.publisher.lines_published >= 100 * n)
    assert a.agent.publisher.lines_lost == 0
    r = aioredis.from_url(redis_server.url)
    try:
        length = await r.xlen(lines_key("app", stream.epoch))
    finally:
        await r.aclose()
    assert 100 <= length < 2000  # MAXLEN ~ 100: trimmed, never below the history

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
    client = await ws_connect(session, w.ws_url)
    await client.send({"type": "subscribe", "streams": ["*"], "tail": 0})
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
    r = aioredis.from_url(redis_server.url)
    try:
        for _ in range(5):
            a.write(stream, 200)
            await r.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        lines = await client.wait_lines("app", 1000, timeout=20)
        assert_contiguous(lines, 1)
        assert await r.xlen(lines_key("app", stream.epoch)) == 1000
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


async def test_tls_and_password_from_the_url(
    redis_factory: Callable[..., RedisServer],
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    """rediss:// with a CA file and a password: the same path, encrypted."""
    redis = redis_factory(password="tls-pw", tls=True)
    assert redis.url.startswith("rediss://:tls-pw@")
    a = await start_agent(redis.url, "secure")
    a.write(a.hub.streams["secure"], 20)
    w = await start_server(web_config(redis.url))
    await apoll(lambda: "secure" in w.hub.streams)
    client = await ws_connect(session, w.ws_url)
    await client.send({"type": "subscribe", "streams": ["secure"], "since": {"secure": 0}})
    lines = await client.wait_lines("secure", 20)
    assert texts(lines) == [f"secure {n}" for n in range(1, 21)]
