"""Fixtures for the web tests: a real server on loopback whose streams the test feeds.

The streams are real hub streams; the test publishes into them through the
hub exactly as a source does (``Hub.publish``), so every line's path through
registry, queues and sockets is the production one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

from tailcast.hub import Hub, Stream
from tailcast.protocol.lines import Piece
from tests.harness import ServerHarness, make_config

Serve = Callable[..., Any]


async def get_json(session: aiohttp.ClientSession, url: str, status: int = 200) -> Any:
    """GET ``url``; check the status and that the answer is JSON; return it decoded."""
    async with session.get(url) as response:
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        return await response.json()


def line_text(seq: int) -> str:
    return f"line {seq:06d}"


def publish(hub: Hub, stream: Stream, count: int, *, fd: str | None = None) -> int:
    """Publish ``count`` lines whose text says their seq; return the last seq."""
    start = stream.last_seq + 1
    hub.publish(stream, [Piece(line_text(n)) for n in range(start, start + count)], fd=fd)
    return stream.last_seq


@pytest.fixture
def serve(start_server: Callable[..., Any]) -> Serve:
    """``h = await serve(token=..., ...)``: a server with streams ``app`` and ``other``."""

    async def start(**overrides: Any) -> ServerHarness:
        h: ServerHarness = await start_server(make_config(**overrides), sources=[])
        h.hub.add_stream("app", "stdin")
        h.hub.add_stream("other", "process", argv=["true"])
        return h

    return start


@contextlib.contextmanager
def full_disk(stream: Stream) -> Iterator[None]:
    """While inside, the stream's open history file writes to ``/dev/full``.

    A real ``ENOSPC`` from the kernel, on the descriptor the log already
    holds (found in ``/proc/self/fd``): the log's own code meets the fault as
    on a disk that filled up. At the end the file is put back.
    """
    folder = os.path.realpath(stream.history.log.folder) if stream.history.log else None
    assert folder is not None, "a stream with a disk history"
    fds = [
        int(fd)
        for fd in os.listdir("/proc/self/fd")
        if _link(f"/proc/self/fd/{fd}").startswith(folder + os.sep)
    ]
    assert fds, "the history has an open file (publish a line first)"
    saved = [os.dup(fd) for fd in fds]
    full = os.open("/dev/full", os.O_WRONLY | os.O_CLOEXEC)
    try:
        for fd in fds:
            os.dup2(full, fd, inheritable=False)
        yield
    finally:
        for fd, copy in zip(fds, saved, strict=True):
            os.dup2(copy, fd, inheritable=False)
            os.close(copy)
        os.close(full)


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile (the listing's own fd)
        return ""
