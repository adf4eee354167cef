"""What the hostile-load tests share: a tailcast subprocess under an open-files
limit set with ``prlimit``, raw half-open connections, the descriptor count.

The server runs as ``prlimit --nofile=SOFT:HARD -- python -m tailcast ...``
(prlimit executes the command, so its PID is the server's). The attacking
sockets come from other loopback addresses (127.0.0.2, 127.0.1.N: Linux
routes all of 127/8 to ``lo``), as a real attacker's would, so that the
per-address cap is what is tested; the well-behaved clients use 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import SERVING_RE, end_process, poll
from tests.security.conftest import BEARER, TOKEN, drain_stderr, errors_logged

__all__ = [
    "BEARER",
    "TOKEN",
    "Follower",
    "Limited",
    "fd_count",
    "half_open",
    "limited_server",
    "raise_own_limit",
    "soft_limit",
    "timed",
]

START_DEADLINE = 20.0


@dataclass
class Limited:
    """A started server: its process, URL, standard error and followed file."""

    popen: subprocess.Popen[bytes]
    url: str
    stderr: list[str]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "ws"

    def append(self, first: int, count: int) -> None:
        with self.log.open("a") as fh:
            fh.write("".join(f"line {i:06d}\n" for i in range(first, first + count)))

    def errors(self) -> list[str]:
        """Errors logged, asyncio's "accept() out of system resource" included:
        the guard drops connections before the kernel runs out."""
        return errors_logged(self.stderr) + [e for e in self.stderr if "out of system" in e]


def raise_own_limit() -> None:
    """The test process opens 1 100+ sockets itself: its soft limit up to its hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 4096:
        pytest.skip("the test process needs 4 096 open files (ulimit -Hn)")


@contextmanager
def limited_server(
    tmp_path: Path, *args: str, nofile: tuple[int, int] = (1024, 1024)
) -> Iterator[Limited]:
    """``tailcast --token TOKEN ARGS log=FILE`` under ``prlimit --nofile=S:H``."""
    if shutil.which("prlimit") is None:
        pytest.fail("prlimit is missing: install the Debian package util-linux")
    if os.geteuid() != 0 and nofile[1] > resource.getrlimit(resource.RLIMIT_NOFILE)[1]:
        pytest.skip("raising the hard open-files limit needs root")
    log = tmp_path / "app.log"
    log.write_text("")
    cmd = [
        "prlimit",
        f"--nofile={nofile[0]}:{nofile[1]}",
        "--",
        sys.executable,
        "-m",
        "tailcast",
        "--port",
        "0",
        "--token",
        TOKEN,
        *args,
        f"log={log}",
    ]
    popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr, reader = drain_stderr(popen)
    try:

        def serving() -> str | None:
            assert popen.poll() is None, f"tailcast exited: {stderr}"
            return next((m.group(2) for m in map(SERVING_RE.match, stderr) if m), None)

        url = poll(serving, START_DEADLINE)
        yield Limited(popen, url, stderr, log)
    finally:
        end_process(popen)
        reader.join(10)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def soft_limit(pid: int) -> tuple[int, int]:
    """The open-files limits /proc/PID/limits shows: (soft, hard)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' in /proc/PID/limits")


def half_open(port: int, count: int, source: str, data: bytes) -> list[socket.socket]:
    """``count`` connections from ``source`` that send ``data`` and nothing more.

    The server may drop some at once (the per-address cap): a reset while
    sending is expected and ignored; the socket stays in the list, closed or not.
    """
    socks: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(data)
        except OSError:
            pass
        socks.append(sock)
    return socks


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed or reset this connection (what it answered first
    is read and dropped)."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with suppress(OSError):
            sock.close()


async def timed(coro: Any, deadline: float) -> tuple[Any, float]:
    """Await ``coro`` within ``deadline`` s (a functional bound); its value and time."""
    start = time.monotonic()
    value = await asyncio.wait_for(coro, deadline)
    return value, time.monotonic() - start


class Follower:
    """An authenticated WebSocket client of stream ``log``: every seq it gets."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seqs: list[int] = []

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, url: str) -> Follower:
        ws = await session.ws_connect(
            url, protocols=("tailcast.v1",), headers=BEARER, max_msg_size=0
        )
        hello = json.loads((await ws.receive(timeout=5)).data)
        assert hello["type"] == "hello", hello
        # since 0: every line, whenever the subscription takes effect.
        await ws.send_json({"type": "subscribe", "streams": ["log"], "since": {"log": 0}})
        return cls(ws)

    async def wait_seq(self, last: int, timeout: float) -> None:
        """Read until ``last`` arrived; fail past ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.seqs or self.seqs[-1] < last:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"seq {last} not received; last {self.seqs[-1:]}")
            msg = await self.ws.receive(timeout=left)
            assert msg.type == aiohttp.WSMsgType.TEXT, (msg, self.ws.close_code)
            frame = json.loads(msg.data)
            if frame["type"] == "lines":
                self.seqs.extend(line["seq"] for line in frame["lines"])

    def contiguous(self) -> bool:
        return self.seqs == list(range(self.seqs[0], self.seqs[0] + len(self.seqs)))
