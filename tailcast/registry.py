"""The client registry: who is connected, what they follow, and live fan-out.

Every connected client (WebSocket or SSE) has a :class:`~tailcast.client.Client`
with a queue bounded in bytes. The registry is the hub's listener: when lines
are published it puts a reference to the *same* encoded frame into the queue
of each subscriber that is live on that stream — one encoding, many sends —
and never waits for anyone. A subscriber whose queue has no room for the frame
is not dropped from its position: it goes *behind* on that stream and its own
sender reads on from the history (see :mod:`tailcast.client`, which also
states the invariants that make this lossless).

Subscribing uses the same path: the cursor is set where the replay starts
(``tail``/``since``) and the replay is read from history by catch-up, a bounded
chunk at a time, so even a ``since`` far back never queues more than
``--queue-bytes`` at once. Cursor and subscription change in the same critical
section as live fan-out, so nothing is lost or repeated between the two.

The lock is a :class:`threading.Lock` rather than an asyncio one because
every critical section is synchronous: it documents and enforces that no
await happens inside, and lets ``/metrics`` or a thread read consistent
statistics. Clients share it: their senders catch up under it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tailcast.client import Client, Outgoing, lines_frame_size
from tailcast.defaults import DEFAULT_QUEUE_BYTES, DEFAULT_TAIL
from tailcast.errors import TooManyClients
from tailcast.hub import Hub, Stream
from tailcast.protocol import wire
from tailcast.protocol.filters import FilterSpec, FilterState, LineFilter
from tailcast.shares import OWNER, Principal

__all__ = ["MAX_WANTED", "Registry"]

# Streams a client waits for (gone, expected back) at most: the oldest is
# forgotten past this, so globs whose matches come and go never grow it.
MAX_WANTED = 1000


@dataclass(slots=True)
class _Filtered:
    """One filter's selection of a live batch: the seqs that pass, their frame, the state after."""

    seqs: list[int]
    frame: bytes
    state: FilterState


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
        # Clients waiting for a stream id subscribed by name to come back.
        self._wanted: dict[str, set[Client]] = {}
        self._ids = itertools.count(1)
        self.lines_out: dict[str, int] = {}
        # Totals of clients gone; live clients keep their own until they go.
        self.lines_dropped = 0
        self.gaps = 0
        self.lines_from_history = 0
        self.connects = 0
        hub.listener = self

    # -- clients ---------------------------------------------------------------------

    def connect(self, peer: str = "", principal: Principal = OWNER) -> Client:
        with self._lock:
            if len(self._clients) >= self.max_clients:
                raise TooManyClients(f"{self.max_clients} clients connected already")
            client = Client(next(self._ids), peer, self.queue_bytes, self._lock)
            client.principal = principal
            self._clients.add(client)
            self.connects += 1
            return client

    def disconnect(self, client: Client) -> None:
        with self._lock:
            self._clients.discard(client)
            self._wild.discard(client)
            for stream_id in list(client.wanted):
                self._unwant(client, stream_id)
            for stream_id in list(client.cursors):
                subs = self._subs.get(stream_id)
                if subs is not None:
                    subs.discard(client)
                client._forget(stream_id)
            self.lines_dropped += client.lines_dropped
            self.gaps += client.gaps
            self.lines_from_history += client.lines_from_history
            client.lines_dropped = client.gaps = client.lines_from_history = 0
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
        line_filter: LineFilter | None = None,
    ) -> list[str]:
        """Set the cursors where replay starts; return the ids that do not exist.

        The replay comes from history through catch-up: a first chunk is
        queued now, the rest as the client reads. Nothing is subscribed when
        any id is unknown. Streams the client already follows keep their
        cursor (never a line twice); ``line_filter`` replaces their filter.
        A share link's client knows only its streams: ``*`` means those, any
        other id is unknown to it.
        """
        sees = client.principal.sees
        with self._lock:
            asked = list(streams)
            ids = list(asked)
            unknown = [
                i for i in ids if i != wire.ALL and (i not in self.hub.streams or not sees(i))
            ]
            if unknown:
                return unknown
            if wire.ALL in ids:
                ids = [i for i in ids if i != wire.ALL] + [s for s in self.hub.streams if sees(s)]
                client.wildcard = True
                client.wild_filter = line_filter
                self._wild.add(client)
            client.named.update(i for i in asked if i != wire.ALL)
            for stream_id in dict.fromkeys(ids):
                client._set_filter(stream_id, line_filter)
                self._attach(client, self.hub.streams[stream_id], tail, since)
            # The first chunk of replay now, so that it comes before any
            # frame queued later (what was true when everything was pushed).
            client._catch_up()
            return []

    def unsubscribe(self, client: Client, streams: Iterable[str]) -> None:
        with self._lock:
            for stream_id in streams:
                if stream_id == wire.ALL:
                    client.wildcard = False
                    self._wild.discard(client)
                    ids = list(client.cursors) + list(client.wanted)
                    client.named.clear()
                else:
                    ids = [stream_id]
                    client.named.discard(stream_id)
                for sid in ids:
                    self._unwant(client, sid)
                    client._forget(sid)
                    subs = self._subs.get(sid)
                    if subs is not None:
                        subs.discard(client)

    def _unwant(self, client: Client, stream_id: str) -> None:
        waiting = self._wanted.get(stream_id)
        if waiting is not None:
            waiting.discard(client)
            if not waiting:
                del self._wanted[stream_id]

    def _attach(
        self, client: Client, stream: Stream, tail: int | None, since: dict[str, int] | None
    ) -> None:
        """Set where the client starts on ``stream`` (lock held); catch-up replays from there.

        ``since`` before the history gets its ``gap`` from the first catch-up
        read; ``tail`` counts only lines still in history (no gap).
        """
        if stream.id in client.cursors:
            return
        if since is not None and stream.id in since:
            after = since[stream.id]
            # A mirrored stream's client may come from a web node that is
            # ahead of this one: it waits for the lines after what it had,
            # rather than getting again those this node has not reached yet.
            if not stream.numbered_elsewhere:
                after = min(after, stream.last_seq)
        else:
            count = DEFAULT_TAIL if tail is None else tail
            after = max(stream.last_seq - count, stream.first_seq - 1, 0)
        client._follow(stream, after + 1)
        self._subs.setdefault(stream.id, set()).add(client)

    # -- hub listener ----------------------------------------------------------------

    def on_lines(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None:
        last = first_seq + len(lines) - 1
        with self._lock:
            subs = self._subs.get(stream.id)
            if not subs:
                return
            head = len(wire.lines_frame(stream.id, ()))
            shared: bytes | None = None
            shared_size = -1
            filtered: dict[tuple[FilterSpec, int, bool | None, bool | None], _Filtered] = {}
            for client in subs:
                if stream.id in client.behind:
                    continue  # its sender reads these from history, after what it has
                cursor = client.cursors.get(stream.id, first_seq)
                if cursor > last:
                    continue
                if cursor < first_seq:
                    # Only when the stream's history restarted past the cursor
                    # (publish_numbered): those lines are gone for good.
                    client._push_gap(stream.id, cursor, first_seq - 1)
                    cursor = first_seq
                if stream.id in client.filters:
                    self._live_filtered(client, stream, cursor, first_seq, lines, filtered)
                    continue
                if cursor == first_seq:
                    if shared_size < 0:
                        shared_size = lines_frame_size(head, lines)
                    size = shared_size
                else:
                    size = lines_frame_size(head, lines[cursor - first_seq :])
                if not client._fits(size):
                    client._fall_behind(stream)  # cursor stays: the first seq not queued
                    continue
                if cursor == first_seq:
                    if shared is None:
                        shared = wire.lines_frame(stream.id, lines)  # encoded once
                    payload = shared
                else:
                    payload = wire.lines_frame(stream.id, lines[cursor - first_seq :])
                client._append(Outgoing("lines", stream.id, cursor, last, payload))
                client.cursors[stream.id] = last + 1

    @staticmethod
    def _live_filtered(
        client: Client,
        stream: Stream,
        cursor: int,
        first_seq: int,
        lines: Sequence[bytes],
        cache: dict[tuple[FilterSpec, int, bool | None, bool | None], _Filtered],
    ) -> None:
        """Queue the live lines from ``cursor`` that pass the client's filter (lock held).

        Per-client work, shared by the clients with the same filter at the same
        place: the selection and its frame are made once per batch for them.
        """
        line_filter = client.filters[stream.id]
        state = client.filter_state(stream, cursor)
        key = (line_filter.spec, cursor, state.head, state.last)
        result = cache.get(key)
        if result is None:
            new_state = FilterState(state.head, state.last)
            part = lines[cursor - first_seq :]
            passed = line_filter.select(part, new_state)
            frame = wire.lines_frame(stream.id, [part[i] for i in passed]) if passed else b""
            result = cache[key] = _Filtered([cursor + i for i in passed], frame, new_state)
        last = first_seq + len(lines) - 1
        if result.seqs:
            if not client._fits(len(result.frame)):
                client._fall_behind(stream)  # catch-up filters the same lines from history
                return
            first, final = result.seqs[0], result.seqs[-1]
            item = Outgoing("lines", stream.id, first, final, result.frame, len(result.seqs))
            client._append(item)
        client.cursors[stream.id] = last + 1
        state.head, state.last = result.state.head, result.state.last

    def on_status(self, stream: Stream, frame: bytes) -> None:
        with self._lock:
            for client in self._subs.get(stream.id, ()):
                client._put_control(Outgoing("status", stream.id, 0, 0, frame))

    def on_streams(self, added: Sequence[Stream], removed: Sequence[Stream]) -> None:
        infos = self.hub.infos()
        frame = wire.streams_frame(infos)
        changed = {s.id for s in added} | {s.id for s in removed}
        # A share link's clients hear only of their own streams, and only
        # when one of those changed: one frame per distinct share.
        scoped: dict[frozenset[str], bytes] = {}
        with self._lock:
            for stream in removed:
                for client in self._subs.pop(stream.id, set()):
                    if stream.id in client.named or client.wildcard:
                        # Kept, resumed when the id comes back (a wildcard's
                        # too: a stream replaced by a new epoch is not missed).
                        client._park(stream)
                        self._wanted.setdefault(stream.id, set()).add(client)
                        while len(client.wanted) > MAX_WANTED:
                            oldest = next(iter(client.wanted))
                            self._unwant(client, oldest)
                            client.wanted.pop(oldest)
                    else:
                        client._forget(stream.id)
            for client in self._clients:
                scope = client.principal.streams
                if scope is None:
                    client._put_control(Outgoing("streams", None, 0, 0, frame))
                elif not changed.isdisjoint(scope):
                    if scope not in scoped:
                        scoped[scope] = wire.streams_frame(i for i in infos if i["id"] in scope)
                    client._put_control(Outgoing("streams", None, 0, 0, scoped[scope]))
            # The stream list first, then the lines of a stream that is back.
            for stream in added:
                for client in self._wanted.pop(stream.id, set()):
                    if client._resume(stream):
                        self._subs.setdefault(stream.id, set()).add(client)
            for client in self._wild:
                for stream in added:
                    if client.principal.sees(stream.id):
                        client._set_filter(stream.id, client.wild_filter)
                        self._attach(client, stream, 0, None)

    # -- sending side ----------------------------------------------------------------

    def sent(self, client: Client, item: Outgoing) -> None:
        """Count a frame the transport has written (for statistics)."""
        if item.kind == "lines" and item.stream is not None:
            n = item.count or item.last - item.first + 1
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
                "queued_bytes_max": max((c.queued_bytes for c in clients), default=0),
                "readers_catching_up": sum(1 for c in clients if c.behind),
                "lines_from_history": self.lines_from_history
                + sum(c.lines_from_history for c in clients),
                "lines_out": dict(self.lines_out),
                "lines_dropped": self.lines_dropped + sum(c.lines_dropped for c in clients),
                "gaps": self.gaps + sum(c.gaps for c in clients),
                "subscriptions": {k: len(v) for k, v in self._subs.items()},
            }
