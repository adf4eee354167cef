"""``tailcast run [OPTIONS] -- COMMAND ARG...``: one command, served and echoed.

The server starts with one process stream (plus any ``[[source]]`` of
``--config``), prints ``tailcast: serving 1 streams on URL`` on stderr (the
contract's exact words), and echoes the command's stdout to our stdout and
its stderr to our stderr, byte for byte (colours included). When the command
ends, the server keeps serving for ``--linger`` seconds so the page can still
be read, then exits with the command's status (128+N when a signal N killed
it; 2 when it could not start).
SIGINT/SIGTERM end the command (SIGTERM to its group, grace, SIGKILL) and
then tailcast, with the command's status.

The echo is a :class:`TerminalEcho`: a bounded queue and one writer thread,
so that a slow terminal or pipe never blocks the event loop (the viewers keep
being served). When the queue is full the child's pipes stop being read, the
way ``tee`` would hold it back — the terminal is the one reader that may.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from tailcast.cli import _install_signals, start_and_announce
from tailcast.config import SourceSpec, build_config
from tailcast.errors import ConfigError
from tailcast.server import Server
from tailcast.sources import build_source
from tailcast.sources.process.source import ProcessSource

__all__ = ["ECHO_HIGH", "ECHO_LOW", "TerminalEcho", "run_command"]

# Echo queue: above HIGH bytes the child is held back, below LOW it goes on.
ECHO_HIGH = 1024 * 1024
ECHO_LOW = 256 * 1024
ECHO_DRAIN_TIMEOUT = 10.0


class TerminalEcho:
    """Copies of the child's output written to our stdout/stderr by one thread, in order.

    :meth:`write` is called on the event loop and never blocks; ``on_pressure``
    is called on the event loop with True when the queue passes
    :data:`ECHO_HIGH` bytes and with False when it is back under
    :data:`ECHO_LOW`.
    """

    def __init__(
        self,
        out: BinaryIO,
        err: BinaryIO,
        loop: asyncio.AbstractEventLoop,
        on_pressure: Callable[[bool], None],
    ) -> None:
        self._files = {"out": out, "err": err}
        self._loop = loop
        self._on_pressure = on_pressure
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, bytes]] = deque()
        self._bytes = 0
        self._paused = False
        self._resume_scheduled = False
        self._closed = False
        self._broken: set[str] = set()
        self._thread = threading.Thread(target=self._work, name="tailcast-echo", daemon=True)
        self._thread.start()

    def write(self, label: str, data: bytes) -> None:
        with self._cond:
            if self._closed:
                return
            self._queue.append((label, data))
            self._bytes += len(data)
            pause = self._bytes > ECHO_HIGH and not self._paused
            if pause:
                self._paused = True
            self._cond.notify()
        if pause:
            self._on_pressure(True)

    def _resume(self) -> None:  # on the event loop
        with self._cond:
            self._resume_scheduled = False
            resume = self._paused and self._bytes <= ECHO_LOW
            if resume:
                self._paused = False
        if resume:
            self._on_pressure(False)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                label, data = self._queue.popleft()
            if label not in self._broken:
                fh = self._files[label]
                try:
                    fh.write(data)
                    fh.flush()
                except (OSError, ValueError):
                    # Our reader went away (| head): stop echoing, keep serving.
                    self._broken.add(label)
            with self._cond:
                self._bytes -= len(data)
                wake = self._paused and self._bytes <= ECHO_LOW and not self._resume_scheduled
                if wake:
                    self._resume_scheduled = True
            if wake:
                with contextlib.suppress(RuntimeError):  # the loop is closed already
                    self._loop.call_soon_threadsafe(self._resume)

    def close(self, timeout: float = ECHO_DRAIN_TIMEOUT) -> None:
        """Write what is queued (bounded in time), then end the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)


def _spec(ns: argparse.Namespace) -> SourceSpec:
    argv = list(ns.command or [])
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise ConfigError("run: no COMMAND given (e.g. tailcast run -- make -j8)")
    name = ns.name
    return SourceSpec(
        f"cmd:{shlex.join(argv)}",
        "process",
        name or Path(argv[0]).name or argv[0],
        argv=tuple(argv),
        named=name is not None,
    )


def run_command(ns: argparse.Namespace, settings: dict[str, Any]) -> int:
    """The whole of ``tailcast run``: returns the exit status (see the module docstring)."""
    spec = _spec(ns)
    config = build_config(settings, [], config_file=ns.config, extra_sources=[spec])
    return asyncio.run(_run(config, spec))


async def _run(config: Any, spec: SourceSpec) -> int:
    loop = asyncio.get_running_loop()
    server = Server(config, sources=[])
    # The sources of --config first, in their order; the command last.
    server.sources.extend(
        build_source(s, server.hub, config) for s in config.sources if s is not spec
    )
    source = ProcessSource(spec, server.hub, config)
    source.log_errors = False  # we say it ourselves, once, at the end
    source.retry_failed_start = False
    server.sources.append(source)
    echo = TerminalEcho(sys.stdout.buffer, sys.stderr.buffer, loop, source.pause_reading)
    source.echo = echo.write
    stop = asyncio.Event()
    _install_signals(loop, stop.set)
    # The serving line is printed before the loop runs again, so before the
    # first echoed byte.
    if not await start_and_announce(server):
        echo.close()
        return 2
    finished = asyncio.ensure_future(source.finished.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if finished.done() and not stopped.done() and config.linger > 0:
            await asyncio.wait({stopped}, timeout=config.linger)
    finally:
        finished.cancel()
        stopped.cancel()
        await server.stop()
        await asyncio.to_thread(echo.close)
    if source.error is not None and source.returncode is None:
        print(f"tailcast: {source.error}", file=sys.stderr, flush=True)
    return source.exit_status
