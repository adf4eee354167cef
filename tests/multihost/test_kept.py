"""A web node keeps what it mirrors in its data dir (tailcast.multihost.kept, Mirror).

A real redis-server; web nodes as real ``tailcast serve --redis --data-dir``
processes where they are killed, in-process where the test needs to read
Redis's exact batches; in-process agents fed by the test, so every line is
known. Restarted with the same data dir, a node serves what it kept, under
the agent's epoch and numbers, and mirrors on from its last kept seq.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from tailcast.history.store import HistoryStore
from tailcast.hub import Hub
from tailcast.multihost import keys
from tailcast.multihost.kept import FILE_NAME, KeptRecords
from tailcast.multihost.mirror import Mirror
from tailcast.multihost.publisher import Publisher
from tests.helpers import DEADLINE, apoll, assert_contiguous, run_tailcast, texts, ws_connect
from tests.multihost.conftest import AgentHarness, RedisServer, redis_seqs, web_config, writer
from tests.multihost.test_mirror import FakeController


async def infos(session: aiohttp.ClientSession, url: str) -> dict[str, dict[str, Any]]:
    async with session.get(url + "api/streams") as resp:
        body = await resp.json()
    return {s["id"]: s for s in body["streams"]}


async def kept_lines(session: aiohttp.ClientSession, url: str, stream_id: str) -> list[Any]:
    """Every line ``/api/streams/ID/lines`` pages forward through, from the first."""
    lines: list[Any] = []
    while True:
        since = lines[-1]["seq"] if lines else 0
        path = f"{url}api/streams/{stream_id}/lines?since={since}&limit=10000"
        async with session.get(path) as resp:
            page: list[Any] = (await resp.json())["lines"]
        if not page:
            return lines
        lines.extend(page)


async def test_a_web_node_killed_mid_burst_resumes_from_its_data_dir(
    tmp_path: Path,
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    url = redis_server.url
    agent: AgentHarness = await start_agent(url, "app", history=100_000)
    epoch = agent.hub.streams["app"].epoch
    serve = ("serve", "--redis", url, "--port", "0", "--data-dir", str(tmp_path / "web"))
    total = 30_000
    # The second half only once the node is killed: however far behind the node
    # is (it may read tens of thousands of lines at once), the kill comes before
    # the end of the burst.
    killed = asyncio.Event()
    with run_tailcast(*serve) as first:
        c1 = await ws_connect(session, first.ws_url)
        # since 0: every line from the first, whenever the node applies the subscribe
        await c1.send({"type": "subscribe", "streams": ["app"], "since": {"app": 0}})
        writing = asyncio.create_task(writer(agent, "app", total, 100, halfway=killed))
        await c1.wait_lines("app", total // 5)
        first.stop(signal.SIGKILL)  # mid-burst: no clean shutdown
        killed.set()
        await c1.wait_closed()  # every frame it was sent before the kill
    had = c1.lines["app"]
    assert had[-1]["seq"] < total, "the kill must come mid-burst"
    with run_tailcast(*serve) as second:
        info = (await infos(session, second.url))["app"]
        # Served from the data dir at once: the agent's epoch, every line it kept.
        assert info["epoch"] == epoch and info["first_seq"] == 1
        assert info["last_seq"] >= had[-1]["seq"]
        c2 = await ws_connect(session, second.ws_url)
        await c2.send({"type": "subscribe", "streams": ["app"], "since": {"app": had[-1]["seq"]}})
        await writing
        got = await c2.wait_lines("app", total - had[-1]["seq"], timeout=4 * DEADLINE)
        whole = had + got
        assert_contiguous(whole, 1)  # every line exactly once, across the kill
        assert texts(whole) == [f"app {n}" for n in range(1, total + 1)]
        assert not [f for f in c1.frames + c2.frames if f["type"] == "gap"]
        assert len(await kept_lines(session, second.url, "app")) == total


async def test_kept_lines_are_served_after_redis_lost_them(
    tmp_path: Path,
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    url = redis_server.url
    agent: AgentHarness = await start_agent(url, "app")
    stream = agent.hub.streams["app"]
    agent.write(stream, 500)
    serve = ("serve", "--redis", url, "--port", "0", "--data-dir", str(tmp_path / "web"))
    with run_tailcast(*serve) as first:

        async def mirrored() -> bool:
            last_seq: int = (await infos(session, first.url))["app"]["last_seq"]
            return last_seq == 500

        deadline = asyncio.get_running_loop().time() + DEADLINE
        while not await mirrored():
            assert asyncio.get_running_loop().time() < deadline, "500 lines not mirrored"
            await asyncio.sleep(0.05)
    r: Any = aioredis.from_url(url)
    try:
        await r.flushall()  # Redis forgets everything while the node is down
    finally:
        await r.aclose()
    with run_tailcast(*serve) as second:
        assert second.streams == 1
        info = (await infos(session, second.url))["app"]
        assert (info["epoch"], info["first_seq"], info["last_seq"]) == (stream.epoch, 1, 500)
        assert texts(await kept_lines(session, second.url, "app")) == [
            f"app {n}" for n in range(1, 501)
        ]
        # And it mirrors on: the agent's next lines land in the key the node reads.
        client = await ws_connect(session, second.ws_url)
        await client.send({"type": "subscribe", "streams": ["app"], "since": {"app": 500}})
        agent.write(stream, 10)
        got = await client.wait_lines("app", 10)
        assert [line["seq"] for line in got] == list(range(501, 511))


async def test_lines_trimmed_while_the_node_was_down_are_one_exact_gap(
    tmp_path: Path,
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    url = redis_server.url
    agent: AgentHarness = await start_agent(url, "app", history=100_000)
    stream = agent.hub.streams["app"]
    key = keys.lines_key("app", stream.epoch)

    async def write_batches(upto: int) -> None:
        """Batches of 50 (one entry each: each is in Redis before the next)."""
        while stream.last_seq < upto:
            agent.write(stream, 50)
            want = list(range(1, stream.last_seq + 1))
            deadline = asyncio.get_running_loop().time() + DEADLINE
            while await redis_seqs(url, key) != want:
                assert asyncio.get_running_loop().time() < deadline, "not published"
                await asyncio.sleep(0.02)

    config = web_config(url, data_dir=str(tmp_path / "web"))
    await write_batches(300)
    first = await start_server(config)
    await apoll(lambda: "app" in first.hub.streams and first.hub.streams["app"].last_seq == 300)
    await first.stop()
    await write_batches(600)  # 301..600 while the node is down; then Redis trims 301..450
    r: Any = aioredis.from_url(url)
    try:
        await r.xtrim(key, minid="451-0")
    finally:
        await r.aclose()
    second = await start_server(config)
    await apoll(lambda: second.hub.streams["app"].last_seq == 600)
    kept = second.hub.streams["app"]
    assert (kept.epoch, kept.first_seq) == (stream.epoch, 1)  # 1..300 from its data dir
    client = await ws_connect(session, second.ws_url)
    await client.send({"type": "subscribe", "streams": ["app"], "since": {"app": 250}})
    got = await client.wait_lines("app", 50 + 150)
    gaps = [f for f in client.frames if f["type"] == "gap"]
    assert gaps == [{"type": "gap", "stream": "app", "from": 301, "to": 450}]
    assert [line["seq"] for line in got] == list(range(251, 301)) + list(range(451, 601))


async def test_a_new_agent_epoch_replaces_the_kept_copy(
    tmp_path: Path,
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
) -> None:
    url = redis_server.url
    old: AgentHarness = await start_agent(url, "app")
    old.write(old.hub.streams["app"], 100)
    config = web_config(url, data_dir=str(tmp_path / "web"))
    first = await start_server(config)
    await apoll(lambda: "app" in first.hub.streams and first.hub.streams["app"].last_seq == 100)
    await first.stop()
    await old.agent.stop()
    new: AgentHarness = await start_agent(url, "app")  # no data dir: numbering restarts
    new.write(new.hub.streams["app"], 20)
    second = await start_server(config)
    await apoll(
        lambda: (
            second.hub.streams["app"].epoch == new.hub.streams["app"].epoch
            and second.hub.streams["app"].last_seq == 20
        )
    )
    stream = second.hub.streams["app"]
    assert stream.first_seq == 1
    assert [json.loads(line)["text"] for line in stream.lines_after(0)[1]] == [
        f"app {n}" for n in range(1, 21)
    ]
    saved = json.loads((tmp_path / "web" / FILE_NAME).read_bytes())
    assert saved["app"]["epoch"] == new.hub.streams["app"].epoch


def test_kept_records_round_trip_and_a_damaged_file_is_no_record(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    record = keys.StreamRecord("app", "app", "file", "e-1", "live", "k", "agent-1")
    kept = KeptRecords(path)
    kept.put(record)
    inode = path.stat().st_ino
    kept.put(record)  # unchanged: not written again
    assert path.stat().st_ino == inode
    assert KeptRecords(path).load() == [record]
    kept.remove("app")
    assert KeptRecords(path).load() == []
    path.write_bytes(b'{"app": {"id": "app"}, "torn')
    assert KeptRecords(path).load() == []
    assert KeptRecords(None).load() == []


async def test_a_restored_own_stream_keeps_its_controller(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The node's own process stream, restored from the data dir, still answers restart/stop."""
    url = redis_server.url
    epochs: list[str] = []
    for run in range(2):
        own_store = HistoryStore.open(tmp_path / "own")
        store = HistoryStore.open(tmp_path / "web")
        local, hub = Hub(10, store=own_store), Hub(10, store=store)
        own = local.add_stream("job", "cmd")
        controller = FakeController()
        own.controller = controller
        local.set_state(own, "live")
        if run == 0:
            local.publish_lines(own, [(1.0, f"job {n}", "out", False) for n in (1, 2, 3)])
        publisher, mirror = Publisher(url, local), Mirror(url, hub, local)
        await publisher.start()
        await mirror.start()
        try:

            def mirrored(hub: Hub = hub) -> bool:
                return "job" in hub.streams and hub.streams["job"].last_seq == 3

            await apoll(mirrored)
            assert hub.streams["job"].controller is controller
            epochs.append(hub.streams["job"].epoch)
        finally:
            await publisher.stop()
            await mirror.stop()
            store.close()
            own_store.close()
    assert epochs[0] == epochs[1]  # kept on both sides: the same stream
