"""Following a container's log: the TTY form, long lines the engine split,
resuming without loss or repeat after the engine restarts (a real engine, from
``conftest.py``), and what a real engine will not do on demand, against a
fault-injecting fake engine on a unix socket: a connection dropped inside a
frame, a response that ends with a truncated frame, a 4 GB length field. The
fake serves records the way Podman does (whole-second timestamps, ``since``
compared inclusively).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from tailcast.config import parse_source
from tailcast.hub import Stream, decode_line
from tailcast.protocol.engine_frames import encode_frame
from tailcast.protocol.engine_time import format_timestamp
from tailcast.sources.docker.source import DockerSource
from tests.harness import make_config
from tests.helpers import apoll
from tests.sources.docker.conftest import (
    DEADLINE,
    Api,
    Engine,
    lines_of,
    serve,
    texts,
    unique,
    until_state,
)

pytestmark = pytest.mark.timeout(120)


async def test_a_tty_container_is_read_raw_crlf_dropped_long_line_joined(
    engine: Engine, api: Api, start_server: Any
) -> None:
    name = unique("tty")
    await api.create(
        'echo hello tty; printf "x%.0s" $(seq 20000); echo; echo end', name=name, tty=True
    )
    h = await serve(start_server, engine, f"docker:{name}")
    stream = h.hub.streams[name]
    await api.start(api.created[-1])
    await until_state(stream, "exited")
    await apoll(lambda: len(texts(stream)) >= 3)
    assert texts(stream) == ["hello tty", "x" * 20000, "end"]
    assert {line["fd"] for line in lines_of(stream)} == {"out"}


async def test_a_long_line_split_by_the_engine_is_one_line(
    engine: Engine, api: Api, start_server: Any
) -> None:
    name = unique("long")
    h = await serve(start_server, engine, f"docker:{name}")
    stream = h.hub.streams[name]
    await api.run('echo first; printf "y%.0s" $(seq 20000); echo; echo last', name=name)
    await until_state(stream, "exited")
    assert texts(stream) == ["first", "y" * 20000, "last"]


async def test_engine_restarted_mid_stream_loses_and_repeats_nothing(
    engine: Engine, api: Api, start_server: Any
) -> None:
    name = unique("tick")
    count = 300
    # ~50 lines a second for ~6 s: many lines share a whole-second timestamp.
    script = f"i=0; while [ $i -lt {count} ]; do echo n=$i; i=$((i+1)); usleep 20000; done"
    h = await serve(start_server, engine, f"docker:{name}")
    stream = h.hub.streams[name]
    source = h.server.sources[0]
    assert isinstance(source, DockerSource)
    await api.run(script, name=name)
    await apoll(lambda: len(stream.ring) >= 60, timeout=DEADLINE)
    before = len(stream.ring)
    await asyncio.to_thread(engine.script, "kill")
    await until_state(stream, "error")
    assert "engine" in stream.state_extra["message"]
    during = len(stream.ring)
    await asyncio.to_thread(engine.script, "revive")
    await until_state(stream, "exited", deadline=60)
    got = texts(stream)
    assert got == [f"n={i}" for i in range(count)], (len(got), got[:3], got[-3:])
    stats = source.statistics()
    assert stats["rounds"] >= 2
    assert stats["duplicates_dropped"] >= 1  # since= asked for lines already published
    print(
        f"engine restart: {before} lines before the kill, {during} when the outage was seen, "
        f"{count} in the end, {stats['duplicates_dropped']} re-sent records dropped, "
        f"{stats['rounds']} rounds"
    )


# -- a fault-injecting fake engine --------------------------------------------------

NS = 1_000_000_000
T0 = 1_714_557_600 * NS
CID = "c0ffee" * 10 + "abcd"
# 30 records, 5 a second: whole-second timestamps repeat.
RECORDS = [(T0 + i * NS // 5, 1 if i % 3 else 2, b"line %d\n" % i) for i in range(30)]


class FakeEngine:
    """Answers the calls DockerSource makes; ``plan`` says how each logs request fails."""

    def __init__(self) -> None:
        self.plan: list[str] = []
        self.log_requests: list[dict[str, str]] = []
        # Streaming answers (events, follow) stay open until the test ends.
        self.stop = asyncio.Event()
        app = web.Application()
        app.router.add_get("/_ping", self.ping)
        app.router.add_get("/events", self.events)
        app.router.add_get("/containers/{name}/json", self.inspect)
        app.router.add_get("/containers/{name}/logs", self.logs)
        self.app = app

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await self.stop.wait()
        return resp

    async def inspect(self, request: web.Request) -> web.Response:
        info = {"Id": CID, "Name": "/web", "Config": {"Tty": False}, "State": {"Running": True}}
        return web.json_response(info)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        self.log_requests.append(params)
        since = int(params["since"]) * NS if "since" in params else 0
        wire = b"".join(
            encode_frame(fd, format_timestamp(ts, fraction=False) + b" " + text)
            for ts, fd, text in RECORDS
            if ts >= since
        )
        mode = self.plan.pop(0) if self.plan else "ok"
        resp = web.StreamResponse()
        await resp.prepare(request)
        if mode == "drop":  # connection lost in the middle of a frame
            await resp.write(wire[: len(wire) // 2 + 3])
            assert request.transport is not None
            request.transport.close()
            return resp
        if mode == "truncated":  # a clean end of response, inside a frame
            await resp.write(wire[: len(wire) // 3 + 5])
            await resp.write_eof()
            return resp
        if mode == "huge":  # a 4 GB length field
            await resp.write(b"\x01\x00\x00\x00\xff\xff\xff\xff" + b"x" * 100)
            await self.stop.wait()
            return resp
        await resp.write(wire)
        await self.stop.wait()  # follow: stay open
        return resp


@pytest_asyncio.fixture
async def fake(tmp_path: Path) -> AsyncIterator[tuple[FakeEngine, str]]:
    engine = FakeEngine()
    runner = web.AppRunner(engine.app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    path = str(tmp_path / "fake.sock")
    site = web.UnixSite(runner, path)
    await site.start()
    try:
        yield engine, path
    finally:
        engine.stop.set()
        await runner.cleanup()


def piece_texts(stream: Stream) -> list[str]:
    """Every piece in the ring as it is (a ``cont`` piece is not joined)."""
    return [decode_line(b)["text"] for b in stream.ring]


async def start(start_server: Any, path: str) -> tuple[Stream, DockerSource]:
    cfg = make_config(docker_host=f"unix://{path}", flush_delay=0.1)
    h = await start_server(cfg, specs=(parse_source("docker:web"),))
    source = h.server.sources[0]
    assert isinstance(source, DockerSource)
    return h.hub.streams["web"], source


EXPECTED = [f"line {i}" for i in range(30)]


@pytest.mark.timeout(60)
async def test_dropped_mid_frame_and_truncated_responses_resume_without_loss_or_repeat(
    fake: tuple[FakeEngine, str], start_server: Any
) -> None:
    engine, path = fake
    engine.plan = ["drop", "truncated", "drop"]
    stream, source = await start(start_server, path)
    await apoll(lambda: len(stream.ring) >= 30 and not engine.plan)
    await apoll(lambda: len(engine.log_requests) >= 4)
    assert piece_texts(stream) == EXPECTED
    assert [decode_line(b)["fd"] for b in stream.ring][:3] == ["err", "out", "out"]
    # The first request reads everything (no backlog limit on a fake that is
    # not Podman: tail); every later one resumes with since=.
    assert all("since" in params for params in engine.log_requests[1:])
    assert source.statistics()["duplicates_dropped"] > 0
    assert stream.state == "live"


@pytest.mark.timeout(60)
async def test_a_four_gigabyte_length_is_an_error_state_not_an_allocation(
    fake: tuple[FakeEngine, str], start_server: Any
) -> None:
    engine, path = fake
    engine.plan = ["huge"]
    stream, _ = await start(start_server, path)
    seen: list[str] = []

    def errored() -> bool:
        message = stream.state_extra.get("message", "")
        if stream.state == "error":
            seen.append(message)
        return bool(seen)

    await apoll(errored)
    assert "4294967295" in seen[0] and "over the limit" in seen[0]
    # It reconnects by itself and then reads the real records.
    await apoll(lambda: len(stream.ring) == 30)
    assert piece_texts(stream) == EXPECTED
