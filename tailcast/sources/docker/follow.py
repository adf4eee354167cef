"""Following one container's log into its stream, through its runs and reconnects.

A follow inspects its container (``Config.Tty`` picks the raw form), reads
``/containers/ID/logs?follow=1&timestamps=1`` while it runs, and when the
container dies (the ``die`` event: Podman never ends a follow by itself)
reads once more without ``follow`` from its resume point, so that the last
lines are never lost, then marks the stream ``exited`` with the exit code. A
``start`` event (:attr:`Tracked.started`) continues the same stream.

Every request after the first asks for ``since=`` the decoder's resume point,
and the decoder drops what was already published (see
:mod:`tailcast.protocol.engine_logs`), so a broken connection neither loses
nor repeats a line. The first time a container is attached its last
``--lines`` lines are shown (:attr:`Tracked.tail`) if it was already running
when tailcast started; a container first seen later is read from the moment
tailcast started (:attr:`Tracked.since`).

Across a restart with the same ``--data-dir``: every publish carries the
checkpoint ``{"container_id", "ts_ns", "count"}`` (the decoder's resume
point: the last record accepted and how many records had exactly that
timestamp), and a container the stream's checkpoint names is read on from it
(:attr:`Tracked.resume`): ``since=`` a second early, and the decoder drops
the records already published by timestamp and count, so the lines written
while tailcast was down arrive and none twice. (A partial line the decoder
held back at a ``SIGKILL``, not yet flushed, is not read again.)

An error (the engine gone, bad data) ends the follow by raising: the source
ends the whole round and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from tailcast.errors import SourceError
from tailcast.protocol.engine_logs import LogDecoder, LogLine, ResumePoint
from tailcast.sources.docker.engine import Engine

if TYPE_CHECKING:
    from tailcast.config import Config
    from tailcast.hub import Hub, Stream

__all__ = ["READ_SIZE", "Follower", "Tracked", "checkpoint", "resume_point"]

READ_SIZE = 64 * 1024
# A container in one of these states has never run: there is no log yet.
_NOT_STARTED = ("created", "configured", "initialized")

Publish = Callable[["Tracked", list[LogLine]], None]


@dataclass
class Tracked:
    """One container followed into one stream; lives across rounds."""

    id: str
    stream: Stream
    since: int | None  # first attach: read from here (None = use ``tail``)
    tail: int | None
    decoder: LogDecoder | None = None
    resume: ResumePoint | None = None  # the first decoder starts here (a restart)
    exit_code: int | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    died: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False  # exited and read to the end


class Follower:
    """Reads tracked containers' logs from the engine and publishes them to the hub."""

    def __init__(self, engine: Engine, hub: Hub, config: Config) -> None:
        self.engine = engine
        self.hub = hub
        self.config = config
        # Podman's ``tail=`` loses newlines around long (partial) records, so
        # there the backlog is cut by us instead (see _read_logs). The source
        # sets this from each round's ping.
        self.podman = False

    async def follow(self, t: Tracked) -> None:
        """Follow one container through its runs, within one round (until cancelled)."""
        while True:
            t.started.clear()
            t.died.clear()
            await self._follow_once(t)
            await t.started.wait()

    async def _follow_once(self, t: Tracked) -> None:
        info = await self._inspect(t)
        if info is None:
            return
        tty = bool((info.get("Config") or {}).get("Tty"))
        if t.decoder is None or t.decoder.tty != tty:
            redactor = self.hub.redactor
            t.decoder = LogDecoder(
                tty=tty,
                max_line=self.config.max_line,
                resume=t.resume,
                hold=redactor.hold if redactor is not None else None,
            )
            t.resume = None
        state: Mapping[str, Any] = info.get("State") or {}
        if str(state.get("Status", "")).lower() in _NOT_STARTED:
            self.hub.set_state(t.stream, "waiting", message="container created, not started yet")
            return
        if t.tail is not None and self.podman and t.decoder.resume.since() is None:
            await self._read_logs(t, follow=False, backlog=t.tail)
        if state.get("Running"):
            self.hub.set_state(t.stream, "live")
            await self._follow_until_died(t)
        # The container stopped (or was never running): read to its end once more.
        await self._read_logs(t, follow=False)
        self._publish(t, t.decoder.finish())
        await self._after_stop(t, state)

    async def _inspect(self, t: Tracked) -> Mapping[str, Any] | None:
        """The container's inspect answer; None (and the stream ``exited``) if it is gone."""
        try:
            info: Mapping[str, Any] = await self.engine.get_json(f"/containers/{t.id}/json")
        except SourceError as exc:
            if exc.status != 404:
                raise
            if t.decoder is not None:
                self._publish(t, t.decoder.finish())
            t.finished = True
            self.hub.set_state(
                t.stream, "exited", exit_code=t.exit_code, message="container removed"
            )
            return None
        return info

    async def _follow_until_died(self, t: Tracked) -> None:
        """``follow=1`` until the engine ends it or the ``die`` event comes."""
        reader = asyncio.create_task(self._read_logs(t, follow=True))
        died = asyncio.create_task(t.died.wait())
        try:
            await asyncio.wait({reader, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            died.cancel()
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader  # re-raises the reader's own error

    async def _after_stop(self, t: Tracked, state: Mapping[str, Any]) -> None:
        """Read to the end: the stream is ``exited``, unless it was restarted meanwhile."""
        with contextlib.suppress(SourceError):
            info = await self.engine.get_json(f"/containers/{t.id}/json")
            state = info.get("State") or {}
        if state.get("Running"):
            t.started.set()  # restarted meanwhile: follow again
            return
        code = state.get("ExitCode", t.exit_code)
        t.exit_code = int(code) if isinstance(code, int) else t.exit_code
        t.finished = True
        self.hub.set_state(t.stream, "exited", exit_code=t.exit_code)

    async def _read_logs(self, t: Tracked, *, follow: bool, backlog: int | None = None) -> None:
        """One logs request from the resume point; ``backlog``: keep only the last N lines."""
        decoder = t.decoder
        assert decoder is not None
        params = self._log_params(t, decoder, follow=follow, backlog=backlog)
        t.tail = None  # the backlog is shown once
        kept: deque[LogLine] | None = None
        if backlog is not None:
            kept = deque(maxlen=backlog)
        publish: Publish = self._publish if kept is None else lambda _t, lines: kept.extend(lines)
        decoder.new_connection()
        await self._stream_logs(t, decoder, params, publish, flush=kept is None)
        if kept:
            while kept and kept[0].cont:
                kept.popleft()  # the rest of a line whose start is not shown
            self._publish(t, list(kept))

    @staticmethod
    def _log_params(
        t: Tracked, decoder: LogDecoder, *, follow: bool, backlog: int | None
    ) -> dict[str, str]:
        """The logs query: resume with ``since=``, or the first attach's since/tail."""
        params = {"stdout": "1", "stderr": "1", "timestamps": "1", "follow": "1" if follow else "0"}
        since = decoder.resume.since()
        if since is None and backlog is None:
            since = t.since
        if since is not None:
            params["since"] = str(since)
        elif t.tail is not None and backlog is None:
            params["tail"] = str(t.tail)
        return params

    async def _stream_logs(
        self,
        t: Tracked,
        decoder: LogDecoder,
        params: Mapping[str, str],
        publish: Publish,
        *,
        flush: bool,
    ) -> None:
        """Feed one response through the decoder; ``flush``: partial lines after a quiet delay."""
        timer: asyncio.TimerHandle | None = None
        loop = asyncio.get_running_loop()

        def flush_now(quiet: bool = False) -> None:
            nonlocal timer
            self._publish(t, decoder.flush(quiet=quiet))
            timer = None
            if not quiet and decoder.pending and decoder.hold is not None:
                # Kept back where a secret may begin: the rest after a further delay.
                timer = loop.call_later(self.config.flush_delay, flush_now, True)

        try:
            async with self.engine.request(f"/containers/{t.id}/logs", params) as resp:
                try:
                    async for chunk in resp.content.iter_chunked(READ_SIZE):
                        decoder.feed_data(chunk)
                        publish(t, decoder.events())
                        if timer is not None:
                            timer.cancel()
                            timer = None
                        if decoder.pending and flush:
                            timer = loop.call_later(self.config.flush_delay, flush_now)
                except (aiohttp.ClientError, OSError) as exc:
                    raise self.engine.translate(exc) from exc
                decoder.feed_eof()
                publish(t, decoder.events())
        finally:
            if timer is not None:
                timer.cancel()

    def _publish(self, t: Tracked, lines: list[LogLine]) -> None:
        if lines:
            self.hub.publish_lines(
                t.stream,
                ((p.ts, p.text, p.fd, p.cont) for p in lines),
                checkpoint=checkpoint(t),
            )


def checkpoint(t: Tracked) -> dict[str, Any] | None:
    """Where ``t``'s log is read up to: what a restart reads on from."""
    if t.decoder is None:
        return None
    resume = t.decoder.resume
    return {"container_id": t.id, "ts_ns": resume.ts_ns, "count": resume.count}


def resume_point(saved: Mapping[str, Any] | None, container_id: str) -> ResumePoint | None:
    """The resume point a stream's checkpoint holds for this container, if it is this one."""
    if not saved or saved.get("container_id") != container_id:
        return None
    ts_ns, count = saved.get("ts_ns"), saved.get("count")
    if type(ts_ns) is not int or type(count) is not int or ts_ns < 0 or count < 0:
        return None
    return ResumePoint(ts_ns, count)
