"""``tailcast watch URL`` as a real process against real servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tailcast.commands.watch import ws_url
from tests.harness import make_config
from tests.helpers import DEADLINE, apoll, end_process, poll, run_tailcast, tailcast_cmd
from tests.web.conftest import Serve, line_text, publish


@pytest.fixture
def serve(start_server: Serve) -> Serve:
    """An in-process server with streams ``app`` and ``other`` (as in tests/web)."""

    async def start(**overrides: object) -> object:
        h = await start_server(make_config(**overrides), sources=[])
        h.hub.add_stream("app", "stdin")
        h.hub.add_stream("other", "process", argv=["true"])
        return h

    return start


@dataclass
class Watch:
    """A running ``tailcast watch`` whose output lines are collected as they come."""

    proc: asyncio.subprocess.Process
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def wait_out(self, count: int) -> list[str]:
        await apoll(lambda: len(self.out) >= count or self.proc.returncode is not None)
        assert len(self.out) >= count, (self.out[-5:], self.err)
        return self.out


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode("utf-8").rstrip("\n"))


@contextlib.asynccontextmanager
async def watching(*args: str) -> AsyncIterator[Watch]:
    proc = await asyncio.create_subprocess_exec(
        *tailcast_cmd("watch", *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TAILCAST_TOKEN": ""},
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    watch = Watch(proc)
    watch.tasks = [
        asyncio.create_task(_collect(proc.stdout, watch.out)),
        asyncio.create_task(_collect(proc.stderr, watch.err)),
    ]
    try:
        yield watch
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), DEADLINE)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.wait_for(asyncio.gather(*watch.tasks), DEADLINE)


class Proxy:
    """A TCP proxy on loopback; :meth:`cut` kills every proxied connection at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0
        self.down_bytes = 0  # server -> client
        self.cut_at: int | None = None
        self._open: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._open += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer, down=False),
            self._pipe(up_reader, writer, down=True),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, down: bool
    ) -> None:
        try:
            while data := await reader.read(4096):
                if down and self.cut_at is not None and self.down_bytes + len(data) >= self.cut_at:
                    # Mid-stream: forward part of this read, then drop everything.
                    writer.write(data[: self.cut_at - self.down_bytes])
                    self.down_bytes = self.cut_at
                    self.cut_at = None
                    self.cut()
                    return
                if down:
                    self.down_bytes += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def cut(self) -> None:
        for writer in self._open:
            writer.transport.abort()
        self._open.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def last_seqs(url: str) -> list[int]:
    """Each stream's last seq, from ``/api/streams`` (a server without a token)."""
    with urllib.request.urlopen(url + "api/streams", timeout=DEADLINE) as resp:
        return [s["last_seq"] for s in json.loads(resp.read())["streams"]]


def test_ws_url() -> None:
    assert ws_url("http://127.0.0.1:8080/") == "ws://127.0.0.1:8080/ws"
    assert ws_url("https://logs.example/base") == "wss://logs.example/base/ws"
    assert ws_url("127.0.0.1:9") == "ws://127.0.0.1:9/ws"
    assert ws_url("ws://h/ws") == "ws://h/ws"


async def test_prints_lines_from_a_server_process_stderr_marked() -> None:
    code = "import sys; print('to out', flush=True); print('to err', file=sys.stderr, flush=True)"
    with run_tailcast("--port", "0", f"py=cmd:{sys.executable} -c {code!r}") as server:
        async with watching(server.url) as watch:
            await watch.wait_out(2)
            assert sorted(watch.out) == ["[err] to err", "to out"]


async def test_prints_the_backlog_then_live_lines() -> None:
    with run_tailcast("--port", "0", "-", stdin=subprocess.PIPE) as server:
        assert server.popen.stdin is not None
        server.popen.stdin.write(b"one\ntwo\n")
        server.popen.stdin.flush()
        # Both read by the server first: --tail 1 is then "two", not whatever it had read.
        await asyncio.to_thread(poll, lambda: last_seqs(server.url) == [2])
        async with watching(server.url, "--tail", "1") as watch:
            out = await watch.wait_out(1)
            assert out == ["two"]  # --tail 1; one stream: no prefix
            server.popen.stdin.write(b"three \xe2\x82\xac\n")
            server.popen.stdin.flush()
            assert await watch.wait_out(2) == ["two", "three \u20ac"]


