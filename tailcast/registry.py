"""The client registry: who is connected, what they follow, and their queues.

Every connected client (WebSocket or SSE) has a :class:`Client` with a queue
bounded in bytes. The registry is the hub's listener: when lines are
published it puts a reference to the *same* encoded frame into each
subscriber's queue — one encoding, many sends — and never waits for anyone.

Invariants (all changes happen under one lock, with no await inside):

- per client and stream, a *cursor* holds the next seq the client should get;
  every frame queued for it starts exactly at the cursor (a frame that starts
  earlier is sliced, one that ends earlier is skipped), so no line is ever
  sent twice on a connection and none is skipped without a ``gap``;
- subscribing replays history and sets the cursor in the same critical
  section as live fan-out, so nothing is lost or repeated between the two;
- when a queue would overflow, its queued line frames are dropped (oldest
  first, all of them) and replaced by one ``gap`` per stream: the client goes
  on from the newest lines, the source and the other clients never slow down.

The lock is a :class:`threading.Lock` rather than an asyncio one because
every critical section is synchronous: it documents and enforces that no
await happens inside, and lets ``/metrics`` or a thread read consistent
statistics.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tailcast.defaults import DEFAULT_QUEUE_BYTES, DEFAULT_TAIL
from tailcast.errors import TooManyClients
from tailcast.hub import Hub, Stream
from tailcast.protocol import wire

__all__ = [
    "REPLAY_FRAME_LINES",
    "Client",
    "Outgoing",
    "Registry",
]

# The most a sender takes out of its queue at once (at least one frame).
SEND_BATCH_BYTES = 64 * 1024
# Replay is cut into frames of at most this many lines so that one frame
# never holds a whole 10 000-line history.
REPLAY_FRAME_LINES = 1000


@dataclass(slots=True)
class Outgoing:
    """One frame waiting in a client's queue."""

    kind: str  # "lines", "gap", "status", "streams", "error"
    stream: str | None
    first: int  # lines: first seq; gap: from
    last: int  # lines: last seq; gap: to
    payload: bytes


class Client:
    """One connected client and its bounded queue. Created by :meth:`Registry.connect`."""

    def __init__(self, client_id: int, peer: str, max_bytes: int) -> None:
        self.id = client_id
        self.peer = peer
        self.max_bytes = max_bytes
        self.queue: deque[Outgoing] = deque()
        self.queued_bytes = 0
        self.cursors: dict[str, int] = {}
        self.wildcard = False
        self.closed = False
        self.close_reason: str | None = None
        self._wakeup = asyncio.Event()
        self.lines_sent = 0
        self.lines_dropped = 0
        self.gaps = 0

    async def next_batch(self) -> list[Outgoing]:
        """Wait for frames, take the oldest (about ``SEND_BATCH_BYTES``); ``[]`` once closed.

        Only a bounded batch leaves the queue at a time: frames still in the
        queue count against ``max_bytes`` and can be replaced by a gap, so a
        slow client holds at most ``max_bytes`` plus one batch, not twice
        ``max_bytes`` (which, over many slow clients, is what RSS is made of).
        """
        while not self.queue:
            if self.closed:
                return []
            self._wakeup.clear()
            await self._wakeup.wait()
        queue = self.queue
        if self.queued_bytes <= SEND_BATCH_BYTES:
            batch = list(queue)
            queue.clear()
            self.queued_bytes = 0
            return batch
        batch = []
        taken = 0
        while queue and taken < SEND_BATCH_BYTES:
            item = queue.popleft()
            batch.append(item)
            taken += len(item.payload)
        self.queued_bytes -= taken
        return batch

    def close(self, reason: str | None = None) -> None:
        """Stop the client's sender (it sends what is queued, then stops)."""
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self._wakeup.set()

    # Called with the registry lock held.
    def _put(self, item: Outgoing) -> None:
        size = len(item.payload)
        if self.queued_bytes + size > self.max_bytes:
            self._overflow()
            if self.queued_bytes + size > self.max_bytes:
                if item.kind == "lines" and item.stream is not None:
                    # One frame larger than the whole queue: it is a gap too.
                    self._push_gap(item.stream, item.first, item.last)
                    return
                # Only control frames are left and they do not fit: the client
                # is hopelessly behind; close it rather than grow without bound.
                self.close("too slow: queue full of control frames")
                return
        self.queue.append(item)
        self.queued_bytes += size
        self._wakeup.set()

    def _overflow(self) -> None:
        """Drop every queued line frame; one ``gap`` per stream says so."""
        ranges: dict[str, list[int]] = {}
        kept: deque[Outgoing] = deque()
        for item in self.queue:
            if item.kind in ("lines", "gap") and item.stream is not None:
                rng = ranges.get(item.stream)
                if rng is None:
                    ranges[item.stream] = [item.first, item.last]
                else:
                    rng[0] = min(rng[0], item.first)
                    rng[1] = max(rng[1], item.last)
                if item.kind == "lines":
                    self.lines_dropped += item.last - item.first + 1
            else:
                kept.append(item)
        self.queue = kept
        self.queued_bytes = sum(len(i.payload) for i in kept)
        for stream_id, (first, last) in ranges.items():
            self._push_gap(stream_id, first, last)

    def _push_gap(self, stream_id: str, first: int, last: int) -> None:
        payload = wire.gap_frame(stream_id, first, last)
        self.queue.append(Outgoing("gap", stream_id, first, last, payload))
        self.queued_bytes += len(payload)
        self.gaps += 1
        self._wakeup.set()


