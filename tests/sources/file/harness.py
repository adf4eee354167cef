"""The harness of the file-follower tests: a real source on a real hub, recorded.

:func:`following` starts a :class:`FileSource` or :class:`GlobSource` (real
files, the real shared watch backend) on a hub whose listener records every status
frame and stream change; the lines are read back from the hub's history.
Also a steady writer thread, used by the rotation tests, and a watch client
that records what a backend tells it (:func:`watching` adds it to one for a
block). Not a test module itself
(its one check lives in ``test_source_rotation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from tailcast.config import parse_source
from tailcast.hub import Hub, Stream, decode_line
from tailcast.sources.file.source import FileSource, GlobSource
from tailcast.sources.file.watch.base import Changes, PathChange, WatchBackend
from tests.harness import make_config
from tests.helpers import apoll

__all__ = [
    "COUNT",
    "RATE",
    "Following",
    "RecordingClient",
    "SteadyWriter",
    "following",
    "line_text",
    "numbers",
    "rename_hook",
    "run_writer",
    "watching",
]

_Backend = TypeVar("_Backend", bound=WatchBackend)


class Following:
    """A running source plus everything its hub told the (recording) listener."""

    def __init__(self, hub: Hub, source: FileSource | GlobSource) -> None:
        self.hub = hub
        self.source = source
        self.statuses: list[dict[str, Any]] = []
        self.stream_changes: list[tuple[list[str], list[str]]] = []

    # HubListener
    def on_lines(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None:
        pass

    def on_status(self, stream: Stream, frame: bytes) -> None:
        self.statuses.append(json.loads(frame))

    def on_streams(self, added: Sequence[Stream], removed: Sequence[Stream]) -> None:
        self.stream_changes.append(([s.id for s in added], [s.id for s in removed]))

    # reading back
    def pieces(self, stream_id: str) -> list[dict[str, Any]]:
        stream = self.hub.streams.get(stream_id)
        return [] if stream is None else [decode_line(b) for b in stream.ring]

    def lines(self, stream_id: str) -> list[str]:
        """Whole lines: ``cont`` pieces joined to the line they continue."""
        out: list[str] = []
        for piece in self.pieces(stream_id):
            if piece.get("cont") and out:
                out[-1] += piece["text"]
            else:
                out.append(piece["text"])
        return out

    def file_events(self, stream_id: str) -> list[str]:
        """The ``tail -F`` events (rotated, truncated, reattached) of one stream, in order."""
        return [s["event"] for s in self.statuses if s["stream"] == stream_id and "event" in s]

    def states(self, stream_id: str) -> list[str]:
        return [s["state"] for s in self.statuses if s["stream"] == stream_id and "event" not in s]

    def files(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.source.statistics()["files"]
        return files

    def file(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        for f in self.files():
            if f["path"] == os.fspath(path):
                return f
        raise KeyError(path)

    def _started(self) -> bool:
        stats = self.source.statistics()
        return bool(stats["steps"] >= 1 and (stats["polled"] or stats["watcher"]["restarts"]))

    async def started(self) -> None:
        """Until the source has looked once and its directories are watched (or polled)."""
        await apoll(self._started)

    async def wait_lines(self, stream_id: str, expected: list[str]) -> None:
        await apoll(lambda: self.lines(stream_id) == expected)

    async def wait_read(self, path: str | os.PathLike[str], size: int) -> None:
        """Until the source has read ``path`` up to offset ``size``."""
        await apoll(lambda: self.file(path)["offset"] == size)


@asynccontextmanager
async def following(
    target: str | os.PathLike[str], *, quiet: float = 1.0, **overrides: Any
) -> AsyncIterator[Following]:
    """Follow ``target`` (a path or a glob) until the block ends."""
    hub = Hub(1_000_000)
    spec = parse_source(os.fspath(target))
    config = make_config(**overrides)
    source: FileSource | GlobSource
    if spec.kind == "glob":
        source = GlobSource(spec, hub, config, quiet=quiet)
    else:
        source = FileSource(spec, hub, config, quiet=quiet)
    f = Following(hub, source)
    hub.listener = f
    task = asyncio.create_task(source.run())
    try:
        await f.started()
        yield f
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.close()


def line_text(n: int) -> str:
    return f"line {n:06d} " + "x" * 40


class SteadyWriter(threading.Thread):
    """Appends ``count`` numbered lines at ``rate`` lines/s, one write() each.

    ``hooks`` maps a line number to a function called (in this thread) just
    before that line is written: the rotation under test. ``reopen(path)``
    lets a hook switch the file the writer appends to.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        count: int,
        rate: float,
        hooks: dict[int, Callable[[SteadyWriter], None]] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.path = os.fspath(path)
        self.count = count
        self.interval = 1.0 / rate
        self.hooks = hooks or {}
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.written = 0
        self.error: BaseException | None = None

    def reopen(self) -> None:
        old, self.fd = self.fd, os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.close(old)

    def run(self) -> None:
        try:
            start = time.monotonic()
            for n in range(1, self.count + 1):
                hook = self.hooks.get(n)
                if hook is not None:
                    hook(self)
                os.write(self.fd, (line_text(n) + "\n").encode())
                self.written = n
                # Pacing, not synchronisation: keep a steady rate.
                delay = start + n * self.interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            os.close(self.fd)