async def test_stream_filter_and_prefixes(serve: Serve) -> None:
    h = await serve()
    app, other = h.hub.streams["app"], h.hub.streams["other"]
    publish(h.hub, app, 2)
    publish(h.hub, other, 1, fd="err")
    async with watching(h.url, "--stream", "app") as only_app:
        assert await only_app.wait_out(2) == [line_text(1), line_text(2)]
        async with watching(h.url) as both:
            await both.wait_out(3)
            assert sorted(both.out) == [
                f"[app] {line_text(1)}",
                f"[app] {line_text(2)}",
                f"[other:err] {line_text(1)}",
            ]
            publish(h.hub, other, 1)
            publish(h.hub, app, 1)
            assert (await both.wait_out(5))[3:] == [
                f"[other] {line_text(2)}",
                f"[app] {line_text(3)}",
            ]
        assert await only_app.wait_out(3) == [line_text(n) for n in (1, 2, 3)]


async def test_unknown_stream_exits_2(serve: Serve) -> None:
    h = await serve()
    async with watching(h.url, "--stream", "nope") as watch:
        assert await asyncio.wait_for(watch.proc.wait(), DEADLINE) == 2
    assert any("unknown stream" in line for line in watch.err)


async def test_bad_token_exits_3(start_server: Serve) -> None:
    h = await start_server(make_config(token="right"), sources=[])
    async with watching(h.url, "--token", "wrong") as watch:
        assert await asyncio.wait_for(watch.proc.wait(), DEADLINE) == 3
    assert any("not authenticated" in line for line in watch.err)


@pytest.mark.parametrize("burst", [0, 3000], ids=["idle", "mid-stream"])
async def test_reconnects_and_prints_every_line_once(serve: Serve, burst: int) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    proxy = Proxy(h.server.port)
    await proxy.start()
    try:
        publish(h.hub, app, 5)
        url = f"http://127.0.0.1:{proxy.port}/"
        async with watching(url, "--stream", "app", "--tail", "100") as watch:
            await watch.wait_out(5)
            assert proxy.connections == 1
            if burst:
                # Cut in the middle of a burst of frames, partway through one.
                proxy.cut_at = proxy.down_bytes + 20_000
                publish(h.hub, app, burst)
                await apoll(lambda: proxy.cut_at is None)
            else:
                proxy.cut()
            publish(h.hub, app, 7)  # while it is away
            await apoll(lambda: proxy.connections == 2)
            publish(h.hub, app, 3)
            publish(h.hub, app, 1)  # the last: once it is out, nothing else is coming
            total = 5 + burst + 11
            out = await watch.wait_out(total)
            assert out == [line_text(n) for n in range(1, total + 1)]
            assert any("retrying" in line for line in watch.err), watch.err
    finally:
        await proxy.close()


async def test_a_new_epoch_starts_over_from_the_backlog(serve: Serve) -> None:
    first, second = await serve(), await serve()  # two servers: two epochs
    publish(first.hub, first.hub.streams["app"], 3)
    publish(second.hub, second.hub.streams["app"], 2)
    proxy = Proxy(first.server.port)
    await proxy.start()
    try:
        url = f"http://127.0.0.1:{proxy.port}/"
        async with watching(url, "--stream", "app") as watch:
            await watch.wait_out(3)
            proxy.target_port = second.server.port  # "the server restarted"
            proxy.cut()
            out = await watch.wait_out(5)
            assert out == [line_text(n) for n in (1, 2, 3, 1, 2)]
            assert any("server restarted" in line for line in watch.err), watch.err
    finally:
        await proxy.close()


def test_a_closed_stdout_ends_watch_at_once_quietly() -> None:
    """``tailcast watch URL | head -3``: once the reader is gone, exit 0, say nothing."""
    count = 5000  # ~450 KB: far more than a pipe holds, so writes go on after the close
    with run_tailcast("--port", "0", "-", stdin=subprocess.PIPE) as server:
        assert server.popen.stdin is not None
        server.popen.stdin.write(b"".join(b"line %05d %s\n" % (i, b"x" * 80) for i in range(count)))
        server.popen.stdin.flush()
        watch = subprocess.Popen(
            tailcast_cmd("watch", server.url, "--tail", str(count)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "TAILCAST_TOKEN": ""},
        )
        try:
            assert watch.stdout is not None
            assert watch.stderr is not None
            first = [watch.stdout.readline() for _ in range(3)]
            assert first == [b"line %05d %s\n" % (i, b"x" * 80) for i in range(3)]
            watch.stdout.close()  # what head does after its third line
            try:
                status: int | None = watch.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                status = None  # still running: the bug (it retried forever)
                watch.kill()
                watch.wait()
            err = watch.stderr.read().decode(errors="replace")
        finally:
            end_process(watch)
    assert status == 0, err
    assert err == ""
