"""Multi-host mode, agent side: publish a hub's streams into Redis Streams.

:class:`Publisher` is the listener of the *agent's* hub (a hub no client reads
directly). ``on_lines`` wakes the publishing task and copies nothing: the
lines wait in the hub's own bounded history until they are in Redis. So
while Redis is slow or away, an agent holds at most ``--history`` lines per
stream and nothing grows; when Redis is back, the task asks it for the last
entry id of each stream and publishes everything after it that is still in the
ring. Lines that left the ring meanwhile are lost, counted in ``lines_lost``,
and show up on web nodes as a ``gap`` (the seq numbers jump).

The lines to publish are the hub's own encoded bytes, never re-encoded,
sliced from the lists the hub handed over (:class:`~tailcast.multihost.fresh.FreshLines`)
or, after an outage, read back from the history. Each batch of up to
:data:`BATCH` lines goes in as one entry, ``XADD KEY MINID
BOUND FIRSTSEQ-0 l LINES n COUNT``, about :data:`PIPELINE` entries per round trip,
every stream's in the same ones (:mod:`~tailcast.multihost.outgoing`): the
id makes a repeated publish an error from Redis ("equal or smaller"), which
here just means "already there"; the bound (:func:`~tailcast.multihost.keys.trim_minid`)
keeps at least ``--history`` lines in Redis.

Ownership: a stream id belongs to one agent at a time. A record in Redis
owned by another agent whose heartbeat key is alive is left alone (the
stream is not published, ``conflicts`` says which, and it is retried on every
heartbeat); one whose owner is gone is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tailcast.alarm import Alarm
from tailcast.hub import Hub, Stream
from tailcast.multihost import keys
from tailcast.multihost.client import newest
from tailcast.multihost.fresh import FreshLines
from tailcast.multihost.lane import Lanes
from tailcast.multihost.outgoing import BATCH, PIPELINE, Outgoing, accepted, send
from tailcast.multihost.reconnect import Link

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Publisher"]

log = logging.getLogger("tailcast.redis.publish")

# A busy agent's file sources step once per LINGER (roles.py): 20 ms, not 10,
# halves its round trips and reads (docs/multihost.md has the fleet's figures).
LINGER = 0.02
# Between two round trips' starts at least: less than LINGER, so that the lines
# of a step go at once, not after a round trip's wait begun at the step before.
GAP = 0.8 * LINGER
HEARTBEAT = 5.0
HEARTBEAT_TTL = 15  # seconds without a heartbeat before another agent may take a stream over
MAX_EVENTS = 1000  # tail -F events waiting for Redis; older ones are dropped (counted)
STOP_TIMEOUT = 3.0  # for publishing what is pending at stop


def instance_name() -> str:
    """An id for one agent process, readable by an operator (host first)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Publisher:
    """Publishes ``hub`` into Redis at ``url``; ``start()`` then ``await stop()``."""

    def __init__(self, url: str, hub: Hub) -> None:
        self.url = url
        self.hub = hub
        self.instance = instance_name()
        hub.listener = self
        # Per stream id: the last seq Redis has (None = not registered yet).
        self._published: dict[str, int] = {}
        # Per stream id: the highest seq Redis ever confirmed (survives reconnects).
        self._confirmed: dict[str, int] = {}
        self._dirty: set[str] = set(hub.streams)  # records to (re)write
        self._removed: set[str] = set()
        self._events: deque[tuple[str, bytes]] = deque(maxlen=MAX_EVENTS)
        self._fresh = FreshLines()  # what the hub handed over, until Redis has it
        self._lanes = Lanes()  # the hot XADD's own connection (tailcast/multihost/lane.py)
        self._wake = asyncio.Event()
        self._link = Link(
            url, log, "publishing", f"lines wait in the local ring ({hub.history} per stream)"
        )
        self.connected = self._link.connected
        self.lines_published = 0
        self.batches_published = 0
        self.round_trips = 0  # of lines (XADDs of one stream or many)
        self.lines_lost = 0
        self.events_dropped = 0
        self.conflicts: dict[str, str] = {}  # stream id -> owning agent

    @property
    def reconnects(self) -> int:
        return self._link.reconnects

    @property
    def last_error(self) -> str | None:
        return self._link.last_error

    # -- hub listener (plain functions: never await, never copy lines) ----------------

    def on_lines(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None:
        self._fresh.add(stream, first_seq, lines)
        self._wake.set()

    def on_status(self, stream: Stream, frame: bytes) -> None:
        self._dirty.add(stream.id)
        if b'"event"' in frame:
            if len(self._events) == self._events.maxlen:
                self.events_dropped += 1
            self._events.append((stream.id, frame))
        self._wake.set()

    def on_streams(self, added: Sequence[Stream], removed: Sequence[Stream]) -> None:
        for stream in added:
            self._dirty.add(stream.id)
            self._removed.discard(stream.id)
        for stream in removed:
            self._fresh.forget(stream.id)
            self._removed.add(stream.id)
            self._published.pop(stream.id, None)
            self._confirmed.pop(stream.id, None)
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and register every stream once (raises on failure), then run."""
        await self._link.start(self._sync, self._publish_loop)

    async def stop(self) -> None:
        """Publish what is pending (bounded wait), mark the streams stopped, disconnect."""
        timeout = STOP_TIMEOUT
        if self._link.running and self.connected.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain(), timeout)
        await self._link.cancel()
        with contextlib.suppress(Exception):
            await self._lanes.close()
        if self._link.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._goodbye(self._link.client), timeout)
        await self._link.close()

    async def _drain(self) -> None:
        while self._pending():
            self._wake.set()
            await asyncio.sleep(0.01)  # the publishing task runs meanwhile

    def _pending(self) -> bool:
        return bool(self._dirty or self._removed or self._events) or any(
            s.last_seq > self._published.get(s.id, s.last_seq) for s in self.hub.streams.values()
        )

    async def _goodbye(self, client: Redis) -> None:
        """A stopped agent: its streams stay (history is still useful), marked as such."""
        for stream in self.hub.streams.values():
            if stream.id in self._published and stream.state in ("live", "waiting"):
                record = self._record(stream)
                record.state = "error"
                record.extra = {"message": f"agent {self.instance} stopped"}
                await self._write_record(client, record)
        await client.delete(keys.agent_key(self.instance))

    # -- the publishing task (run, and re-run after an outage, by the Link) -------------

    async def _publish_loop(self, client: Redis) -> None:
        loop = asyncio.get_running_loop()
        beat = Alarm(self._wake.set)  # rung (no longer armed): the heartbeat is due
        beat.arm(HEARTBEAT)
        try:
            while True:
                self._wake.clear()
                began = loop.time()
                await self._flush(client)
                if not beat.armed:
                    await self._heartbeat(client)
                    for stream_id in list(self.conflicts):
                        self._dirty.add(stream_id)  # retry: the owner may be gone now
                    beat.arm(HEARTBEAT)
                    continue
                if self._pending():
                    # Busy: a round trip per GAP at most unless a whole batch waits, so
                    # lines written a few at a time share an entry (not a command each).
                    delay = began + GAP - loop.time()
                    if delay > 0 and self._waiting() < BATCH:
                        await asyncio.sleep(delay)
                    continue
                await self._wake.wait()  # lines after a quiet spell go at once
        finally:
            beat.cancel()

    def _waiting(self) -> int:
        """Lines in the hub that Redis does not have yet (registered streams)."""
        published = self._published
        return sum(
            s.last_seq - published[s.id] for s in self.hub.streams.values() if s.id in published
        )

    async def _heartbeat(self, client: Redis) -> None:
        await client.set(keys.agent_key(self.instance), b"1", ex=HEARTBEAT_TTL)

    async def _sync(self, client: Redis) -> None:
        """After (re)connecting: heartbeat, re-register every stream, find where Redis stands."""
        await self._heartbeat(client)
        self._published.clear()
        self._dirty.update(self.hub.streams)
        await self._flush(client)

    async def _flush(self, client: Redis) -> None:
        for stream_id in list(self._removed):
            await self._unregister(client, stream_id)
            self._removed.discard(stream_id)
        for stream_id in list(self._dirty):
            self._dirty.discard(stream_id)
            stream = self.hub.streams.get(stream_id)
            if stream is not None:
                await self._register(client, stream)
        while self._events:
            stream_id, frame = self._events[0]
            if stream_id in self._published:
                await self._add_event(client, keys.EVENT_STATUS, stream_id, frame)
            self._events.popleft()
        await self._publish_all(client)

    # -- records ---------------------------------------------------------------------

    def _record(self, stream: Stream) -> keys.StreamRecord:
        return keys.StreamRecord(
            id=stream.id,
            name=stream.name,
            kind=stream.kind,
            epoch=stream.epoch,
            state=stream.state,
            key=keys.lines_key(stream.id, stream.epoch),
            agent=self.instance,
            extra=dict(stream.state_extra),
            detail=dict(stream.detail),
        )

    async def _register(self, client: Redis, stream: Stream) -> None:
        """Write the stream's record (claiming the id), and learn Redis's last seq once."""
        if stream.id not in self._published:
            raw = await client.hget(keys.STREAMS, stream.id)
            if raw is not None:
                try:
                    old: keys.StreamRecord | None = keys.StreamRecord.loads(raw)
                except (ValueError, KeyError):
                    old = None  # unreadable: ours to overwrite
                if old is not None and old.agent != self.instance and old.epoch != stream.epoch:
                    if await client.exists(keys.agent_key(old.agent)):
                        if self.conflicts.get(stream.id) != old.agent:
                            log.error(
                                "stream id %r is published by agent %s: not publishing it "
                                "(give the stream another NAME=)",
                                stream.id,
                                old.agent,
                            )
                        self.conflicts[stream.id] = old.agent
                        return
                    if old.key != keys.lines_key(stream.id, stream.epoch):
                        await client.delete(old.key)  # an earlier epoch: numbering restarts
            self.conflicts.pop(stream.id, None)
            last = await newest(client, keys.lines_key(stream.id, stream.epoch), 1)
            self._published[stream.id] = keys.entry_last(*last[0]) if last else 0
        await self._write_record(client, self._record(stream))

    async def _write_record(self, client: Redis, record: keys.StreamRecord) -> None:
        data = record.dumps()
        await client.hset(keys.STREAMS, record.id, data)
        await self._add_event(client, keys.EVENT_INFO, record.id, data)

    async def _unregister(self, client: Redis, stream_id: str) -> None:
        raw = await client.hget(keys.STREAMS, stream_id)
        if raw is None:
            return
        try:
            record = keys.StreamRecord.loads(raw)
        except (ValueError, KeyError):
            return
        if record.agent != self.instance:
            return  # someone else's now
        await client.hdel(keys.STREAMS, stream_id)
        await client.delete(record.key)
        await self._add_event(client, keys.EVENT_REMOVE, stream_id, b"{}")

    async def _add_event(self, client: Redis, kind: str, stream_id: str, data: bytes) -> None:
        # (redis-py's field type is a dict of a union: invariance refuses ours)
        fields: dict[Any, Any] = keys.event_fields(kind, stream_id, data)
        await client.xadd(
            keys.EVENTS,
            fields,
            maxlen=keys.EVENTS_MAXLEN,
            approximate=True,
        )

    # -- lines -----------------------------------------------------------------------

    async def _publish_all(self, client: Redis) -> None:
        """What follows what Redis has, for every stream, from the ring.

        The streams' entries share round trips (:mod:`~tailcast.multihost.outgoing`):
        one for an agent following many files, not one per file. Lines that come
        during a round trip wait for the next one (the loop lingers, or goes on
        at once when a whole batch waits): sent at once, they cost a busy agent
        two or three round trips per linger instead of one.
        """
        round_trip: list[Outgoing] = []
        size = 0
        for stream in list(self.hub.streams.values()):
            out = self._outgoing(stream)
            if out is None:
                continue
            round_trip.append(out)
            size += len(out.batches)
            if size >= PIPELINE:
                await self._send(client, round_trip)
                round_trip, size = [], 0
        if round_trip:
            await self._send(client, round_trip)

    def _outgoing(self, stream: Stream) -> Outgoing | None:
        """Up to PIPELINE batches of up to BATCH lines after what Redis has (None: nothing)."""
        done = self._published.get(stream.id)
        if done is None or done >= stream.last_seq:
            return None
        first, lines = done + 1, self._fresh.after(stream, done, BATCH * PIPELINE)
        if not lines:
            first, lines = stream.lines_after(done, BATCH * PIPELINE)
        # (a hole stops the read: it is counted as lost by the next round)
        batches = [(first + i, lines[i : i + BATCH]) for i in range(0, len(lines), BATCH)]
        # Left the ring before Redis ever had them: gone for good. Web nodes
        # see the jump in seq and tell their clients with a gap. (Lines Redis
        # had and lost in a restart are not counted: they did reach it.)
        lost = batches[0][0] - max(done, self._confirmed.get(stream.id, 0)) - 1
        key = keys.lines_key(stream.id, stream.epoch)
        return Outgoing(stream.id, key, done, lost, batches)

    async def _send(self, client: Redis, round_trip: list[Outgoing]) -> None:
        """One round trip; then, stream by stream, what Redis has (counted once sent).

        A refusal (raised at the end, an outage for the Link) holds back only its
        own stream: the others' entries are in Redis all the same, and counted.
        """
        results = await send(client, self._lanes, round_trip, self.hub.history)
        self.round_trips += 1
        refusal: Exception | None = None
        at = 0
        for out in round_trip:
            mine, at = results[at : at + len(out.batches)], at + len(out.batches)
            try:
                for (_, lines), result in zip(out.batches, mine, strict=True):
                    if accepted(out.key, result):
                        self.lines_published += len(lines)
                        self.batches_published += 1
            except Exception as exc:
                refusal = refusal or exc
                continue
            if out.lost > 0:
                self.lines_lost += out.lost
                log.warning(
                    "%s: %d lines left the local ring before reaching redis", out.key, out.lost
                )
            # The stream may have been removed meanwhile (the hub's on_streams, during
            # the round trip): its numbers are forgotten, not set again. Otherwise
            # only move forward.
            if out.stream_id not in self._published:
                continue
            if self._published[out.stream_id] == out.done:
                self._published[out.stream_id] = out.last
            if out.last > self._confirmed.get(out.stream_id, 0):
                self._confirmed[out.stream_id] = out.last
        if refusal is not None:
            raise refusal

    def statistics(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "connected": self.connected.is_set(),
            "lines_published": self.lines_published,
            "batches_published": self.batches_published,
            "round_trips": self.round_trips,
            "lines_lost": self.lines_lost,
            "events_dropped": self.events_dropped,
            "reconnects": self.reconnects,
            "conflicts": dict(self.conflicts),
            "last_error": self.last_error,
            "xadd_lane": self._lanes.statistics(),
        }
