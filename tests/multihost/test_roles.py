"""tailcast.multihost.roles: agents and web nodes wired from a Config, end to end.

Agents and web nodes run in-process (real hubs, real Redis, real WebSockets on
loopback); the agents' streams are fed by the test so that every line is known.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tailcast.config import parse_source
from tailcast.errors import ConfigError
from tailcast.hub import Hub
from tailcast.multihost.publisher import LINGER
from tailcast.multihost.roles import Agent, WebNode
from tailcast.server import OWN_DIR
from tests.harness import ServerHarness, make_config
from tests.helpers import apoll, assert_contiguous, texts, ws_connect
from tests.multihost.conftest import RedisServer, closed_port, web_config, writer


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

        def both_mirrored(w: ServerHarness = w) -> bool:
            return {"alpha", "beta"} <= set(w.hub.streams)

        await apoll(both_mirrored)
    # Every web node numbers alike: the same epoch as the agent.
    for sid, agent in (("alpha", a), ("beta", b)):
        epoch = agent.hub.streams[sid].epoch
        assert w1.hub.streams[sid].epoch == w2.hub.streams[sid].epoch == epoch

    total = 3000
    # The second half only once c1 has left w1: however far behind w1 is (it may
    # read a whole burst at once), the move comes mid-stream.
    moved = asyncio.Event()
    writing = asyncio.gather(
        writer(a, "alpha", total, 20, halfway=moved), writer(b, "beta", total, 20, halfway=moved)
    )
    c1 = await ws_connect(session, w1.ws_url)
    await c1.send({"type": "subscribe", "streams": ["alpha", "beta"], "since": {}, "tail": 0})
    await c1.wait_lines("alpha", 300)
    await c1.ws.close()  # mid-stream: the writers go on
    since = {sid: lines[-1]["seq"] for sid, lines in c1.lines.items()}
    moved.set()
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


def test_agent_needs_a_redis_url() -> None:
    with pytest.raises(ConfigError, match="--redis URL is required") as info:
        Agent(make_config(), sources=[])
    assert info.value.option == "redis"


def test_an_agents_file_sources_step_with_its_publishers_linger(tmp_path: Path) -> None:
    # Its lines wait up to LINGER for a round trip anyway: reading the file
    # more often would only cost more (a line-at-a-time writer, 50 agents).
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    agent = Agent(make_config(redis="redis://127.0.0.1:1/0", sources=(parse_source(str(log)),)))
    try:
        assert agent.config.file_step == LINGER > 0
        assert [s.min_step for s in agent.sources] == [LINGER]  # type: ignore[attr-defined]
    finally:
        agent.close_store()


def test_a_bad_url_is_refused_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match="--redis"):
        Agent(make_config(redis="bad://x"), sources=[])
    with pytest.raises(ConfigError, match="--redis"):
        WebNode("http://127.0.0.1:6379", Hub(10))


async def test_web_node_publishes_only_when_it_has_sources_of_its_own(
    redis_server: RedisServer,
) -> None:
    alone = WebNode(redis_server.url, Hub(10))
    with_own = WebNode(redis_server.url, Hub(10), Hub(10))
    assert alone.publisher is None and with_own.publisher is not None
    await alone.start()
    await with_own.start()
    try:
        assert set(alone.statistics()) == {"mirror"}
        assert set(with_own.statistics()) == {"mirror", "publisher"}
        assert alone.statistics()["mirror"]["connected"] is True
    finally:
        await with_own.stop()
        await alone.stop()


async def test_unreachable_redis_fails_the_start(start_agent: Callable[..., Any]) -> None:
    with closed_port() as port, pytest.raises(ConfigError, match="cannot reach"):
        await start_agent(f"redis://127.0.0.1:{port}", "app")


async def test_a_web_nodes_own_sources_keep_their_history_in_its_data_dir(
    tmp_path: Path, redis_server: RedisServer, start_server: Callable[..., Any]
) -> None:
    """``serve --redis URL --data-dir DIR FILE``: the file's stream goes on like an agent's."""
    log = tmp_path / "own.log"
    log.write_text("one\ntwo\n")
    data = tmp_path / "web"
    config = web_config(redis_server.url, data_dir=str(data), lines=10)
    spec = parse_source(f"own={log}")
    first = await start_server(config, specs=(spec,))
    await apoll(lambda: "own" in first.hub.streams and first.hub.streams["own"].last_seq == 2)
    own_store = first.server.own_store
    assert own_store is not None and own_store.root == data / OWN_DIR
    # One --disk-budget for the mirrored streams and the node's own together.
    assert own_store.disk_budget + first.server.store.disk_budget == config.disk_budget
    assert own_store.disk_budget > 0 and first.server.store.disk_budget > 0
    epoch = first.server.source_hub.streams["own"].epoch
    await first.stop()
    with log.open("a") as f:
        f.write("three\n")  # while the node is down: read on from where it was
    second = await start_server(config, specs=(spec,))
    await apoll(lambda: "own" in second.hub.streams and second.hub.streams["own"].last_seq == 3)
    # The same epoch as published and as mirrored: clients' positions stay valid.
    assert second.server.source_hub.streams["own"].epoch == epoch
    assert second.hub.streams["own"].epoch == epoch
    _, lines = second.hub.streams["own"].lines_after(0)
    assert [json.loads(line)["text"] for line in lines] == ["one", "two", "three"]
