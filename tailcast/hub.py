"""The broadcast hub: streams, sequence numbers, epochs and their history.

Sources call :meth:`Hub.publish` with line pieces. ``publish`` is a plain
function — it never awaits and never waits for a client: it numbers the pieces,
encodes each line once (:func:`~tailcast.protocol.wire.encode_line`), keeps
them in the stream's history (:class:`~tailcast.history.kept.StreamHistory`:
on disk, with a bounded recent part in memory) and only then hands the whole
batch to the listener (the client registry). So a line any client received
is on disk already: after a ``SIGKILL`` the history still has it.

With a :class:`~tailcast.history.store.HistoryStore` (``--data-dir``, or a
private folder) a stream of the store's previous run keeps its epoch and
numbering; without one (tests, mirrors) the history is memory only.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from tailcast.defaults import DEFAULT_HISTORY, DEFAULT_HISTORY_BYTES
from tailcast.errors import UnknownStream
from tailcast.history.kept import StreamHistory
from tailcast.history.log import StreamLog
from tailcast.history.store import HistoryStore
from tailcast.protocol import wire
from tailcast.protocol.columns import Columns, encode_columns
from tailcast.protocol.follows import annotate, annotate_columns, annotate_entries
from tailcast.protocol.lines import Piece
from tailcast.protocol.redact import Redactor
from tailcast.protocol.wire import decode_line  # re-exported: its old home
from tailcast.stream import Controller, StatsProvider, Stream  # re-exported: hub API

__all__ = [
    "MIRROR_KEY",
    "STATES",
    "Controller",
    "Hub",
    "HubListener",
    "StatsProvider",
    "Stream",
    "decode_line",
]

STATES = frozenset({"waiting", "live", "exited", "error"})
EVENTS = frozenset({"truncated", "rotated", "reattached"})
# The source key of a mirrored stream in the store, before its epoch.
MIRROR_KEY = "mirror:"


class HubListener(Protocol):
    """Who hears what the hub publishes (the client registry)."""

    def on_lines(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None: ...

    def on_status(self, stream: Stream, frame: bytes) -> None: ...

    def on_streams(self, added: Sequence[Stream], removed: Sequence[Stream]) -> None: ...


class Hub:
    """All streams of one server; see the module docstring."""

    def __init__(
        self,
        history: int = DEFAULT_HISTORY,
        *,
        clock: Any = time.time,
        store: HistoryStore | None = None,
        history_bytes: int = DEFAULT_HISTORY_BYTES,
        redactor: Redactor | None = None,
    ) -> None:
        if history < 1:
            raise ValueError("history must hold at least one line")
        self.history = history
        self.history_bytes = history_bytes
        self.store = store
        self.streams: dict[str, Stream] = {}
        self.listener: HubListener | None = None
        self.redactor = redactor if redactor else None  # None: no patterns, no cost
        self._clock = clock
        # The epoch changes whenever numbering restarts: a new server process.
        self._epoch = f"{int(time.time()):x}-{secrets.token_hex(4)}"
        self._created = itertools.count(1)

    # -- streams ---------------------------------------------------------------------

    def add_stream(
        self, name: str, kind: str, *, source_key: str | None = None, **detail: Any
    ) -> Stream:
        """Create a stream; its id is derived from ``name``, made unique by a suffix.

        With a store, a stream of the same id, kind and ``source_key`` (the
        SOURCE as written; default kind and name) that the store kept from
        before goes on with its epoch, numbering and history.
        """
        base = wire.slugify(name)
        stream_id = base
        n = 2
        while stream_id in self.streams:
            stream_id = f"{base}-{n}"
            n += 1
        history, epoch = self._open_history(stream_id, kind, source_key or f"{kind}:{name}")
        stream = Stream(stream_id, name, kind, epoch, history, dict(detail))
        self.streams[stream_id] = stream
        if self.listener is not None:
            self.listener.on_streams([stream], [])
        return stream

    def _open_history(
        self, stream_id: str, kind: str, key: str, epoch: str | None = None
    ) -> tuple[StreamHistory, str]:
        """The stream's history and epoch: the store's from before when it is the same source.

        ``epoch`` given (a mirrored stream: numbered by its agent) is the epoch
        of a stream new to the store, instead of one made here.
        """
        new_epoch = epoch or f"{self._epoch}-{next(self._created)}"
        if self.store is None:
            return self._memory_history(), new_epoch
        try:
            log, meta = self.store.stream_log(stream_id, kind, key)
            if meta.epoch is None:
                meta.epoch = new_epoch
                self.store.save_meta(meta)
        except OSError as exc:
            # The disk fails at start (full, I/O error): the stream lives, its
            # history in memory, and the log is made again when the disk works.
            store = self.store

            def reopen() -> StreamLog:
                # A fresh folder: the numbering is this new epoch's, whatever was there.
                store.remove_stream(stream_id)
                log, meta = store.stream_log(stream_id, kind, key)
                meta.epoch = new_epoch
                store.save_meta(meta)
                return log

            history = StreamHistory(
                None,
                max_lines=self.history,
                on_fault=self._history_moved,
                reopen=reopen,
                reason=f"history on disk failed: {exc.strerror or exc}",
            )
            return history, new_epoch
        return StreamHistory(log, max_lines=self.history, on_fault=self._history_moved), meta.epoch

    def _history_moved(self, history: StreamHistory) -> None:
        """A history went to memory or back to disk: every client gets the new stream list."""
        if self.listener is not None:
            self.listener.on_streams([], [])

    def _memory_history(self) -> StreamHistory:
        return StreamHistory(None, max_lines=self.history, memory_bytes=self.history_bytes)

    def degraded(self) -> list[str]:
        """Why some history is only in memory now (``/healthz``'s ``degraded``)."""
        return [f"{s.id}: {s.history.reason}" for s in self.streams.values() if s.history.reason]

    def remove_stream(self, stream_id: str) -> None:
        stream = self.streams.pop(stream_id, None)
        if self.redactor is not None:
            for key in (stream_id, f"{stream_id}/out", f"{stream_id}/err"):
                self.redactor.forget(key)
        if stream is not None and self.listener is not None:
            self.listener.on_streams([], [stream])

    # -- mirrored streams (multi-host: numbered by an agent, not here) ----------------

    def adopt_stream(
        self,
        stream_id: str,
        name: str,
        kind: str,
        epoch: str,
        detail: dict[str, Any],
        *,
        first_seq: int = 1,
        lines: Sequence[bytes] = (),
    ) -> Stream:
        """Create a stream with the id and epoch it has elsewhere, with its history.

        With a store the history is on disk, under a source key that holds
        the epoch: what the store kept of this id *and epoch* goes on (a web
        node restarted with ``--data-dir``); a kept copy of another epoch is
        dropped, as its numbering is not this one's. ``lines`` (numbered from
        ``first_seq``; those the kept copy has are skipped) fill the history
        before anyone can subscribe, so clients see them as history, not as
        new lines.
        """
        if stream_id in self.streams:
            raise ValueError(f"stream {stream_id!r} exists already")
        if self.store is None:
            history = self._memory_history()
        else:
            history, _ = self._open_history(stream_id, kind, MIRROR_KEY + epoch, epoch)
        stream = Stream(stream_id, name, kind, epoch, history, dict(detail))
        stream.numbered_elsewhere = True
        skip = stream.last_seq + 1 - first_seq
        if skip < len(lines):
            stream.history.append(max(first_seq, stream.last_seq + 1), list(lines[max(skip, 0) :]))
        self.streams[stream_id] = stream
        if self.listener is not None:
            self.listener.on_streams([stream], [])
        return stream

    def publish_numbered(self, stream: Stream, first_seq: int, encoded: Sequence[bytes]) -> None:
        """Store and fan out lines already numbered (from ``first_seq``). Never awaits.

        Lines the stream has already are skipped, so reading them twice adds
        nothing. Lines starting after ``last_seq + 1`` mean those between are
        gone for good: the ring restarts there (it must stay contiguous) and
        the registry sends a ``gap`` to clients that were waiting for them.
        """
        skip = stream.last_seq + 1 - first_seq
        if skip >= len(encoded):
            return
        # A jump (skip < 0) is a hole: the history restarts after it.
        start = max(first_seq, stream.last_seq + 1)
        self._store(stream, list(encoded[max(skip, 0) :]), first=start)

    def get(self, stream_id: str) -> Stream:
        try:
            return self.streams[stream_id]
        except KeyError:
            raise UnknownStream(stream_id) from None

    def infos(self) -> list[dict[str, Any]]:
        return [s.info() for s in self.streams.values()]

    # -- publishing ------------------------------------------------------------------

    def publish(
        self,
        stream: Stream,
        pieces: Iterable[Piece],
        *,
        fd: str | None = None,
        ts: float | None = None,
        checkpoint: dict[str, Any] | None = None,
        level: str | None = None,
    ) -> list[Piece]:
        """Number, store and fan out pieces read at one time from one fd. Never awaits.

        ``checkpoint`` is the source's position after these pieces; it is kept
        in the same write as the lines (so a restart reads on from there).
        ``level`` (a journal entry's PRIORITY) stands instead of detection.
        Returns the pieces as kept (redacted): what ``tailcast run`` echoes.
        """
        when = self._clock() if ts is None else ts
        if self.redactor is not None:  # before numbering: the original is never kept
            key = stream.id if fd is None else f"{stream.id}/{fd}"
            pieces = self.redactor.pieces(key, pieces)
        batch = list(pieces)
        # Level and follows per piece, then one shared time stamp and fd: the
        # batch encoder formats each of those once.
        marks = annotate(stream.messages, batch, fd, level)  # (a Piece is a (text, cont))
        encoded = wire.encode_lines(stream.last_seq + 1, when, batch, fd, marks)
        self._store(stream, encoded, checkpoint=checkpoint)
        return batch

    def publish_lines(
        self,
        stream: Stream,
        lines: Iterable[tuple[float, str, str | None, bool]],
        *,
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        """Like :meth:`publish`, each line with its own ``(ts, text, fd, cont)``."""
        entries = ((ts, text, fd, cont, None) for ts, text, fd, cont in lines)
        self.publish_entries(stream, entries, checkpoint=checkpoint)

    def publish_entries(
        self,
        stream: Stream,
        lines: Iterable[wire.Entry],
        *,
        checkpoint: dict[str, Any] | None = None,
        stamps: Sequence[str] | None = None,
    ) -> None:
        """Like :meth:`publish_lines`, with a ``level`` too: ``(ts, text, fd, cont, level)``.

        A given level (a journal entry's PRIORITY) stands instead of detection.
        ``stamps``: each line's ``ts`` as its JSON text already (one per line;
        :func:`tailcast.protocol.wire.encode_entries`).
        """
        if self.redactor is not None:
            lines = self.redactor.entries(stream.id, lines)
        batch = lines if isinstance(lines, list) else list(lines)
        # Level and follows for the batch, then each (level, follows) pair
        # formatted once: this is the journal source's hot path.
        marks = annotate_entries(stream.messages, batch)
        encoded = wire.encode_entries(stream.last_seq + 1, batch, marks, stamps)
        self._store(stream, encoded, checkpoint=checkpoint)

    def publish_columns(
        self, stream: Stream, lines: Columns, *, checkpoint: dict[str, Any] | None = None
    ) -> None:
        """:meth:`publish_entries` for lines as :class:`~tailcast.protocol.columns.Columns`.

        The journal's hot path: annotated and encoded in bulk, the same bytes.
        """
        if self.redactor is not None:  # (the redactor works on entries)
            entries = lines.entries()
            self.publish_entries(stream, entries, checkpoint=checkpoint, stamps=lines.stamps())
            return
        marks = annotate_columns(stream.messages, lines)
        encoded = encode_columns(stream.last_seq + 1, lines, marks)
        self._store(stream, encoded, checkpoint=checkpoint)

    def _store(
        self,
        stream: Stream,
        encoded: list[bytes],
        *,
        first: int | None = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        """Lines numbered from ``first`` (default ``last_seq + 1``): kept, then to the listener."""
        if not encoded:
            return
        start = stream.last_seq + 1 if first is None else first
        stream.lines_in += len(encoded)
        stream.bytes_in += sum(map(len, encoded))
        # Kept before anyone is sent them: what a client has is on disk.
        stream.history.append(start, encoded, checkpoint)
        if self.store is not None:
            self.store.enforce_budget()
        if self.listener is not None:
            self.listener.on_lines(stream, start, encoded)

    def set_state(self, stream: Stream, state: str, **extra: Any) -> None:
        """Change a stream's state (``waiting``/``live``/``exited``/``error``)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        extra = {k: v for k, v in extra.items() if v is not None}
        if state == stream.state and extra == stream.state_extra:
            return  # not news: a retry loop must not flood clients
        stream.state = state
        stream.state_extra = extra
        self._status(stream, wire.status_frame(stream.id, state, **extra))

    def event(self, stream: Stream, event: str, **extra: Any) -> None:
        """Report a ``tail -F`` event (truncated, rotated, reattached)."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        frame = wire.status_frame(
            stream.id, stream.state, event=event, **stream.state_extra, **extra
        )
        self._status(stream, frame)

    def _status(self, stream: Stream, frame: bytes) -> None:
        if self.listener is not None:
            self.listener.on_status(stream, frame)

    def statistics(self) -> dict[str, Any]:
        return {
            "streams": len(self.streams),
            "lines_in": {s.id: s.lines_in for s in self.streams.values()},
            "bytes_in": {s.id: s.bytes_in for s in self.streams.values()},
            "history_lines": {s.id: s.last_seq - s.first_seq + 1 for s in self.streams.values()},
            "history": {s.id: s.history.statistics() for s in self.streams.values()},
        }
