"""tailcast.multihost.reconnect: the one reconnect loop, alone and with a real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import redis.exceptions

from tailcast.errors import ConnectionLost
from tailcast.multihost import reconnect
from tailcast.multihost.reconnect import Link, reconnect_forever
from tests.helpers import apoll, assert_contiguous, texts, ws_connect
from tests.multihost.conftest import RedisServer, closed_port, web_config


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


async def test_loop_syncs_again_after_each_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconnect, "BACKOFF", (0.0,))
    connected = asyncio.Event()
    calls: list[str] = []
    errors: list[tuple[str, bool]] = []
    backs: list[int] = []
    fail_sync = [False, True]  # the first sync works, the next one fails once

    async def sync() -> None:
        calls.append("sync")
        if fail_sync and fail_sync.pop(0):
            raise ConnectionLost("sync failed")

    async def work() -> None:
        calls.append("work")
        if calls.count("work") == 1:
            raise ConnectionLost("work failed")
        await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(
        reconnect_forever(
            connected,
            sync,
            work,
            lambda: backs.append(1),
            lambda exc, started: errors.append((str(exc), started)),
        )
    )
    try:
        await apoll(lambda: calls.count("work") == 2)
        # The outage is reported as started once, on its first failure.
        assert errors == [("work failed", True), ("sync failed", False)]
        assert calls == ["sync", "work", "sync", "sync", "work"]
        assert len(backs) == 2 and connected.is_set()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_refusal_is_an_outage_not_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """WRONGTYPE (a key another program wrote), in sync as in work: retried until it passes."""
    monkeypatch.setattr(reconnect, "BACKOFF", (0.0,))
    refusal = redis.exceptions.ResponseError("WRONGTYPE Operation against a key")
    failures = [True, True]  # work refused, then the next sync, then all well
    errors: list[str] = []
    calls: list[str] = []

    async def sync() -> None:
        calls.append("sync")
        if len(calls) > 1 and failures and failures.pop(0):
            raise refusal

    async def work() -> None:
        calls.append("work")
        if failures and failures.pop(0):
            raise refusal
        await asyncio.Event().wait()  # until cancelled

    connected = asyncio.Event()
    task = asyncio.create_task(
        reconnect_forever(connected, sync, work, lambda: None, lambda e, s: errors.append(str(e)))
    )
    try:
        await apoll(lambda: calls.count("work") == 2 and connected.is_set())
        assert calls == ["sync", "work", "sync", "sync", "work"]
        assert errors == [str(refusal)] * 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_loop_ends_on_an_error_that_is_not_an_outage() -> None:
    async def sync() -> None: ...

    async def work() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await reconnect_forever(asyncio.Event(), sync, work, lambda: None, lambda e, s: None)


async def test_link_counts_outages_and_reconnections(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("tests.multihost.link")
    outages: list[str] = []
    link = Link(redis_server.url, log, "testing", "waiting", on_outage=outages.append)
    syncs: list[int] = []

    async def sync(client: Any) -> None:
        await client.ping()
        syncs.append(1)

    async def work(client: Any) -> None:
        while True:
            await client.ping()
            await asyncio.sleep(0.01)  # pacing the pings, not synchronisation

    caplog.set_level(logging.WARNING, logger=log.name)
    await link.start(sync, work)
    try:
        assert link.running and link.connected.is_set() and syncs == [1]
        redis_server.kill()
        await apoll(lambda: not link.connected.is_set())
        await apoll(lambda: link.last_error is not None)
        redis_server.restart()
        # One outage, one reconnection, one sync more — or, when a pooled
        # connection from before the restart fails once more right after it
        # (seen under load), as many of each: never one without the others.
        await apoll(
            lambda: (
                link.connected.is_set()
                and link.reconnects >= 1
                and len(outages) == link.reconnects
                and len(syncs) == link.reconnects + 1
            ),
            timeout=20,
        )
        messages = [r.getMessage() for r in caplog.records if r.name == log.name]
        assert [m for m in messages if "unreachable" in m and m.endswith(": waiting")]
        assert f"redis {redis_server.url} is back: testing resumed" in messages
    finally:
        await link.cancel()
        await link.close()
    assert not link.running and link.client is None


async def test_link_start_raises_when_the_first_sync_fails() -> None:
    async def sync(client: Any) -> None:
        await client.ping()

    async def work(client: Any) -> None: ...

    with closed_port() as port:
        link = Link(f"redis://127.0.0.1:{port}", logging.getLogger("t"), "testing", "waiting")
        with pytest.raises(redis.exceptions.ConnectionError):
            await link.start(sync, work)
    assert not link.running
    await link.close()


async def test_cancel_ends_a_task_that_lost_the_first_cancellation(
    redis_server: RedisServer,
) -> None:
    """Python < 3.12's ``asyncio.wait_for`` (redis-py writes through it) may drop a cancel.

    The race cannot be made to happen on demand, so the work here drops the
    first cancellation itself, as ``wait_for`` does when the write completes
    in the same loop turn; ``cancel()`` must still end the task.
    """
    link = Link(redis_server.url, logging.getLogger("tests.multihost.cancel"), "testing", "waiting")
    dropped: list[int] = []
    working: list[int] = []

    async def sync(client: Any) -> None:
        await client.ping()

    async def work(client: Any) -> None:
        working.append(1)
        while True:
            try:
                await client.ping()
                await asyncio.sleep(0.01)  # pacing the pings, not synchronisation
            except asyncio.CancelledError:
                if dropped:
                    raise
                dropped.append(1)  # lost, as in the wait_for race

    await link.start(sync, work)
    try:
        # Cancelled inside work, where the cancellation is dropped: not before the
        # task first ran (whether it has by then is up to the loop and wait_for).
        await apoll(lambda: working)
        await asyncio.wait_for(link.cancel(), timeout=10 * reconnect.CANCEL_RETRY + 10)
        assert dropped == [1] and not link.running
    finally:
        await link.close()