# -- rotation under a steady writer (test_source_rotation, test_watch_portable) --------

COUNT = 1500
RATE = 1500.0  # lines per second: a second of writing per test


def numbers(lines: list[str]) -> list[int]:
    return [int(text.split()[1]) for text in lines]


async def run_writer(f: Following, writer: SteadyWriter, stream: str) -> list[int]:
    """Start the writer, wait for its last line and for old files to be read out."""
    writer.start()
    await apoll(lambda: not writer.is_alive(), timeout=30)
    assert writer.error is None, writer.error
    last = line_text(COUNT)
    await apoll(lambda: last in f.lines(stream))
    await apoll(lambda: all(x["old_files"] == 0 for x in f.files()), timeout=30)
    # Every piece is a whole line (the writer writes whole lines).
    assert not any(p.get("cont") for p in f.pieces(stream))
    return numbers(f.lines(stream))


def rename_hook(delay_lines: int) -> Callable[[SteadyWriter], None]:
    """Rename the file; the writer reopens after ``delay_lines`` more lines."""

    def hook(w: SteadyWriter) -> None:
        os.rename(w.path, w.path + ".1")
        if delay_lines == 0:
            w.reopen()
        else:
            w.hooks[w.written + 1 + delay_lines] = lambda w2: w2.reopen()

    return hook


# -- a watch client that records what a backend told it ---------------------------


class RecordingClient:
    """A :class:`~tailcast.sources.file.watch.base.WatchClient` that keeps every batch."""

    min_step = 0.0  # every change at once

    def __init__(self, dirs: set[str]) -> None:
        self.dirs = dirs
        self.batches: list[list[PathChange] | None] = []
        self.times: list[float] = []  # time.monotonic() of each batch

    def watch_dirs(self) -> Iterable[str]:
        return self.dirs

    def ready_at(self) -> float:
        """Paced like a source: ``min_step`` after the last batch."""
        return (self.times[-1] if self.times else float("-inf")) + self.min_step

    def notify(self, changes: Changes | None) -> None:
        self.batches.append(None if changes is None else list(changes))
        self.times.append(time.monotonic())

    def changes(self) -> set[PathChange]:
        """Every change received, batches merged."""
        return {c for batch in self.batches if batch is not None for c in batch}


@asynccontextmanager
async def watching(backend: _Backend, *clients: RecordingClient) -> AsyncIterator[_Backend]:
    """``backend`` with ``clients`` for the block; after it, they are removed and it has stopped."""
    for client in clients:
        backend.add(client)
    try:
        yield backend
    finally:
        for client in clients:
            backend.remove(client)
        await backend.wait_stopped()