class Registry:
    """Connected clients and their subscriptions; the hub's listener."""

    def __init__(
        self,
        hub: Hub,
        *,
        max_clients: int = 1000,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        self.hub = hub
        self.max_clients = max_clients
        self.queue_bytes = queue_bytes
        self._lock = threading.Lock()
        self._clients: set[Client] = set()
        self._subs: dict[str, set[Client]] = {}
        self._wild: set[Client] = set()
        self._ids = itertools.count(1)
        self.lines_out: dict[str, int] = {}
        self.lines_dropped = 0
        self.gaps = 0
        self.connects = 0
        hub.listener = self

    # -- clients ---------------------------------------------------------------------

    def connect(self, peer: str = "") -> Client:
        with self._lock:
            if len(self._clients) >= self.max_clients:
                raise TooManyClients(f"{self.max_clients} clients connected already")
            client = Client(next(self._ids), peer, self.queue_bytes)
            self._clients.add(client)
            self.connects += 1
            return client

    def disconnect(self, client: Client) -> None:
        with self._lock:
            self._clients.discard(client)
            self._wild.discard(client)
            for stream_id in client.cursors:
                subs = self._subs.get(stream_id)
                if subs is not None:
                    subs.discard(client)
            client.cursors.clear()
            self.lines_dropped += client.lines_dropped
            self.gaps += client.gaps
            client.lines_dropped = client.gaps = 0
            client.close()

    @property
    def clients(self) -> list[Client]:
        with self._lock:
            return list(self._clients)

    def close_all(self, reason: str) -> None:
        for client in self.clients:
            client.close(reason)

    # -- subscriptions ---------------------------------------------------------------

    def subscribe(
        self,
        client: Client,
        streams: Iterable[str],
        *,
        tail: int | None = None,
        since: dict[str, int] | None = None,
    ) -> list[str]:
        """Replay history and start live delivery; return the ids that do not exist.

        Nothing is subscribed when any id is unknown. Streams the client
        already follows keep their cursor (never a line twice).
        """
        with self._lock:
            ids = list(streams)
            if wire.ALL in ids:
                ids = [i for i in ids if i != wire.ALL] + list(self.hub.streams)
                client.wildcard = True
                self._wild.add(client)
            unknown = [i for i in ids if i not in self.hub.streams]
            if unknown:
                return unknown
            for stream_id in dict.fromkeys(ids):
                self._attach(client, self.hub.streams[stream_id], tail, since)
            return []

    def unsubscribe(self, client: Client, streams: Iterable[str]) -> None:
        with self._lock:
            for stream_id in streams:
                if stream_id == wire.ALL:
                    client.wildcard = False
                    self._wild.discard(client)
                    ids = list(client.cursors)
                else:
                    ids = [stream_id]
                for sid in ids:
                    client.cursors.pop(sid, None)
                    subs = self._subs.get(sid)
                    if subs is not None:
                        subs.discard(client)

    def _attach(
        self, client: Client, stream: Stream, tail: int | None, since: dict[str, int] | None
    ) -> None:
        """Replay then go live, in one critical section (lock held)."""
        if stream.id in client.cursors:
            return
        if since is not None and stream.id in since:
            after = min(since[stream.id], stream.last_seq)
            if after + 1 < stream.first_seq:
                # Asked for lines that have left the ring: say so first.
                client._put(
                    Outgoing(
                        "gap",
                        stream.id,
                        after + 1,
                        stream.first_seq - 1,
                        wire.gap_frame(stream.id, after + 1, stream.first_seq - 1),
                    )
                )
                client.gaps += 1
        else:
            count = DEFAULT_TAIL if tail is None else tail
            after = max(stream.last_seq - count, 0)
        first, lines = stream.lines_after(after)
        for i in range(0, len(lines), REPLAY_FRAME_LINES):
            chunk = lines[i : i + REPLAY_FRAME_LINES]
            client._put(
                Outgoing(
                    "lines",
                    stream.id,
                    first + i,
                    first + i + len(chunk) - 1,
                    wire.lines_frame(stream.id, chunk),
                )
            )
        client.cursors[stream.id] = stream.last_seq + 1
        self._subs.setdefault(stream.id, set()).add(client)

    # -- hub listener ----------------------------------------------------------------

    def on_lines(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None:
        last = first_seq + len(lines) - 1
        with self._lock:
            subs = self._subs.get(stream.id)
            if not subs:
                return
            shared: bytes | None = None
            for client in subs:
                cursor = client.cursors.get(stream.id, first_seq)
                if cursor > last:
                    continue
                if cursor == first_seq:
                    if shared is None:
                        shared = wire.lines_frame(stream.id, lines)  # encoded once
                    payload = shared
                elif cursor > first_seq:
                    payload = wire.lines_frame(stream.id, lines[cursor - first_seq :])
                else:
                    # Cannot happen while the cursor invariant holds; be loud, not silent.
                    client._push_gap(stream.id, cursor, first_seq - 1)
                    cursor = first_seq
                    payload = shared = shared or wire.lines_frame(stream.id, lines)
                client._put(Outgoing("lines", stream.id, max(cursor, first_seq), last, payload))
                client.cursors[stream.id] = last + 1

    def on_status(self, stream: Stream, frame: bytes) -> None:
        with self._lock:
            for client in self._subs.get(stream.id, ()):
                client._put(Outgoing("status", stream.id, 0, 0, frame))

    def on_streams(self, added: Sequence[Stream], removed: Sequence[Stream]) -> None:
        frame = wire.streams_frame(self.hub.infos())
        with self._lock:
            for stream in removed:
                for client in self._subs.pop(stream.id, set()):
                    client.cursors.pop(stream.id, None)
            for client in self._clients:
                client._put(Outgoing("streams", None, 0, 0, frame))
            for client in self._wild:
                for stream in added:
                    self._attach(client, stream, 0, None)

    # -- sending side ----------------------------------------------------------------

    def sent(self, client: Client, item: Outgoing) -> None:
        """Count a frame the transport has written (for statistics)."""
        if item.kind == "lines" and item.stream is not None:
            n = item.last - item.first + 1
            client.lines_sent += n
            self.lines_out[item.stream] = self.lines_out.get(item.stream, 0) + n

    def statistics(self) -> dict[str, Any]:
        with self._lock:
            clients = list(self._clients)
            return {
                "clients": len(clients),
                "connects": self.connects,
                "queued_bytes": sum(c.queued_bytes for c in clients),
                "queued_frames": sum(len(c.queue) for c in clients),
                "lines_out": dict(self.lines_out),
                "lines_dropped": self.lines_dropped + sum(c.lines_dropped for c in clients),
                "gaps": self.gaps + sum(c.gaps for c in clients),
                "subscriptions": {k: len(v) for k, v in self._subs.items()},
            }
