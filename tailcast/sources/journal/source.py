"""The systemd journal as a stream (``journal:``, ``journal:UNIT``, ``journal:FIELD=VALUE``).

:class:`JournalSource` runs ``journalctl --follow --output=json``
(:func:`~tailcast.sources.journal.entry.journalctl_argv`) as a child in its own
process group (:mod:`tailcast.sources.process.spawn`), reads its output with
the event loop and publishes each read's entries in one batch, with the
cursor of the last one as the stream's checkpoint: in the same write as the
lines, so after a restart with the same ``--data-dir`` (or a crash)
``--after-cursor`` starts exactly after the last entry kept.

States: ``waiting`` while journalctl starts (and while the journal has no
entries at all), ``live`` once it has run a moment or written something,
``error`` with a message saying why when journalctl is not installed or
cannot read the journal (its own words from standard error). journalctl
ending for any reason is retried with a backoff doubling from
:data:`BACKOFF_MIN` to :data:`BACKOFF_MAX`. At shutdown the group gets
SIGTERM, then SIGKILL after :data:`GRACE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import shutil
from typing import TYPE_CHECKING, Any

from tailcast.protocol.columns import Columns
from tailcast.sources.base import Source
from tailcast.sources.journal.entry import EntryReader, journalctl_argv
from tailcast.sources.process import spawn

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "COALESCE",
    "GRACE",
    "STARTUP",
    "WAITING_MAX",
    "JournalSource",
    "grow_pipe",
]

log = logging.getLogger("tailcast.sources.journal")

BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0
BACKOFF_RESET = 10.0  # a run this long starts the backoff afresh
# While the journal has no entry yet, look again at least this often.
WAITING_MAX = 2.0
GRACE = 2.0  # SIGTERM, this long, SIGKILL: journalctl ends at once on SIGTERM
# journalctl running this long without failing (or its first output) is "live".
STARTUP = 0.5
EOF_WAIT = 1.0
# After a read, wait this long before the next (see _Output): at most this
# much later for an entry that comes right after another.
COALESCE = 0.002
# journalctl's pipe, grown from Linux's 64 KiB (the most an unprivileged process
# may set by default): while a batch is published journalctl writes on into
# it, rather than blocking and being woken for every few kilobytes read.
PIPE_SIZE = 1 << 20
# journalctl's standard error kept to say why it failed (its last lines).
STDERR_KEEP = 4096
# What journalctl says when the journal holds no entry at all (it will later).
_EMPTY = ("No such boot ID in journal", "No journal files were found")


class _Output(asyncio.Protocol):
    """journalctl's standard output: every read's entries to the hub at once.

    After each read, reading pauses for :data:`COALESCE` seconds: what
    journalctl writes meanwhile waits in the pipe and comes as one read. A
    lone entry is published at once; in a burst each read (one hub batch,
    one history write, one frame per client) carries some hundred entries
    instead of the few of one journalctl write.
    """

    def __init__(self, owner: JournalSource) -> None:
        self.owner = owner
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.transport: asyncio.ReadTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.owner.received(data)
        transport = self.transport
        if transport is not None and transport.is_reading():
            transport.pause_reading()
            self.loop.call_later(COALESCE, transport.resume_reading)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class _Errors(asyncio.Protocol):
    """journalctl's standard error: the last :data:`STDERR_KEEP` bytes, for the message."""

    def __init__(self) -> None:
        self.text = b""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.text = (self.text + data)[-STDERR_KEEP:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class JournalSource(Source):
    """``journal:[MATCH]``; see the module docstring."""

    def __init__(self, spec: SourceSpec, hub: Hub, config: Config) -> None:
        super().__init__(spec, hub, config)
        self.stream = hub.add_stream(spec.name, "journal", source_key=spec.raw, match=spec.target)
        checkpoint = self.stream.history.checkpoint or {}
        cursor = checkpoint.get("cursor")
        redactor = hub.redactor
        self.reader = EntryReader(
            config.max_line,
            cursor if isinstance(cursor, str) else None,
            hold=redactor.hold if redactor is not None else None,
        )
        self.grace = GRACE
        self.backoff_min = BACKOFF_MIN
        self.starts = 0
        self.bytes_read = 0
        self.error: str | None = None
        self._child: spawn.Child | None = None
        self._transports: list[asyncio.ReadTransport] = []
        self._live_timer: asyncio.TimerHandle | None = None
        self._closing = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.backoff_min
        while not self._closing:
            started = loop.time()
            await self._run_once()
            if loop.time() - started >= BACKOFF_RESET:
                delay = self.backoff_min
            if self.stream.state == "waiting":
                delay = min(delay, WAITING_MAX)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def argv(self, executable: str) -> list[str]:
        return journalctl_argv(
            executable,
            match=self.spec.target,
            directory=self.config.journal_dir,
            cursor=self.reader.cursor,
            lines=self.config.lines,
        )

    async def _run_once(self) -> None:
        """Start journalctl, publish until it ends, and say why it ended."""
        executable = shutil.which("journalctl")
        if executable is None:
            self._fail("journalctl not found on PATH: journal sources need it (Debian: systemd)")
            return
        try:
            child = await spawn.spawn(self.argv(executable), env=spawn.child_env({}, pty=False))
        except OSError as exc:
            self._fail(f"cannot run journalctl: {exc.strerror or exc}")
            return
        self._child = child
        self.starts += 1
        output, errors = await self._attach(child)
        loop = asyncio.get_running_loop()
        self._live_timer = loop.call_later(STARTUP, self._live)
        returncode = await child.proc.wait()
        await spawn.end_group(child.proc, child.pgid, self.grace)
        await asyncio.wait([output.done, errors.done], timeout=EOF_WAIT)
        self._detach()
        self._ended(returncode, errors.text.decode("utf-8", "replace"))

    async def _attach(self, child: spawn.Child) -> tuple[_Output, _Errors]:
        loop = asyncio.get_running_loop()
        output, errors = _Output(self), _Errors()
        fds = dict(child.outputs)
        grow_pipe(fds["out"])
        transport, _ = await loop.connect_read_pipe(lambda: output, spawn.fd_file(fds["out"]))
        self._transports.append(transport)
        transport, _ = await loop.connect_read_pipe(lambda: errors, spawn.fd_file(fds["err"]))
        self._transports.append(transport)
        return output, errors

    def _detach(self) -> None:
        if self._live_timer is not None:
            self._live_timer.cancel()
            self._live_timer = None
        for transport in self._transports:
            transport.close()
        self._transports.clear()
        self._child = None

    def received(self, data: bytes) -> None:
        """One read of journalctl's output: its entries, numbered and kept with the cursor."""
        self.bytes_read += len(data)
        lines = self.reader.read_columns(data)
        if isinstance(lines, Columns):
            self._live()
            self.hub.publish_columns(self.stream, lines, checkpoint={"cursor": self.reader.cursor})
        elif lines[0]:
            self._live()
            checkpoint = {"cursor": self.reader.cursor}
            self.hub.publish_entries(self.stream, lines[0], checkpoint=checkpoint, stamps=lines[1])

    def _live(self) -> None:
        if self._child is not None and not self._closing:
            self.error = None
            self.hub.set_state(self.stream, "live")

    def _fail(self, message: str) -> None:
        if message != self.error:
            log.warning("%s: %s", self.shown_raw, message)
        self.error = message
        self.hub.set_state(self.stream, "error", message=message)

    def _ended(self, returncode: int, stderr: str) -> None:
        if self._closing:
            return
        said = [line.strip() for line in stderr.splitlines() if line.strip()]
        if any(marker in line for line in said for marker in _EMPTY):
            where = self.config.journal_dir or "the system journal"
            self.error = None
            self.hub.set_state(self.stream, "waiting", message=f"no journal entries yet in {where}")
            return
        if said and "cursor" in said[-1].lower() and self.reader.cursor is not None:
            # A saved cursor this journal does not know (a damaged checkpoint):
            # start again from the newest entries rather than fail for ever.
            log.warning("%s: %s; reading from the newest entries", self.shown_raw, said[-1])
            self.reader.cursor = None
            return
        reason = said[-1] if said else f"exited with status {returncode}"
        self._fail(f"journalctl: {reason}")

    async def close(self) -> None:
        """End journalctl's group (SIGTERM, grace, SIGKILL). Safe to call twice."""
        self._closing = True
        child = self._child
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                await spawn.end_group(child.proc, child.pgid, self.grace)
        self._detach()

    def statistics(self) -> dict[str, Any]:
        child = self._child
        return {
            "kind": "journal",
            "match": self.spec.target,
            "pid": child.proc.pid if child is not None else None,
            "starts": self.starts,
            "bytes_read": self.bytes_read,
            "entries": self.reader.entries,
            "skipped": self.reader.skipped,
            "cursor": self.reader.cursor,
        }


def grow_pipe(fd: int) -> None:
    """Make the pipe behind ``fd`` :data:`PIPE_SIZE` where the system allows (Linux)."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):  # over /proc/sys/fs/pipe-max-size: as it is
            fcntl.fcntl(fd, setsize, PIPE_SIZE)
