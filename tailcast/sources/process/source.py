"""A command's output as a stream (``cmd:COMMAND``), with its whole lifecycle.

:class:`ProcessSource` starts the command (:mod:`tailcast.sources.process.spawn`),
publishes stdout and stderr as ``fd: "out"``/``"err"`` in the order they were
read, and follows the lifecycle in the stream's state:

``waiting`` → ``live`` → ``exited`` (``exit_code``; ``signal`` too when killed,
and then ``exit_code`` is 128+N like a shell says) — or ``error`` with the OS
message when the command cannot be started. Then, by ``--restart``:
``no`` waits, ``on-failure`` starts it again after a failure, ``always`` after
any exit, with a backoff doubling from :data:`BACKOFF_MIN` to
:data:`BACKOFF_MAX` (back to the minimum after a run of
:data:`BACKOFF_RESET` seconds). The control routes (``--allow-control``) call
:meth:`ProcessSource.restart` and :meth:`ProcessSource.stop`.

Output is read by a protocol callback that hands each read straight to the
hub, which never waits for a client: the pipes are drained as fast as the
lines can be numbered, memory stays bounded by the history ring and the
client queues, and a slow viewer only ever gets a ``gap``. The one thing that
may hold the child back is the optional terminal ``echo`` of ``tailcast run``
(see :mod:`tailcast.commands.echo`), like ``tee`` would. This module knows
nothing of the command line: ``tailcast run`` (:mod:`tailcast.commands.run`)
builds a :class:`ProcessSource` and hands it its echo.

After a restart with the same ``--data-dir`` the command simply runs again:
there is nothing to read on from, but its stream (created with
``source_key`` = the SOURCE as written) keeps its epoch and numbering.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tailcast.sources.base import LinePump, Source
from tailcast.sources.process import spawn

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "BACKOFF_RESET",
    "GRACE",
    "Echo",
    "ProcessSource",
]

log = logging.getLogger("tailcast.sources.process")

BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0
BACKOFF_RESET = 10.0
# SIGTERM, then this long, then SIGKILL. With spawn.KILL_WAIT and EOF_WAIT
# the worst case stays under the server's SOURCE_CLOSE_TIMEOUT (8 s).
GRACE = 4.0
# After the group is gone every writer of our pipes is gone; end of file
# follows at once unless a process escaped the group with the pipe (setsid).
EOF_WAIT = 1.0

# ``echo(fd_label, data)``: a copy of every read, for the terminal of ``tailcast run``.
Echo = Callable[[str, bytes], None]


class _Reader(asyncio.Protocol):
    """One output fd of the child: every read goes to its pump (and the echo) at once."""

    def __init__(self, owner: ProcessSource, label: str, pump: LinePump) -> None:
        self.owner = owner
        self.label = label
        self.pump = pump
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.owner.bytes_read += len(data)
        self.pump.feed(data)
        if self.owner.echo is not None and self.pump.echo is None:
            self.owner.echo(self.label, data)  # as read: colours, \r and all

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        # A pty master reads EIO once the last slave fd is closed: that is its EOF.
        if exc is not None and not (isinstance(exc, OSError) and exc.errno == errno.EIO):
            log.warning("reading %s of %s: %s", self.label, self.owner.shown_raw, exc)
        if not self.done.done():
            self.done.set_result(None)


class _Run:
    """One run of the command: the child, its transports and readers."""

    def __init__(self, child: spawn.Child) -> None:
        self.child = child
        self.transports: list[asyncio.ReadTransport] = []
        self.readers: list[_Reader] = []
        # Output fds not yet handed to a transport (closed by _collect if we
        # were cancelled before attaching them).
        self.loose_fds = [fd for _, fd in child.outputs]
        self.collected = False


class ProcessSource(Source):
    """``cmd:COMMAND``; see the module docstring. Its stream's controller is itself."""

    def __init__(
        self, spec: SourceSpec, hub: Hub, config: Config, *, echo: Echo | None = None
    ) -> None:
        super().__init__(spec, hub, config)
        # Name and argv as shown (STREAM_INFO, /api/streams): redacted; the
        # command runs with its real argv.
        self.stream = hub.add_stream(
            self.shown(spec.name),
            "process",
            source_key=self.shown_raw,
            argv=[self.shown(arg) for arg in spec.argv],
        )
        self.stream.controller = self
        if config.allow_control:  # STREAM_INFO `controllable` (1.1)
            self.stream.detail["controllable"] = True
        self.echo = echo
        self.grace = GRACE
        self.backoff_min = BACKOFF_MIN
        self.backoff_max = BACKOFF_MAX
        # ``tailcast run`` reports a failed start itself and never retries one.
        self.log_errors = True
        self.retry_failed_start = True
        # Set while the command is not running and will not start by itself
        # (policy says so, or it was stopped): ``tailcast run`` waits for it.
        self.finished = asyncio.Event()
        self.returncode: int | None = None  # of the last run, as asyncio gives it
        self.error: str | None = None  # why the last start failed
        self.starts = 0
        self.started: float | None = None  # UNIX time the current run began
        self.bytes_read = 0
        self._run: _Run | None = None
        self._request: str | None = None  # "restart" | "stop", from the controller
        self._wake = asyncio.Event()
        self._kill_timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._closing = False

    # -- the lifecycle -----------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.backoff_min
        while not self._closing:
            started = loop.time()
            returncode = await self._run_once()
            request = self._take_request()
            if request is None and self._auto_restart(returncode):
                if loop.time() - started >= BACKOFF_RESET:
                    delay = self.backoff_min
                log.warning("%s ended; starting it again in %.1fs", self.shown_raw, delay)
                request = await self._next_request(delay)
                delay = min(delay * 2, self.backoff_max)
                if request is None:
                    continue  # the backoff is over
            if request == "restart":
                continue
            # Not running, and nothing will start it but a control restart.
            self.finished.set()
            while await self._next_request(None) != "restart":
                pass
            self.finished.clear()
            delay = self.backoff_min

    def _auto_restart(self, returncode: int | None) -> bool:
        policy = self.config.restart
        if returncode is None and not self.retry_failed_start:
            return False
        if policy == "always":
            return True
        return policy == "on-failure" and returncode != 0  # None: it could not start

    def _take_request(self) -> str | None:
        request, self._request = self._request, None
        return request

    async def _next_request(self, within: float | None) -> str | None:
        """A control request, or None after ``within`` seconds."""
        if self._request is None:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), within)
        return self._take_request()

    async def _run_once(self) -> int | None:
        """Start, read until the exit, clean up the group; the returncode or None."""
        argv = self.spec.argv
        pty = self.config.pty
        try:
            child = await spawn.spawn(
                argv,
                cwd=self.spec.cwd,
                env=spawn.child_env(self.spec.env, pty=pty),
                pty=pty,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.filename is not None and exc.filename != argv[0]:
                reason = f"{exc.filename}: {reason}"  # the cwd, say
            self.error = self.shown(f"cannot run {argv[0]!r}: {reason}")
            self.returncode = None
            if self.log_errors:
                log.warning("%s: %s", self.shown_raw, self.error)
            self.hub.set_state(self.stream, "error", message=self.error)
            return None
        self.error = None
        self.starts += 1
        run = self._run = _Run(child)
        for label, fd in child.outputs:
            await self._attach(run, label, fd)
        self.started = self.stream.detail["started"] = time.time()  # STREAM_INFO (1.1)
        self.hub.set_state(self.stream, "live")
        log.info("%s started, pid %d", self.shown_raw, child.proc.pid)
        if self._request is not None:
            self._terminate()  # asked to stop or restart while it was starting
        await child.proc.wait()
        # The leader is gone; what it left in its group would hold our pipes
        # open and outlive us: end it too.
        await spawn.end_group(child.proc, child.pgid, self.grace)
        await self._collect(run)
        return self.returncode

    def _echo_kept(self, label: str, data: bytes) -> None:
        if self.echo is not None:
            self.echo(label, data)

    async def _attach(self, run: _Run, label: str, fd: int) -> None:
        """Read ``fd`` (a pipe or pty master) with the event loop into its own pump."""
        pump = LinePump(
            self.hub,
            self.stream,
            max_line=self.config.max_line,
            fd=label,
            flush_delay=self.config.flush_delay,
        )
        if self.hub.redactor is not None:
            # With redaction the terminal echo is the redacted text the pump kept.
            pump.echo = functools.partial(self._echo_kept, label)
        reader = _Reader(self, label, pump)
        loop = asyncio.get_running_loop()
        run.loose_fds.remove(fd)
        transport, _ = await loop.connect_read_pipe(lambda: reader, spawn.fd_file(fd))
        if self._paused:
            transport.pause_reading()
        run.transports.append(transport)
        run.readers.append(reader)

    async def _collect(self, run: _Run) -> None:
        """After the group is gone: read to end of file, then report the exit."""
        if run.collected:
            return
        self._cancel_kill_timer()
        pending = [r.done for r in run.readers if not r.done.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=EOF_WAIT)
            if late:
                log.warning("%s: output still held open by an escaped process", self.shown_raw)
        # No await from here on: cancelled above, close() runs all of this again.
        run.collected = True
        for fd in run.loose_fds:
            os.close(fd)
        run.loose_fds.clear()
        for transport in run.transports:
            transport.close()
        for reader in run.readers:
            reader.pump.feed_eof()
        returncode = run.child.proc.returncode
        if self._run is run:
            self._run = None
        if returncode is None:  # could not be reaped: should not happen after SIGKILL
            self.hub.set_state(self.stream, "error", message="the process could not be ended")
            return
        self.returncode = returncode
        exit_code, signame = spawn.exit_status(returncode)
        log.info("%s exited with %d", self.shown_raw, exit_code)
        self.hub.set_state(self.stream, "exited", exit_code=exit_code, signal=signame)

    # -- control (the HTTP routes, tailcast run) ---------------------------------------

    async def restart(self) -> None:
        """Stop the command if it runs, then start it again (at once, no backoff)."""
        self._request = "restart"
        self._wake.set()
        self._terminate()

    async def stop(self) -> None:
        """Stop the command; it starts again only on :meth:`restart`."""
        self._request = "stop"
        self._wake.set()
        self._terminate()

    def _terminate(self) -> None:
        """SIGTERM the running group now, SIGKILL after the grace period; no wait."""
        run = self._run
        if run is None or run.child.proc.returncode is not None:
            return
        pgid = run.child.pgid
        spawn.signal_group(pgid, signal.SIGTERM)
        if self._kill_timer is None:
            loop = asyncio.get_running_loop()
            self._kill_timer = loop.call_later(self.grace, spawn.signal_group, pgid, signal.SIGKILL)

    def _cancel_kill_timer(self) -> None:
        if self._kill_timer is not None:
            self._kill_timer.cancel()
            self._kill_timer = None

    def pause_reading(self, paused: bool) -> None:
        """Hold the child back (the terminal echo is behind), or let it go on."""
        self._paused = paused
        if self._run is not None:
            for transport in self._run.transports:
                if transport.is_closing():
                    continue
                if paused:
                    transport.pause_reading()
                else:
                    transport.resume_reading()

    async def close(self) -> None:
        """SIGTERM the group, grace, SIGKILL; reap and report. Safe to call twice."""
        self._closing = True
        self._wake.set()
        run = self._run
        if run is None:
            return
        if self._paused:
            self.pause_reading(False)  # what is left must drain, or the child never exits
        if not await spawn.end_group(run.child.proc, run.child.pgid, self.grace):
            log.warning("%s: processes of its group outlived SIGKILL", self.shown_raw)
        await self._collect(run)

    def statistics(self) -> dict[str, Any]:
        run = self._run
        return {
            "kind": "process",
            "argv": [self.shown(arg) for arg in self.spec.argv],
            "pid": run.child.proc.pid if run is not None else None,
            "starts": self.starts,
            "bytes_read": self.bytes_read,
            "returncode": self.returncode,
        }

    @property
    def exit_status(self) -> int:
        """What ``tailcast run`` exits with: the status, 128+N for a signal, 2 if never run."""
        if self.returncode is None:
            return 2
        return spawn.exit_status(self.returncode)[0]
