"""Multi-host mode, agent side: publish a hub's streams into Redis Streams.

:class:`Publisher` is the listener of the *agent's* hub (a hub no client reads
directly). ``on_lines`` only wakes the publishing task — it copies nothing: the
lines wait in the hub's own bounded history ring until they are in Redis. So
while Redis is slow or away, an agent holds at most ``--history`` lines per
stream and nothing grows; when Redis is back, the task asks it for the last
entry id of each stream and publishes everything after it that is still in the
ring. Lines that left the ring meanwhile are lost, counted in ``lines_lost``,
and show up on web nodes as a ``gap`` (the seq numbers jump).

Each line goes in with ``XADD KEY MAXLEN ~ HISTORY ID SEQ-0``: the id makes a
repeated publish an error from Redis ("equal or smaller"), which here just
means "already there".

Ownership: a stream id belongs to one agent at a time. A record in Redis
owned by another agent whose heartbeat key is alive is left alone (the
stream is not published, ``conflicts`` says which, and it is retried on every
heartbeat); one whose owner is gone is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tailcast import redis_link as link
from tailcast.errors import ConnectionLost
from tailcast.hub import Hub, Stream

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Publisher"]

log = logging.getLogger("tailcast.redis.publish")

BATCH = 1000  # lines per pipeline round trip
HEARTBEAT = 5.0
HEARTBEAT_TTL = 15  # seconds without a heartbeat before another agent may take a stream over
MAX_EVENTS = 1000  # tail -F events waiting for Redis; older ones are dropped (counted)
STOP_TIMEOUT = 3.0  # for publishing what is pending at stop


class Publisher:
    """Publishes ``hub`` into Redis at ``url``; ``start()`` then ``await stop()``."""

    def __init__(self, url: str, hub: Hub) -> None:
        self.url = url
        self.hub = hub
        self.instance = link.instance_name()
        hub.listener = self
        # Per stream id: the last seq Redis has (None = not registered yet).
        self._published: dict[str, int] = {}
        # Per stream id: the highest seq Redis ever confirmed (survives reconnects).
        self._confirmed: dict[str, int] = {}
        self._dirty: set[str] = set(hub.streams)  # records to (re)write
        self._removed: set[str] = set()
        self._events: deque[tuple[str, bytes]] = deque(maxlen=MAX_EVENTS)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Redis | None = None
        self.connected = asyncio.Event()
        self.lines_published = 0
        self.lines_lost = 0
        self.events_dropped = 0
        self.reconnects = 0
        self.conflicts: dict[str, str] = {}  # stream id -> owning agent
        self.last_error: str | None = None

    # -- hub listener (plain functions: never await, never copy lines) ----------------

    def on_lines(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None:
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
            self._removed.add(stream.id)
            self._published.pop(stream.id, None)
            self._confirmed.pop(stream.id, None)
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and register every stream once (raises on failure), then run."""
        self._client = link.connect(self.url)
        await self._sync(self._client)
        self.connected.set()
        self._task = asyncio.create_task(self._run(), name="redis-publisher")

    async def stop(self) -> None:
        """Publish what is pending (bounded wait), mark the streams stopped, disconnect."""
        timeout = STOP_TIMEOUT
        if self._task is not None:
            if self.connected.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._drain(), timeout)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._goodbye(self._client), timeout)
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None

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
        await client.delete(link.agent_key(self.instance))

    # -- the publishing task ---------------------------------------------------------

    async def _run(self) -> None:
        assert self._client is not None
        client = self._client
        await link.reconnect_forever(
            self.connected,
            lambda: self._sync(client),
            lambda: self._publish_loop(client),
            self._back,
            self._error,
        )

    def _back(self) -> None:
        self.reconnects += 1
        log.warning("redis %s is back: publishing resumed", link.redact(self.url))

    def _error(self, exc: BaseException, outage_started: bool) -> None:
        if outage_started:
            log.warning(
                "redis %s unreachable (%s): lines wait in the local ring (%d per stream)",
                link.redact(self.url),
                exc,
                self.hub.history,
            )
        self.last_error = str(exc)

    async def _publish_loop(self, client: Redis) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + HEARTBEAT
        while True:
            self._wake.clear()
            await self._flush(client)
            if loop.time() >= next_beat:
                await self._heartbeat(client)
                for stream_id in list(self.conflicts):
                    self._dirty.add(stream_id)  # retry: the owner may be gone now
                next_beat = loop.time() + HEARTBEAT
                continue
            if self._pending():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_beat - loop.time()))

    async def _heartbeat(self, client: Redis) -> None:
        await client.set(link.agent_key(self.instance), b"1", ex=HEARTBEAT_TTL)

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
                await self._add_event(client, "status", stream_id, frame)
            self._events.popleft()
        for stream in list(self.hub.streams.values()):
            await self._publish_lines(client, stream)

    # -- records ---------------------------------------------------------------------

    def _record(self, stream: Stream) -> link.StreamRecord:
        return link.StreamRecord(
            id=stream.id,
            name=stream.name,
            kind=stream.kind,
            epoch=stream.epoch,
            state=stream.state,
            key=link.lines_key(stream.id, stream.epoch),
            agent=self.instance,
            extra=dict(stream.state_extra),
            detail=dict(stream.detail),
        )

    async def _register(self, client: Redis, stream: Stream) -> None:
        """Write the stream's record (claiming the id), and learn Redis's last seq once."""
        if stream.id not in self._published:
            raw = await client.hget(link.STREAMS, stream.id)
            if raw is not None:
                try:
                    old: link.StreamRecord | None = link.StreamRecord.loads(raw)
                except (ValueError, KeyError):
                    old = None  # unreadable: ours to overwrite
                if old is not None and old.agent != self.instance and old.epoch != stream.epoch:
                    if await client.exists(link.agent_key(old.agent)):
                        if self.conflicts.get(stream.id) != old.agent:
                            log.error(
                                "stream id %r is published by agent %s: not publishing it "
                                "(give the stream another NAME=)",
                                stream.id,
                                old.agent,
                            )
                        self.conflicts[stream.id] = old.agent
                        return
                    if old.key != link.lines_key(stream.id, stream.epoch):
                        await client.delete(old.key)  # an earlier epoch: numbering restarts
            self.conflicts.pop(stream.id, None)
            last = await link.newest(client, link.lines_key(stream.id, stream.epoch), 1)
            self._published[stream.id] = link.entry_seq(last[0][0]) if last else 0
        await self._write_record(client, self._record(stream))

    async def _write_record(self, client: Redis, record: link.StreamRecord) -> None:
        data = record.dumps()
        await client.hset(link.STREAMS, record.id, data)
        await self._add_event(client, "info", record.id, data)

    async def _unregister(self, client: Redis, stream_id: str) -> None:
        raw = await client.hget(link.STREAMS, stream_id)
        if raw is None:
            return
        try:
            record = link.StreamRecord.loads(raw)
        except (ValueError, KeyError):
            return
        if record.agent != self.instance:
            return  # someone else's now
        await client.hdel(link.STREAMS, stream_id)
        await client.delete(record.key)
        await self._add_event(client, "remove", stream_id, b"{}")

    async def _add_event(self, client: Redis, kind: str, stream_id: str, data: bytes) -> None:
        await client.xadd(
            link.EVENTS,
            {b"t": kind.encode(), b"id": stream_id.encode(), b"d": data},
            maxlen=link.EVENTS_MAXLEN,
            approximate=True,
        )

    # -- lines -----------------------------------------------------------------------

    async def _publish_lines(self, client: Redis, stream: Stream) -> None:
        """Everything after what Redis has, from the ring, a pipeline of BATCH at a time."""
        import redis.exceptions as rex

        key = link.lines_key(stream.id, stream.epoch)
        while True:
            done = self._published.get(stream.id)
            if done is None or done >= stream.last_seq:
                return
            first, lines = stream.lines_after(done, BATCH)
            # Left the ring before Redis ever had them: gone for good. Web nodes
            # see the jump in seq and tell their clients with a gap. (Lines Redis
            # had and lost in a restart are not counted: they did reach it.)
            lost = first - max(done, self._confirmed.get(stream.id, 0)) - 1
            if lost > 0:
                self.lines_lost += lost
                log.warning("%s: %d lines left the local ring before reaching redis", key, lost)
            async with client.pipeline(transaction=False) as pipe:
                for i, data in enumerate(lines):
                    pipe.xadd(
                        key,
                        {b"l": data},
                        id=f"{first + i}-0",
                        maxlen=self.hub.history,
                        approximate=True,
                    )
                results = await pipe.execute(raise_on_error=False)
            for result in results:
                if isinstance(result, rex.ResponseError):
                    if "equal or smaller" not in str(result):
                        # Not a duplicate (out of memory, a foreign key type...):
                        # treated like an outage, retried with backoff.
                        raise ConnectionLost(f"redis refused XADD to {key}: {result}")
                elif isinstance(result, BaseException):
                    raise result
                else:
                    self.lines_published += 1
            # The stream may have been re-registered meanwhile (a reconnect): only
            # move forward.
            if self._published.get(stream.id) == done:
                self._published[stream.id] = first + len(lines) - 1
            last = first + len(lines) - 1
            if last > self._confirmed.get(stream.id, 0):
                self._confirmed[stream.id] = last

    def statistics(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "connected": self.connected.is_set(),
            "lines_published": self.lines_published,
            "lines_lost": self.lines_lost,
            "events_dropped": self.events_dropped,
            "reconnects": self.reconnects,
            "conflicts": dict(self.conflicts),
            "last_error": self.last_error,
        }
