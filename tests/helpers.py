"""Shared test helpers: poll with a deadline, run tailcast as a subprocess,
talk protocol v1 over a real WebSocket on loopback.

No sleeps as synchronisation: everything waits for a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import aiohttp

DEADLINE = 15.0
# The contract's wording (additions 1.1): "1 stream", "3 streams"; clients match "streams?".
SERVING_RE = re.compile(r"^tailcast: serving (\d+) streams? on (\S+)$")


def poll(predicate: Callable[[], Any], timeout: float = DEADLINE, interval: float = 0.01) -> Any:
    """Call ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


async def apoll(
    predicate: Callable[[], Any], timeout: float = DEADLINE, interval: float = 0.01
) -> Any:
    """Async :func:`poll` (the predicate is a plain function)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        await asyncio.sleep(interval)


@dataclass
class Proc:
    """A tailcast subprocess that printed its ``serving`` line."""

    popen: subprocess.Popen[bytes]
    url: str
    streams: int
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "ws"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        return self.popen.wait(timeout)


def tailcast_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tailcast", *args]


@contextmanager
def run_tailcast(
    *args: str,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    timeout: float = DEADLINE,
    cwd: str | None = None,
) -> Iterator[Proc]:
    """Start ``python -m tailcast ARGS --port 0``-style; yield once it is serving.

    Pass ``--port 0`` yourself (commands differ). Killed by PID at the end.
    """
    full_env = {**os.environ, **(env or {})}
    popen = subprocess.Popen(
        tailcast_cmd(*args),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        cwd=cwd,
    )
    proc: Proc | None = None
    try:
        assert popen.stderr is not None
        deadline = time.monotonic() + timeout
        first = popen.stderr.readline().decode(errors="replace").rstrip("\n")
        m = SERVING_RE.match(first)
        if not m or time.monotonic() > deadline:
            rest = popen.stderr.read().decode(errors="replace") if popen.poll() is not None else ""
            raise AssertionError(f"tailcast did not start: {first!r} {rest!r}")
        proc = Proc(popen, m.group(2), int(m.group(1)), [first])
        yield proc
    finally:
        end_process(popen)


def end_process(popen: subprocess.Popen[bytes]) -> None:
    """Stop a process this test started (SIGTERM, 10 s, SIGKILL) and close its pipes."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
    for pipe in (popen.stdin, popen.stdout, popen.stderr):
        if pipe is not None:
            pipe.close()


class WSClient:
    """A protocol v1 client for tests: keeps every frame it received."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.lines: dict[str, list[dict[str, Any]]] = {}
        self.close_code: int | None = None

    async def recv(self, timeout: float = DEADLINE) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        ):
            self.close_code = self.ws.close_code
            raise ConnectionError(f"closed with {self.ws.close_code}")
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame: dict[str, Any] = json.loads(msg.data)
        self.frames.append(frame)
        if frame["type"] == "lines":
            self.lines.setdefault(frame["stream"], []).extend(frame["lines"])
        return frame

    async def recv_type(self, kind: str, timeout: float = DEADLINE) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - time.monotonic()))
            if frame["type"] == kind:
                return frame

    async def wait_lines(
        self, stream: str, count: int, timeout: float = DEADLINE
    ) -> list[dict[str, Any]]:
        """Receive until ``stream`` has at least ``count`` lines; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.lines.get(stream, [])) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{stream}: {len(self.lines.get(stream, []))} of {count} lines arrived"
                )
            await self.recv(left)
        return self.lines[stream]

    async def send(self, obj: Any) -> None:
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    async def wait_closed(self, timeout: float = DEADLINE) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.recv(max(0.01, deadline - time.monotonic()))
            except ConnectionError:
                return self.close_code


async def ws_connect(
    session: aiohttp.ClientSession,
    url: str,
    *,
    protocols: Sequence[str] = ("tailcast.v1",),
    **kwargs: Any,
) -> WSClient:
    ws = await session.ws_connect(url, protocols=protocols, max_msg_size=0, **kwargs)
    return WSClient(ws)


def texts(lines: Sequence[dict[str, Any]]) -> list[str]:
    return [line["text"] for line in lines]


def assert_contiguous(lines: Sequence[dict[str, Any]], first: int = 1) -> None:
    """Seqs are ``first, first+1, ...``: nothing lost, nothing twice."""
    seqs = [line["seq"] for line in lines]
    breaks = [(a, b) for a, b in itertools.pairwise(seqs) if b != a + 1]
    assert seqs == list(range(first, first + len(seqs))), (seqs[:5], breaks[:10])


async def gather_with_timeout(*aws: Awaitable[Any], timeout: float = DEADLINE) -> list[Any]:
    return list(await asyncio.wait_for(asyncio.gather(*aws), timeout))


def io_frameworks_imported_by(modules: Sequence[str]) -> str:
    """Import ``modules`` in a fresh interpreter; the asyncio/aiohttp modules that came along."""
    code = (
        "import importlib, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('asyncio', 'aiohttp'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
