"""A followed file across a restart with the same data dir: read on from the checkpoint.

Each run is a real :class:`FileSource` on a hub with a real
:class:`HistoryStore` in ``tmp_path``; between runs the store is closed and
the file changed the way a writer (or logrotate) would while tailcast is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tailcast.config import parse_source
from tailcast.history.store import HistoryStore
from tailcast.hub import Hub, Stream, decode_line
from tailcast.sources.file.position import FINGERPRINT, fingerprint
from tailcast.sources.file.source import FileSource, GlobSource
from tests.harness import make_config
from tests.helpers import DEADLINE, WSClient, apoll, run_tailcast, ws_connect


class Run:
    """One run of a file source on a hub with a store in ``data_dir``."""

    def __init__(self, hub: Hub, source: FileSource | GlobSource) -> None:
        self.hub = hub
        self.source = source

    def stream(self, stream_id: str) -> Stream:
        return self.hub.get(stream_id)

    def pieces(self, stream_id: str, after: int = 0) -> list[dict[str, Any]]:
        stream = self.stream(stream_id)
        first, lines = stream.lines_after(after)
        assert first == after + 1 or not lines
        return [decode_line(b) for b in lines]

    def texts(self, stream_id: str, after: int = 0) -> list[str]:
        return [p["text"] for p in self.pieces(stream_id, after)]

    async def wait_last(self, stream_id: str, seq: int) -> None:
        streams = self.hub.streams
        await apoll(lambda: stream_id in streams and streams[stream_id].last_seq >= seq)


@asynccontextmanager
async def run(target: Path | str, data_dir: Path, **overrides: Any) -> AsyncIterator[Run]:
    store = HistoryStore.open(data_dir)
    hub = Hub(1_000_000, store=store)
    spec = parse_source(os.fspath(target))
    config = make_config(**overrides)
    source: FileSource | GlobSource
    source = (GlobSource if spec.kind == "glob" else FileSource)(spec, hub, config)
    task = asyncio.create_task(source.run())
    try:
        yield Run(hub, source)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.close()
        store.close()


def write_text(path: Path, text: str, mode: str = "a") -> None:
    """Write to the file in place (``r+``: rewritten from 0, same inode)."""
    with open(path, mode) as fh:
        if mode == "r+":
            fh.truncate(0)
        fh.write(text)


def write_lines(path: Path, first: int, last: int, mode: str = "a") -> None:
    write_text(path, "".join(f"line {n}\n" for n in range(first, last + 1)), mode)


def numbered(first: int, last: int) -> list[str]:
    return [f"line {n}" for n in range(first, last + 1)]


async def test_lines_written_while_down_arrive_next_with_seqs_going_on(tmp_path: Path) -> None:
    log, data = tmp_path / "app.log", tmp_path / "data"
    write_lines(log, 1, 30, "w")
    async with run(log, data, lines=10) as first:
        await first.wait_last("app.log", 10)  # the backlog: lines 21-30
        write_lines(log, 31, 35)
        await first.wait_last("app.log", 15)
        assert first.texts("app.log") == numbered(21, 35)
        epoch = first.stream("app.log").epoch
    write_lines(log, 36, 50)  # while tailcast is down
    async with run(log, data, lines=10) as second:
        await second.wait_last("app.log", 30)
        stream = second.stream("app.log")
        assert stream.epoch == epoch
        pieces = second.pieces("app.log", 15)
        assert [p["text"] for p in pieces] == numbered(36, 50)
        assert [p["seq"] for p in pieces] == list(range(16, 31))
        assert second.source.statistics()["files"][0]["resumed"] is True
        # Nothing else comes: no backlog, no line twice.
        write_lines(log, 51, 51)
        await second.wait_last("app.log", 31)
        assert second.texts("app.log") == numbered(21, 51)


async def test_a_file_replaced_while_down_is_new_and_read_from_its_start(tmp_path: Path) -> None:
    log, data = tmp_path / "app.log", tmp_path / "data"
    write_lines(log, 1, 5, "w")
    async with run(log, data) as first:
        await first.wait_last("app.log", 5)
    fresh = tmp_path / "app.log.new"
    write_lines(fresh, 100, 120, "w")  # longer than the old one: only the inode tells
    os.replace(fresh, log)
    async with run(log, data, lines=3) as second:
        await second.wait_last("app.log", 26)
        assert second.texts("app.log") == numbered(1, 5) + numbered(100, 120)
        assert second.source.statistics()["files"][0]["resumed"] is False


async def test_a_file_truncated_while_down_is_read_from_its_start(tmp_path: Path) -> None:
    log, data = tmp_path / "app.log", tmp_path / "data"
    write_lines(log, 1, 20, "w")
    async with run(log, data, lines=10) as first:
        await first.wait_last("app.log", 10)
        assert first.texts("app.log") == numbered(11, 20)
    write_lines(log, 200, 202, "w")  # truncated and rewritten, shorter
    async with run(log, data, lines=10) as second:
        await second.wait_last("app.log", 13)
        assert second.texts("app.log") == numbered(11, 20) + numbered(200, 202)


async def test_a_file_rewritten_longer_while_down_is_read_from_its_start(tmp_path: Path) -> None:
    log, data = tmp_path / "app.log", tmp_path / "data"
    write_lines(log, 1, 5, "w")
    async with run(log, data) as first:
        await first.wait_last("app.log", 5)
    ino = log.stat().st_ino
    # Same inode, as long and longer, other bytes.
    write_text(log, "".join(f"LINE {n}\n" for n in range(1, 11)), "r+")
    assert log.stat().st_ino == ino
    async with run(log, data) as second:
        await second.wait_last("app.log", 15)
        assert second.texts("app.log", 5) == [f"LINE {n}" for n in range(1, 11)]


async def test_a_partial_line_at_stop_is_continued_after_the_restart(tmp_path: Path) -> None:
    log, data = tmp_path / "app.log", tmp_path / "data"
    log.write_bytes(b"one\ntw")
    async with run(log, data, flush_delay=60.0) as first:
        await first.wait_last("app.log", 1)
    # The stop published "tw" as an open line: the rest goes on as ``cont``.
    write_text(log, "o\nthree\n")
    async with run(log, data) as second:
        await second.wait_last("app.log", 4)
        pieces = second.pieces("app.log")
        assert [(p["text"], bool(p.get("cont"))) for p in pieces] == [
            ("one", False),
            ("tw", False),
            ("o", True),
            ("three", False),
        ]


async def test_the_checkpoint_covers_only_the_bytes_published(tmp_path: Path) -> None:
    log, data = tmp_path / "app.log", tmp_path / "data"
    log.write_bytes(b"x" * 1000 + b"\nheld back")
    async with run(log, data, flush_delay=60.0) as first:
        await first.wait_last("app.log", 1)
        checkpoint = first.stream("app.log").history.checkpoint
        assert checkpoint is not None
        st = log.stat()
        assert (
            checkpoint
            == {
                "dev": st.st_dev,
                "ino": st.st_ino,
                "offset": 1001,  # not the partial line the splitter holds
                "tail": fingerprint((b"x" * 1000 + b"\n")[-FINGERPRINT:]),
                "open": False,
            }
        )


async def test_each_glob_match_reads_on_from_its_own_position(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_lines(logs / "a.log", 1, 3, "w")
    write_lines(logs / "b.log", 1, 2, "w")
    pattern = f"{logs}/*.log"
    async with run(pattern, data) as first:
        await first.wait_last("a.log", 3)
        await first.wait_last("b.log", 2)
    write_lines(logs / "a.log", 4, 5)
    write_lines(logs / "b.log", 3, 3)
    write_lines(logs / "c.log", 1, 1, "w")  # new while down: from its start
    async with run(pattern, data) as second:
        await second.wait_last("a.log", 5)
        await second.wait_last("b.log", 3)
        await second.wait_last("c.log", 1)
        assert second.texts("a.log") == numbered(1, 5)
        assert second.texts("b.log") == numbered(1, 3)
        assert second.texts("c.log") == numbered(1, 1)


# -- SIGKILL at a random moment, three times, with a writer that never stops -----------

KILLS = 3
WRITE_EVERY = 0.002  # seconds between two lines of the writer


class Writer(threading.Thread):
    """Appends ``line N`` lines steadily, one ``write()`` each, until stopped."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.written = 0
        self.halt = threading.Event()

    def run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while not self.halt.wait(WRITE_EVERY):
                os.write(fd, f"line {self.written + 1}\n".encode())
                self.written += 1
        finally:
            os.close(fd)


