"""The source interface, and :class:`LinePump`, the bytes-to-hub glue all sources share.

A source is created with its :class:`~tailcast.config.SourceSpec`, the hub and
the config; its constructor creates the stream(s) it knows of up front (a glob
or ``docker:*`` adds more later). The server then runs :meth:`Source.run` as a
task it owns:

- ``run`` returns only when the source is finished for good (stdin at EOF);
  expected errors (a missing file, a daemon down) become a visible stream
  state and are retried by the source itself, with backoff;
- the server cancels the task at shutdown and then awaits :meth:`Source.close`,
  which must release everything (child processes included) within a few
  seconds. ``CancelledError`` is caught only to clean up, then re-raised.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tailcast.protocol.lines import LineSplitter, Piece

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub, Stream

__all__ = [
    "DEFAULT_FLUSH_DELAY",
    "SOURCE_CLOSE_TIMEOUT",
    "Checkpointer",
    "LinePump",
    "Source",
    "start_sources",
    "stop_sources",
]

log = logging.getLogger("tailcast.sources")

# How long a partial line (no newline yet) waits before it is shown anyway.
DEFAULT_FLUSH_DELAY = 0.25
# Longest wait for every source's close() at shutdown (a process gets SIGTERM,
# a 4 s grace, SIGKILL, and a last read inside this).
SOURCE_CLOSE_TIMEOUT = 8.0

# A source's position after what a pump has published, given the bytes the
# splitter still holds back and whether the last piece left its line open.
Checkpointer = Callable[[int, bool], "dict[str, Any] | None"]


class Source(abc.ABC):
    """One configured source; see the module docstring for its contract."""

    def __init__(self, spec: SourceSpec, hub: Hub, config: Config) -> None:
        self.spec = spec
        self.hub = hub
        self.config = config
        # The SOURCE as shown in logs: redacted like a line (a password in a
        # command's URL is in no log).
        self.shown_raw = self.shown(spec.raw)

    def shown(self, text: str) -> str:
        """``text`` as it may be shown (STREAM_INFO, logs): redacted when redaction is on."""
        redactor = self.hub.redactor
        return text if redactor is None else redactor.text(text)

    @abc.abstractmethod
    async def run(self) -> None:
        """Read and publish until finished or cancelled."""

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release what :meth:`run` left behind after it was cancelled."""

    def statistics(self) -> dict[str, Any]:
        return {"kind": self.spec.kind}


class LinePump:
    """Bytes from one fd of one stream -> line pieces -> hub, with the partial-line flush.

    ``feed`` publishes every complete line at once (all lines of one read in
    one batch); a partial line is published after ``flush_delay`` seconds of
    quiet and continued later as a ``cont`` piece.

    With redaction on, the splitter keeps back where a secret may begin at
    the end of an unfinished piece (:meth:`tailcast.protocol.redact.Redactor.hold`);
    what it kept back at a flush is published after a further ``flush_delay``
    of quiet (:meth:`release`), but for what may begin a secret.

    With a ``checkpointer`` every publish carries the source's position
    after exactly the bytes published (the bytes the splitter holds back are
    not covered: a restart reads them again), in the same write as the lines.
    """

    def __init__(
        self,
        hub: Hub,
        stream: Stream,
        *,
        max_line: int,
        fd: str | None = None,
        flush_delay: float = DEFAULT_FLUSH_DELAY,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self.hub = hub
        self.stream = stream
        self.fd = fd
        self.flush_delay = flush_delay
        redactor = hub.redactor
        self._hold = redactor.hold if redactor is not None else None
        self.splitter = LineSplitter(max_line, hold=self._hold)
        self.checkpointer = checkpointer
        self._timer: asyncio.TimerHandle | None = None
        # ``tailcast run`` with redaction: the terminal gets the kept text,
        # not the bytes read (see :meth:`_echo`).
        self.echo: Callable[[bytes], None] | None = None
        self._echo_open = False  # the echo is inside a line

    def feed(self, data: bytes, ts: float | None = None) -> None:
        self._publish(self.splitter.feed(data), ts)
        self._arm()

    def flush(self) -> None:
        """Publish the partial line now (but what may start a secret: :meth:`release`)."""
        self._cancel()
        self._publish(self.splitter.flush())
        if self.splitter.pending and self._hold is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.flush_delay, self.release)

    def release(self) -> None:
        """Publish what a flush kept back (not what may begin a secret): a further quiet delay."""
        self._cancel()
        self._publish(self.splitter.flush(quiet=True))

    def feed_eof(self) -> None:
        self._cancel()
        self._publish(self.splitter.feed_eof())

    def reset(self, *, cont: bool = False) -> None:
        """End a partial line (its file was truncated or replaced); start afresh.

        ``cont``: the next bytes continue a line an earlier run left open.
        """
        self.feed_eof()
        self.splitter = LineSplitter(self.splitter.max_line, cont=cont, hold=self._hold)

    def _publish(self, pieces: list[Piece], ts: float | None = None) -> None:
        splitter = self.splitter
        if pieces:
            checkpoint = None
            if self.checkpointer is not None:
                # After the splitter call: what it holds back is not published yet.
                checkpoint = self.checkpointer(splitter.pending, splitter.cont)
            pieces = self.hub.publish(self.stream, pieces, fd=self.fd, ts=ts, checkpoint=checkpoint)
        if self.echo is not None:
            self._echo(pieces)

    def _echo(self, pieces: list[Piece]) -> None:
        """The pieces as kept (redacted), as text again: a newline where a line ended."""
        assert self.echo is not None
        parts: list[str] = []
        for piece in pieces:
            if self._echo_open and not piece.cont:
                parts.append("\n")
            parts.append(piece.text)
            self._echo_open = True
        if self._echo_open and not self.splitter.cont:
            parts.append("\n")
            self._echo_open = False
        if parts:
            self.echo("".join(parts).encode("utf-8"))

    def _arm(self) -> None:
        self._cancel()
        if self.splitter.pending:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.flush_delay, self.flush)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _run_source(source: Source) -> None:
    try:
        await source.run()
    except asyncio.CancelledError:
        raise
    except Exception:
        # A source's own errors are states; reaching here is a bug. Keep serving.
        log.exception("source %s crashed", source.shown_raw)


def start_sources(sources: Sequence[Source]) -> list[asyncio.Task[None]]:
    """One task per source, owned by the caller, who ends them with :func:`stop_sources`."""
    return [
        asyncio.create_task(_run_source(source), name=f"source:{source.shown_raw}")
        for source in sources
    ]


async def stop_sources(tasks: list[asyncio.Task[None]], sources: Sequence[Source]) -> None:
    """Cancel the tasks, then close every source within :data:`SOURCE_CLOSE_TIMEOUT`."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    tasks.clear()
    if sources:
        _, pending = await asyncio.wait(
            [asyncio.ensure_future(s.close()) for s in sources], timeout=SOURCE_CLOSE_TIMEOUT
        )
        if pending:
            log.warning("%d source(s) did not close in time", len(pending))
