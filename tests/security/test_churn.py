"""Churn and load, bounded in time and count, loopback only.

500 client slots connect, subscribe, read, stall and vanish at random for
``TAILCAST_CHURN_SECONDS`` (default 60 s under ``CI=true``, 15 s otherwise)
while a writer appends to the followed file. Afterwards the server
subprocess's descriptors, threads and asyncio tasks are back at their
baseline, its resident memory near it, no client or queued byte is left, it
logged no error, and the well-behaved clients got every line exactly once.

And SIGTERM with 500 clients connected (readers and stalled ones) while the
writer streams: the server exits with status 0 within 5 s, readers get 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import socket
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import Proc, apoll, run_tailcast
from tests.security.conftest import (
    ProcStats,
    drain_stderr,
    errors_logged,
    parse_metrics,
    proc_stats,
)


def _duration() -> float:
    configured = os.environ.get("TAILCAST_CHURN_SECONDS")
    if configured:
        return float(configured)
    return 60.0 if os.environ.get("CI", "").lower() == "true" else 15.0


DURATION = _duration()
SLOTS = 500  # client slots busy at all times
GOOD = 20  # of them: well-behaved clients that stay for the whole run
INITIAL_LINES = 200
WRITE_EVERY = 0.05  # the writer's pace (a rate, not a synchronisation)
LINES_PER_WRITE = 10
PAD = "x" * 80
OP_DEADLINE = 20.0  # any single client action
QUEUE_BYTES = 256 * 1024
SEED = int(os.environ.get("TAILCAST_CHURN_SEED", "0")) or random.randrange(1, 2**31)

# What "near the baseline" means for resident memory after the churn: the
# allocator keeps some freed memory, but it must not grow with the run.
RSS_SLACK = 32 * 1024 * 1024


@dataclass
class Server:
    proc: Proc
    log: Path
    stderr: list[str]

    @property
    def pid(self) -> int:
        return self.proc.popen.pid

    @property
    def port(self) -> int:
        return int(self.proc.url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def ws_url(self) -> str:
        return self.proc.ws_url


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    log = tmp_path / "app.log"
    log.write_text("".join(f"initial {i:06d} {PAD}\n" for i in range(INITIAL_LINES)))
    # Small queues, so that the stalled clients fall behind (and catch up
    # from the history, which holds every line of the run: no gap).
    with run_tailcast(
        "--port",
        "0",
        "--lines",
        str(INITIAL_LINES),
        "--queue-bytes",
        str(QUEUE_BYTES),
        f"log={log}",
    ) as proc:
        # Room for every client's descriptor, whatever the runner's default.
        _, hard = resource.prlimit(proc.popen.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(proc.popen.pid, resource.RLIMIT_NOFILE, (hard, hard))
        stderr, reader = drain_stderr(proc.popen)
        yield Server(proc, log, stderr)
        proc.stop()
        reader.join(10)


class Writer:
    """Appends numbered lines to the followed file at a steady pace."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        with self.path.open("a") as fh:
            while not self.stop.is_set():
                fh.write(
                    "".join(f"w {self.written + i:08d} {PAD}\n" for i in range(LINES_PER_WRITE))
                )
                fh.flush()
                self.written += LINES_PER_WRITE
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), WRITE_EVERY)