def whole_lines(pieces: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for p in pieces:
        if p.get("cont") and out:
            out[-1] += p["text"]
        else:
            out.append(p["text"])
    return out


async def history_after(
    session: aiohttp.ClientSession, url: str, stream: str, since: int
) -> list[dict[str, Any]]:
    """Every kept line after ``since``, paged through the HTTP API."""
    out: list[dict[str, Any]] = []
    while True:
        params = {"since": str(since), "limit": "1000"}
        async with session.get(f"{url}api/streams/{stream}/lines", params=params) as resp:
            assert resp.status == 200
            page: list[dict[str, Any]] = (await resp.json())["lines"]
        if not page:
            return out
        out += page
        since = page[-1]["seq"]


async def receive_for(client: WSClient, seconds: float) -> None:
    """Take what comes for ``seconds`` (the kill comes at that moment)."""
    # A deadline per receive, not asyncio.timeout around them: 3.11's wait_for
    # may swallow the outer cancellation when a frame arrives just then.
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        with contextlib.suppress(TimeoutError):
            await client.recv(left)


async def test_sigkill_at_any_moment_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    log, data = tmp_path / "app.log", tmp_path / "data"
    log.touch()
    writer = Writer(log)
    rng = random.Random(os.getpid())
    got: list[dict[str, Any]] = []  # every piece the client received, over all runs
    epoch: str | None = None
    written_at_kill: list[int] = []
    written_at_start: list[int] = []
    args = ("--data-dir", str(data), "--port", "0", str(log))
    async with aiohttp.ClientSession() as session:
        for run_no in range(KILLS + 1):
            with run_tailcast(*args) as proc:
                client = await ws_connect(session, proc.ws_url)
                hello = await client.recv_type("hello")
                info = {s["id"]: s for s in hello["streams"]}["app.log"]
                epoch = epoch or info["epoch"]
                assert info["epoch"] == epoch  # numbering goes on, it does not restart
                last = got[-1]["seq"] if got else 0
                # What the client had before the kill is kept, under the same seqs.
                kept = await history_after(session, proc.url, "app.log", 0)
                assert kept[: len(got)] == got
                await client.send(
                    {"type": "subscribe", "streams": ["app.log"], "since": {"app.log": last}}
                )
                if run_no == 0:
                    writer.start()
                else:
                    written_at_start.append(writer.written)
                if run_no < KILLS:
                    await receive_for(client, rng.uniform(0.2, 1.2))
                    os.kill(proc.popen.pid, signal.SIGKILL)
                    proc.popen.wait(10)
                    written_at_kill.append(writer.written)
                else:
                    writer.halt.set()
                    writer.join()
                    deadline = time.monotonic() + DEADLINE
                    while len(whole_lines(got + client.lines.get("app.log", []))) < writer.written:
                        await client.recv(max(0.01, deadline - time.monotonic()))
                    await receive_for(client, 0.3)  # nothing more may come
                got += client.lines.get("app.log", [])
                await client.ws.close()
    # Lines were written while the server was down each time: they arrived too.
    assert all(s > k for k, s in zip(written_at_kill, written_at_start, strict=True))
    seqs = [p["seq"] for p in got]
    assert seqs == list(range(1, len(seqs) + 1))  # no seq twice, none missing
    assert whole_lines(got) == [f"line {n}" for n in range(1, writer.written + 1)]
