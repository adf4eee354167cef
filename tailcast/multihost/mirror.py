"""Multi-host mode, web-node side: mirror every stream in Redis into the local hub.

A web node's hub holds the same streams as Redis, with the *same* id, epoch
and seq numbers (:meth:`~tailcast.hub.Hub.adopt_stream`,
:meth:`~tailcast.hub.Hub.publish_numbered`), so the registry, WebSocket, SSE
and HTTP code serve them unchanged, and a client can resume with ``since`` on
any web node: the numbering is the agent's, not the node's.

One task reads with a blocking ``XREAD`` over the events stream and every
lines key at once, from the last seq it holds of each. A new stream's history
is read first (``XREVRANGE``, newest ``history`` entries) and put in its ring
before the stream is announced. A seq that jumps (Redis trimmed past what the
node wanted, or the agent lost lines) restarts the ring there; clients that
wanted the missing lines get a ``gap``. A new epoch (the agent restarted)
replaces the stream.

When Redis is unreachable every mirrored stream turns ``error`` ("redis
unreachable, retrying"), the task retries with backoff, and on success reads
the ``streams`` hash again, which restores each stream's real state, and
carries on reading from the last seq it holds: nothing twice, nothing skipped
that Redis still has. The hash is also re-read every :data:`RESYNC` seconds,
so an event trimmed away before it was read delays a change, never loses it.
A stream leaves a web node only when its agent removes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tailcast.hub import Hub, Stream
from tailcast.multihost import keys
from tailcast.multihost.client import BLOCK_MS, hgetall, newest, xread, xread_items
from tailcast.multihost.reconnect import Link

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Mirror"]

log = logging.getLogger("tailcast.redis.mirror")

COUNT = 1000  # entries per key per XREAD
RESYNC = 5.0


@dataclass
class _Mirrored:
    stream: Stream
    record: keys.StreamRecord


class Mirror:
    """Keeps ``hub`` equal to what Redis at ``url`` holds; ``start()`` then ``stop()``.

    ``local`` is the hub of this node's own sources (``serve --redis SOURCE``):
    their streams come back through Redis like any other, and get their
    controller (restart/stop) and stats provider from there.
    """

    def __init__(self, url: str, hub: Hub, local: Hub | None = None) -> None:
        self.url = url
        self.hub = hub
        self.local = local
        self._mirrored: dict[str, _Mirrored] = {}
        self._events_pos = "0-0"
        self._link = Link(url, log, "mirroring", "retrying", on_outage=self._unreachable)
        self.connected = self._link.connected
        self.lines_mirrored = 0
        self.resyncs = 0

    @property
    def reconnects(self) -> int:
        return self._link.reconnects

    @property
    def last_error(self) -> str | None:
        return self._link.last_error

    async def start(self) -> None:
        """Connect and mirror what Redis has now (raises on failure), then follow it."""
        await self._link.start(self._sync, self._follow)

    async def stop(self) -> None:
        await self._link.cancel()
        await self._link.close()

    # -- the task (run, and re-run after an outage, by the Link) ---------------------

    def _unreachable(self, reason: str) -> None:
        """Make the outage visible: every mirrored stream is in ``error`` until resync."""
        for m in self._mirrored.values():
            self.hub.set_state(m.stream, "error", message=f"redis unreachable ({reason}); retrying")

    async def _follow(self, client: Redis) -> None:
        loop = asyncio.get_running_loop()
        next_sync = loop.time() + RESYNC
        while True:
            positions = {keys.EVENTS: self._events_pos}
            by_key: dict[bytes, _Mirrored] = {}
            for m in self._mirrored.values():
                by_key[m.record.key.encode()] = m
                positions[m.record.key] = f"{m.stream.last_seq}-0"
            reply = await xread(client, positions, COUNT, BLOCK_MS)
            for key, entries in xread_items(reply):
                if key == keys.EVENTS.encode():
                    for entry_id, fields in entries:
                        self._events_pos = entry_id.decode()
                        await self._event(client, fields)
                    continue
                found = by_key.get(key)
                # A key replaced meanwhile (new epoch) is no longer read.
                if found is not None and self._mirrored.get(found.record.id) is found:
                    self._apply(found.stream, entries)
            if loop.time() >= next_sync:
                await self._sync(client)
                next_sync = loop.time() + RESYNC

    # -- records and events ----------------------------------------------------------

    async def _sync(self, client: Redis) -> None:
        """Read the whole ``streams`` hash; events from before it are then not needed."""
        last = await newest(client, keys.EVENTS, 1)
        self._events_pos = last[0][0].decode() if last else "0-0"
        records = await hgetall(client, keys.STREAMS)
        for raw in records.values():
            record = _load(raw)
            if record is not None:
                await self._record(client, record)
        self.resyncs += 1

    async def _event(self, client: Redis, fields: dict[bytes, bytes]) -> None:
        kind, stream_id, data = keys.parse_event(fields)
        if kind == keys.EVENT_INFO:
            record = _load(data)
            if record is not None:
                await self._record(client, record)
        elif kind == keys.EVENT_REMOVE:
            if self._mirrored.pop(stream_id, None) is not None:
                self.hub.remove_stream(stream_id)
        elif kind == keys.EVENT_STATUS:
            m = self._mirrored.get(stream_id)
            try:
                frame = json.loads(data)
                event = frame.get("event")
                if m is not None and isinstance(event, str):
                    self.hub.event(m.stream, event)
            except ValueError:  # a bad frame (or an unknown event name): not ours to relay
                log.debug("ignored status event %r for %s", data[:200], stream_id)

    async def _record(self, client: Redis, record: keys.StreamRecord) -> None:
        m = self._mirrored.get(record.id)
        if m is None or m.record.epoch != record.epoch:
            first, lines = await self._history(client, record.key)
            m = self._mirrored.get(record.id)  # the await may have changed it
            if m is not None and m.record.epoch != record.epoch:
                # The agent restarted: numbering restarts, so the stream is
                # replaced (with no await in between: never seen missing).
                del self._mirrored[record.id]
                self.hub.remove_stream(record.id)
                m = None
        if m is None:
            if record.id in self.hub.streams:
                return  # not ours (cannot happen: this hub holds mirrored streams only)
            stream = self.hub.adopt_stream(
                record.id,
                record.name,
                record.kind,
                record.epoch,
                record.detail,
                first_seq=first,
                lines=lines,
            )
            own = self.local.streams.get(record.id) if self.local is not None else None
            if own is not None and own.epoch == record.epoch:
                stream.controller = own.controller
                stream.stats_provider = own.stats_provider
            m = _Mirrored(stream, record)
            self._mirrored[record.id] = m
        m.record = record
        self.hub.set_state(m.stream, record.state, **record.extra)

    async def _history(self, client: Redis, key: str) -> tuple[int, list[bytes]]:
        """The newest contiguous run of up to ``history`` lines Redis has for ``key``."""
        entries = await newest(client, key, self.hub.history)
        lines: list[bytes] = []
        first = 1
        expected: int | None = None
        for entry_id, fields in entries:  # newest first
            seq = keys.entry_seq(entry_id)
            if expected is not None and seq != expected:
                break  # older lines beyond a jump cannot share a contiguous ring
            lines.append(fields.get(keys.LINE_FIELD, b"{}"))
            first = seq
            expected = seq - 1
        lines.reverse()
        return first, lines

    # -- lines -----------------------------------------------------------------------

    def _apply(self, stream: Stream, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Entries in id order -> contiguous runs -> the hub (which skips what it has)."""
        run: list[bytes] = []
        first = 0
        for entry_id, fields in entries:
            seq = keys.entry_seq(entry_id)
            if run and seq != first + len(run):
                self._publish(stream, first, run)
                run = []
            if not run:
                first = seq
            run.append(fields.get(keys.LINE_FIELD, b"{}"))
        if run:
            self._publish(stream, first, run)

    def _publish(self, stream: Stream, first: int, lines: list[bytes]) -> None:
        before = stream.lines_in
        self.hub.publish_numbered(stream, first, lines)
        self.lines_mirrored += stream.lines_in - before

    def statistics(self) -> dict[str, Any]:
        return {
            "connected": self.connected.is_set(),
            "streams": len(self._mirrored),
            "lines_mirrored": self.lines_mirrored,
            "reconnects": self.reconnects,
            "resyncs": self.resyncs,
            "last_error": self.last_error,
        }


def _load(raw: bytes) -> keys.StreamRecord | None:
    try:
        return keys.StreamRecord.loads(raw)
    except (ValueError, KeyError, TypeError):
        log.warning("ignored an unreadable stream record: %r", raw[:200])
        return None