@dataclass
class GoodClient:
    """Subscribes at connect with ``tail=0`` and reads everything, forever."""

    ws: aiohttp.ClientWebSocketResponse
    seqs: list[int] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None

    async def run(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame["type"] == "lines":
                self.seqs.extend(line["seq"] for line in frame["lines"])
            elif frame["type"] != "hello":
                self.other.append(frame)
        self.close_code = self.ws.close_code


async def _metrics(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(url + "metrics") as response:
        return parse_metrics(await response.text())


async def _last_seq(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url + "api/streams") as response:
        streams = (await response.json())["streams"]
    return int(next(s for s in streams if s["id"] == "log")["last_seq"])


async def _settled(session: aiohttp.ClientSession, srv: Server, tasks: float) -> dict[str, float]:
    """Poll until no client, no queued byte and no extra task is left."""
    values: dict[str, float] = {}
    deadline = time.monotonic() + 20
    while True:
        values = await _metrics(session, srv.proc.url)
        if (
            values["tailcast_clients"] == 0
            and values["tailcast_queue_bytes"] == 0
            and values["tailcast_tasks"] <= tasks
        ):
            return values
        assert time.monotonic() < deadline, values
        await asyncio.sleep(0.05)


# -- the churning clients ------------------------------------------------------------


def _rst_close(sock: socket.socket) -> None:
    """Vanish: close with a reset, no close frame, no FIN handshake."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def _raw_upgrade(
    srv: Server, query: str, rcvbuf: int | None = None
) -> tuple[socket.socket, asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", srv.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET /ws{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, reader, writer


class Churn:
    """One slot's behaviours; each records what it saw in ``counts``."""

    def __init__(self, srv: Server, session: aiohttp.ClientSession, rng: random.Random) -> None:
        self.srv = srv
        self.session = session
        self.rng = rng
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    async def reader(self) -> None:
        """Connects, subscribes one of the documented ways, reads, closes cleanly."""
        rng = self.rng
        how = rng.choice(["query", "tail", "since", "star"])
        url = self.srv.ws_url + (
            f"?streams=log&tail={rng.randrange(300)}" if how == "query" else ""
        )
        async with self.session.ws_connect(url, protocols=("tailcast.v1",), max_msg_size=0) as ws:
            hello = json.loads((await ws.receive(timeout=OP_DEADLINE)).data)
            assert hello["type"] == "hello"
            last = next(s for s in hello["streams"] if s["id"] == "log")["last_seq"]
            if how == "tail":
                await ws.send_json({"type": "subscribe", "streams": ["log"], "tail": 50})
            elif how == "since":
                since = max(0, last - rng.randrange(500))
                await ws.send_json(
                    {"type": "subscribe", "streams": ["log"], "since": {"log": since}}
                )
            elif how == "star":
                await ws.send_json({"type": "subscribe", "streams": ["*"], "tail": 5})
            until = time.monotonic() + rng.uniform(0.05, 1.5)
            previous = 0
            while (left := until - time.monotonic()) > 0:
                try:
                    msg = await ws.receive(timeout=left)
                except TimeoutError:
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    self.failures.append(f"reader closed early: {msg.type} {ws.close_code}")
                    return
                frame = json.loads(msg.data)
                if frame["type"] == "lines":
                    for line in frame["lines"]:
                        # Never a line twice on one connection.
                        assert line["seq"] > previous, (line["seq"], previous)
                        previous = line["seq"]
                elif frame["type"] == "gap":
                    previous = max(previous, frame["to"])
        self.counts["reader"] += 1

    async def vanish(self) -> None:
        """Upgrades, reads a little, then disappears with a TCP reset."""
        sock, reader, writer = await _raw_upgrade(self.srv, "?streams=log&tail=100")
        try:
            end = time.monotonic() + self.rng.uniform(0.0, 1.0)
            while time.monotonic() < end:
                try:
                    await asyncio.wait_for(reader.read(65536), end - time.monotonic())
                except TimeoutError:
                    break
        finally:
            writer.transport.abort()
            _rst_close(sock)
        self.counts["vanish"] += 1

    async def stall(self) -> None:
        """Upgrades with a tiny receive buffer, asks for a lot, never reads."""
        sock, _, writer = await _raw_upgrade(self.srv, "?streams=log&tail=5000", rcvbuf=4096)
        try:
            await asyncio.sleep(self.rng.uniform(0.5, 4.0))  # the stall itself
        finally:
            writer.transport.abort()
            _rst_close(sock)
        self.counts["stall"] += 1

    async def half(self) -> None:
        """Sends half a request and goes away."""
        _, writer = await asyncio.open_connection("127.0.0.1", self.srv.port)
        writer.write(b"GET /ws?streams=log HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webso")
        await writer.drain()
        await asyncio.sleep(self.rng.uniform(0.0, 0.5))  # lingering half-open
        writer.close()
        self.counts["half"] += 1

    async def garbage(self) -> None:
        """Sends bytes that are not HTTP."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.srv.port)
        writer.write(self.rng.randbytes(self.rng.randrange(1, 2000)))
        await writer.drain()
        with_answer = self.rng.random() < 0.5
        if with_answer:
            await asyncio.wait_for(reader.read(), OP_DEADLINE)  # the server's 400 and close
        writer.close()
        self.counts["garbage"] += 1

    async def sse(self) -> None:
        """Follows the stream as Server-Sent Events for a while, then drops it."""
        url = self.srv.proc.url + f"api/streams/log/events?tail={self.rng.randrange(100)}"
        async with self.session.get(url) as response:
            assert response.status == 200, response.status
            end = time.monotonic() + self.rng.uniform(0.05, 1.0)
            while time.monotonic() < end:
                try:
                    await asyncio.wait_for(response.content.readany(), end - time.monotonic())
                except TimeoutError:
                    break
        self.counts["sse"] += 1

    async def run(self, deadline: float) -> None:
        behaviours: list[tuple[Callable[[], Awaitable[None]], int]] = [
            (self.reader, 35),
            (self.vanish, 20),
            (self.stall, 15),
            (self.sse, 10),
            (self.half, 10),
            (self.garbage, 10),
        ]
        actions, weights = zip(*behaviours, strict=True)
        while time.monotonic() < deadline:
            action = self.rng.choices(actions, weights)[0]
            try:
                await asyncio.wait_for(action(), OP_DEADLINE)
            except (ConnectionError, aiohttp.ClientError) as exc:
                # Only the abrupt behaviours may see the server drop them.
                if action in (self.reader, self.sse):
                    self.failures.append(f"{action.__name__}: {type(exc).__name__}: {exc}")
            except TimeoutError:
                self.failures.append(f"{action.__name__}: no progress in {OP_DEADLINE}s")


# -- the test ------------------------------------------------------------------------


async def _connect_good(session: aiohttp.ClientSession, srv: Server) -> GoodClient:
    ws = await session.ws_connect(
        srv.ws_url + "?streams=log&tail=0", protocols=("tailcast.v1",), max_msg_size=0
    )
    return GoodClient(ws)


async def _warm_up(session: aiohttp.ClientSession, srv: Server) -> None:
    """Every slot once, so that the baseline is of a server that has seen 500 clients."""

    async def one() -> None:
        async with session.ws_connect(
            srv.ws_url + "?streams=log&tail=100", protocols=("tailcast.v1",), max_msg_size=0
        ) as ws:
            seen = 0
            while seen < 100:
                frame = json.loads((await ws.receive(timeout=OP_DEADLINE)).data)
                if frame["type"] == "lines":
                    seen += len(frame["lines"])

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(SLOTS))), 60)


async def test_churn_of_500_clients_leaves_nothing_behind(server: Server) -> None:
    srv = server
    print(f"churn: {DURATION:g} s, {SLOTS} slots, seed {SEED} (TAILCAST_CHURN_SEED)")
    rng = random.Random(SEED)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _warm_up(session, srv)
        base_metrics = await _settled(session, srv, tasks=float("inf"))
        base = proc_stats(srv.pid)
        base_tasks = base_metrics["tailcast_tasks"]

        writer = Writer(srv.log)
        writer_task = asyncio.create_task(writer.run())
        good = [await _connect_good(session, srv) for _ in range(GOOD)]
        good_tasks = [asyncio.create_task(g.run()) for g in good]
        deadline = time.monotonic() + DURATION
        churners = [Churn(srv, session, random.Random(rng.random())) for _ in range(SLOTS - GOOD)]
        peak = base
        churn = asyncio.gather(*(c.run(deadline) for c in churners))
        while not churn.done():
            stats = proc_stats(srv.pid)
            peak = ProcStats(
                max(peak.rss_bytes, stats.rss_bytes),
                max(peak.fds, stats.fds),
                max(peak.threads, stats.threads),
            )
            await asyncio.wait([churn], timeout=0.5)  # sampling pace
        await churn

        writer.stop.set()
        await writer_task
        final = INITIAL_LINES + writer.written
        deadline_final = time.monotonic() + 20
        while await _last_seq(session, srv.proc.url) < final:
            assert time.monotonic() < deadline_final, "the follower did not catch up"
            await asyncio.sleep(0.05)
        assert await _last_seq(session, srv.proc.url) == final

        # The well-behaved clients: every line once, in order, no gap, still open.
        await apoll(lambda: all(g.seqs and g.seqs[-1] >= final for g in good), timeout=30)
        for g in good:
            assert g.close_code is None
            assert g.other == [], g.other[:3]
            assert g.seqs == list(range(g.seqs[0], final + 1))
            await g.ws.close()
        await asyncio.gather(*good_tasks)

        counts: Counter[str] = Counter()
        for c in churners:
            counts.update(c.counts)
        failures = [f for c in churners for f in c.failures]
        after_metrics = await _settled(session, srv, tasks=base_tasks)
        after = proc_stats(srv.pid)

    print(
        f"churn: {sum(counts.values())} client sessions {dict(counts)}; "
        f"{writer.written} lines written; "
        f"connections {after_metrics['tailcast_connections_total']:.0f}, "
        f"gaps {after_metrics['tailcast_gaps_total']:.0f}, "
        f"dropped {after_metrics['tailcast_lines_dropped_total']:.0f}\n"
        f"churn: rss {base.rss_bytes >> 20} -> peak {peak.rss_bytes >> 20} -> "
        f"{after.rss_bytes >> 20} MiB; fds {base.fds} -> {peak.fds} -> {after.fds}; "
        f"threads {base.threads} -> {peak.threads} -> {after.threads}; "
        f"tasks {base_tasks:.0f} -> {after_metrics['tailcast_tasks']:.0f}"
    )
    assert failures == [], failures[:10]
    assert all(counts[k] > 0 for k in ("reader", "vanish", "stall", "sse", "half", "garbage"))
    assert peak.fds > base.fds + SLOTS // 2  # the load was real
    # Stalled clients overflowed their queues and read on from the history,
    # which still held their lines: behind, never dropped.
    assert after_metrics["tailcast_lines_caught_up_total"] > 0
    assert after_metrics["tailcast_gaps_total"] == 0
    assert after_metrics["tailcast_lines_dropped_total"] == 0
    assert after_metrics["tailcast_readers_catching_up"] == 0
    assert after.fds <= base.fds
    assert after.threads <= base.threads
    assert after_metrics["tailcast_tasks"] <= base_tasks
    assert after.rss_bytes <= base.rss_bytes + RSS_SLACK
    assert errors_logged(srv.stderr) == [], "".join(srv.stderr[-30:])


async def test_sigterm_under_full_load_exits_cleanly_within_5s(server: Server) -> None:
    srv = server
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        writer = Writer(srv.log)
        writer_task = asyncio.create_task(writer.run())
        stalled = []
        try:
            readers = await asyncio.gather(*(_connect_good(session, srv) for _ in range(400)))
            reader_tasks = [asyncio.create_task(r.run()) for r in readers]
            for _ in range(SLOTS - len(readers)):
                stalled.append(await _raw_upgrade(srv, "?streams=log&tail=5000", rcvbuf=4096))
            deadline = time.monotonic() + 30
            while (await _metrics(session, srv.proc.url))["tailcast_clients"] < SLOTS:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await apoll(lambda: all(r.seqs for r in readers), timeout=30)  # lines flowing

            started = time.monotonic()
            srv.proc.popen.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(srv.proc.popen.wait, 5)
            took = time.monotonic() - started
            assert status == 0
            await asyncio.wait_for(asyncio.gather(*reader_tasks), 10)
        finally:
            writer.stop.set()
            await writer_task
            for sock, _, stream_writer in stalled:
                stream_writer.transport.abort()
                sock.close()
    codes = Counter(r.close_code for r in readers)
    print(f"sigterm: exit {status} after {took:.2f} s; reader close codes {dict(codes)}")
    assert codes == {1001: len(readers)}, codes
    assert errors_logged(srv.stderr) == [], "".join(srv.stderr[-30:])
