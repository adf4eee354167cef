"""The broadcast hub: streams, sequence numbers, epochs and history rings.

Sources call :meth:`Hub.publish` with line pieces. ``publish`` is a plain
function — it never awaits and never waits for a client: it numbers the pieces,
encodes each line once (:func:`~tailcast.protocol.wire.encode_line`), appends
them to the stream's bounded history ring and hands the whole batch to the
listener (the client registry), which only puts references into bounded
per-client queues.

A stream's history ring holds exactly its last ``history`` lines as encoded
bytes; sequence numbers are contiguous, so the seq of ``ring[i]`` is
``first_seq + i`` and nothing else needs storing.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from tailcast.defaults import DEFAULT_HISTORY
from tailcast.errors import UnknownStream
from tailcast.protocol import wire
from tailcast.protocol.lines import Piece

__all__ = [
    "STATES",
    "Controller",
    "Hub",
    "HubListener",
    "StatsProvider",
    "Stream",
]

STATES = frozenset({"waiting", "live", "exited", "error"})
EVENTS = frozenset({"truncated", "rotated", "reattached"})


class Controller(Protocol):
    """What a controllable source (a process) offers the HTTP control routes."""

    async def restart(self) -> None: ...

    async def stop(self) -> None: ...


class StatsProvider(Protocol):
    """What a source with resource figures (a container) offers ``/stats``."""

    async def __call__(self) -> dict[str, Any]: ...


class HubListener(Protocol):
    """Who hears what the hub publishes (the client registry)."""

    def on_lines(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None: ...

    def on_status(self, stream: Stream, frame: bytes) -> None: ...

    def on_streams(self, added: Sequence[Stream], removed: Sequence[Stream]) -> None: ...


class Stream:
    """One stream: its identity, state and history ring."""

    def __init__(
        self, stream_id: str, name: str, kind: str, epoch: str, history: int, detail: dict[str, Any]
    ) -> None:
        self.id = stream_id
        self.name = name
        self.kind = kind
        self.epoch = epoch
        self.detail = detail
        self.state = "waiting"
        # Extra status fields that stay true until the next state change
        # (exit_code, signal, message).
        self.state_extra: dict[str, Any] = {}
        self.last_seq = 0
        self.ring: deque[bytes] = deque(maxlen=history)
        self.controller: Controller | None = None
        self.stats_provider: StatsProvider | None = None
        self.lines_in = 0
        self.bytes_in = 0

    @property
    def first_seq(self) -> int:
        """The seq of the oldest line still in history (``last_seq + 1`` when empty)."""
        return self.last_seq - len(self.ring) + 1

    def info(self) -> dict[str, Any]:
        """The protocol's STREAM_INFO object."""
        info: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "epoch": self.epoch,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }
        info.update(self.state_extra)
        info.update(self.detail)
        return info

    def lines_after(self, seq: int, limit: int | None = None) -> tuple[int, list[bytes]]:
        """Lines with ``seq`` greater than ``seq`` still in history (at most ``limit``).

        Returns the seq of the first line returned and the encoded lines.
        """
        first = self.first_seq
        start = max(seq + 1, first)
        skip = start - first
        stop = len(self.ring) if limit is None else min(len(self.ring), skip + limit)
        if skip >= stop:
            return start, []
        return start, list(itertools.islice(self.ring, skip, stop))

    def read_after(self, seq: int, max_bytes: int) -> tuple[int, list[bytes]]:
        """Lines after ``seq`` still in history, about ``max_bytes`` of them (at least one).

        What a reader that fell behind calls to catch up at its own pace:
        returns the seq of the first line returned (``first_seq`` when ``seq``
        has left the history: the caller reports the rest as a gap).
        """
        first = self.first_seq
        start = max(seq + 1, first)
        out: list[bytes] = []
        size = 0
        for line in itertools.islice(self.ring, start - first, None):
            out.append(line)
            size += len(line)
            if size >= max_bytes:
                break
        return start, out

    def newest(self, count: int) -> tuple[int, list[bytes]]:
        """The newest ``count`` lines in history."""
        return self.lines_after(self.last_seq - count, None)


class Hub:
    """All streams of one server; see the module docstring."""

    def __init__(self, history: int = DEFAULT_HISTORY, *, clock: Any = time.time) -> None:
        if history < 1:
            raise ValueError("history must hold at least one line")
        self.history = history
        self.streams: dict[str, Stream] = {}
        self.listener: HubListener | None = None
        self._clock = clock
        # The epoch changes whenever numbering restarts: a new server process.
        self._epoch = f"{int(time.time()):x}-{secrets.token_hex(4)}"
        self._created = itertools.count(1)

    # -- streams ---------------------------------------------------------------------

    def add_stream(self, name: str, kind: str, **detail: Any) -> Stream:
        """Create a stream; its id is derived from ``name``, made unique by a suffix."""
        base = wire.slugify(name)
        stream_id = base
        n = 2
        while stream_id in self.streams:
            stream_id = f"{base}-{n}"
            n += 1
        epoch = f"{self._epoch}-{next(self._created)}"
        stream = Stream(stream_id, name, kind, epoch, self.history, dict(detail))
        self.streams[stream_id] = stream
        if self.listener is not None:
            self.listener.on_streams([stream], [])
        return stream

    def remove_stream(self, stream_id: str) -> None:
        stream = self.streams.pop(stream_id, None)
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

        ``lines`` (numbered from ``first_seq``) fill the ring before anyone can
        subscribe, so clients see them as history, not as new lines.
        """
        if stream_id in self.streams:
            raise ValueError(f"stream {stream_id!r} exists already")
        stream = Stream(stream_id, name, kind, epoch, self.history, dict(detail))
        stream.last_seq = first_seq - 1 + len(lines)
        stream.ring.extend(lines)
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
        if skip < 0:
            stream.ring.clear()
            stream.last_seq = first_seq - 1
        # Now the first new line is last_seq + 1, exactly what _store numbers from.
        self._store(stream, list(encoded[max(skip, 0) :]))

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
    ) -> None:
        """Number, store and fan out pieces read at one time from one fd. Never awaits."""
        when = self._clock() if ts is None else ts
        # One shared time stamp and fd: the batch encoder formats them once.
        self._store(stream, wire.encode_lines(stream.last_seq + 1, when, pieces, fd))

    def publish_lines(
        self, stream: Stream, lines: Iterable[tuple[float, str, str | None, bool]]
    ) -> None:
        """Like :meth:`publish`, each line with its own ``(ts, text, fd, cont)``."""
        seq = stream.last_seq
        encoded: list[bytes] = []
        for ts, text, fd, cont in lines:
            seq += 1
            encoded.append(wire.encode_line(seq, ts, text, fd, cont))
        self._store(stream, encoded)

    def _store(self, stream: Stream, encoded: list[bytes]) -> None:
        """Lines numbered from ``stream.last_seq + 1``: into history, then to the listener."""
        if not encoded:
            return
        first = stream.last_seq + 1
        stream.last_seq += len(encoded)
        stream.lines_in += len(encoded)
        stream.bytes_in += sum(map(len, encoded))
        stream.ring.extend(encoded)
        if self.listener is not None:
            self.listener.on_lines(stream, first, encoded)

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
            "history_lines": {s.id: len(s.ring) for s in self.streams.values()},
        }


def decode_line(data: bytes) -> dict[str, Any]:
    """An encoded line back as a dict (for text output and tests)."""
    obj: dict[str, Any] = json.loads(data)
    return obj
