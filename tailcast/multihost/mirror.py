"""Multi-host mode, web-node side: mirror every stream in Redis into the local hub.

A web node's hub holds the same streams as Redis, with the *same* id, epoch
and seq numbers (:meth:`~tailcast.hub.Hub.adopt_stream`,
:meth:`~tailcast.hub.Hub.publish_numbered`), so the registry, WebSocket, SSE
and HTTP code serve them unchanged, and a client can resume with ``since`` on
any web node: the numbering is the agent's, not the node's.

One task reads with a blocking ``XREAD`` over the events stream and every
lines key at once, from the last entry it applied of each. An entry is one
batch of the agent's (:mod:`~tailcast.multihost.keys`): its lines are split
out, never decoded or re-encoded, and stored and sent as the agent's bytes.
A new stream's history is read first (``XREVRANGE``, newest entries until
``history`` lines) and put in its ring before the stream is announced. A
seq that jumps (Redis trimmed past what the node wanted, or the agent lost
lines) restarts the ring there; clients that wanted the missing lines get a
``gap``. A new epoch (the agent restarted) replaces the stream.

When Redis is unreachable every mirrored stream turns ``error`` ("redis
unreachable, retrying"), the task retries with backoff, and on success reads
the ``streams`` hash again, which restores each stream's real state, and
carries on reading from the last seq it holds (a batch earlier, see
:meth:`Mirror._sync`): nothing twice, nothing skipped that Redis still has.
The hash is also re-read every :data:`RESYNC` seconds, so an event trimmed
away before it was read delays a change, never loses it.
A stream leaves a web node only when its agent removes it.

With a history store (``serve --redis URL --data-dir DIR``) a mirrored
stream's history is on disk under the agent's epoch and numbers, and its
record in ``DIR/mirror.json`` (:mod:`~tailcast.multihost.kept`): a node
started again restores those streams first, then reads on from the last seq
it kept, like after an outage. A new epoch replaces the kept copy (its
numbering is not the new one's); a removed stream's copy is deleted.
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
from tailcast.multihost.kept import FILE_NAME, KeptRecords
from tailcast.multihost.reconnect import Link

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Mirror"]

log = logging.getLogger("tailcast.redis.mirror")

# Entries per key per XREAD: an entry is a batch of up to 1000 lines, so this
# bounds one read to some 64 000 lines a stream.
COUNT = 64
HISTORY_PAGE = 100  # entries per XREVRANGE while reading a new stream's history
RESYNC = 5.0
# Between the starts of two XREADs at least, while entries come a few at a time:
# at most 100 reads a second per web node, whatever the number of agents.
PERIOD = 0.01


@dataclass
class _Mirrored:
    stream: Stream
    record: keys.StreamRecord
    # The XREAD position: the id of the last entry applied. Not derived from
    # the stream's last seq: an entry holds a batch, and after Redis restarted
    # the agent's new batches may begin before that seq (see _realign).
    # Bytes, as Redis gives it and XREAD takes it: redis-py's encoder, in
    # Python, took a third of an XREAD's CPU for 50 keys as str (348 against 234 us).
    pos: bytes = b"0-0"


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
        self._events_pos = b"0-0"
        store = hub.store
        self._kept = KeptRecords(
            store.root / FILE_NAME if store is not None and not store.private else None
        )
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
        """Connect and mirror what Redis has now (raises on failure), then follow it.

        First the streams kept from a previous run (``--data-dir``), so that
        the first sync reads each on from its last kept seq.
        """
        self._restore()
        await self._link.start(self._sync, self._follow)

    def _restore(self) -> None:
        for record in self._kept.load():
            if record.id in self.hub.streams:
                continue
            stream = self.hub.adopt_stream(
                record.id, record.name, record.kind, record.epoch, record.detail
            )
            if stream.last_seq == 0:  # nothing kept of this epoch: read it as a new stream
                self._drop(record.id)
                continue
            self._attach_own(stream)
            self._mirrored[record.id] = _Mirrored(stream, record)
            self.hub.set_state(stream, record.state, **record.extra)

    def _attach_own(self, stream: Stream) -> None:
        """One of this node's own sources: its controller and stats provider are here."""
        own = self.local.streams.get(stream.id) if self.local is not None else None
        if own is not None and own.epoch == stream.epoch:
            stream.controller = own.controller
            stream.stats_provider = own.stats_provider

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
        events = keys.EVENTS.encode()
        while True:
            positions = {events: self._events_pos}
            by_key: dict[bytes, _Mirrored] = {}
            for m in self._mirrored.values():
                key = m.record.key.encode()
                by_key[key] = m
                positions[key] = m.pos
            began = loop.time()
            reply = await xread(client, positions, COUNT, BLOCK_MS)
            items = xread_items(reply)
            trickle = 0 < sum(len(entries) for _, entries in items) < len(positions)
            for key, entries in items:
                if key == events:
                    for entry_id, fields in entries:
                        self._events_pos = entry_id
                        await self._event(client, fields)
                    continue
                found = by_key.get(key)
                # A key replaced meanwhile (new epoch) is no longer read.
                if found is not None and self._mirrored.get(found.record.id) is found:
                    self._apply(found, entries)
            if loop.time() >= next_sync:
                await self._read_records(client)
                next_sync = loop.time() + RESYNC
            if trickle and (delay := began + PERIOD - loop.time()) > 0:
                # A trickle: let entries of more streams gather before the next
                # read (an XREAD names every key; one per entry would cost more
                # than the entries). After applying what came, not before.
                await asyncio.sleep(delay)

    # -- records and events ----------------------------------------------------------

    async def _sync(self, client: Redis) -> None:
        """After (re)connecting: where to read from, then every record.

        Normally a stream is read on from the entry after ``pos``, the last
        one applied. But Redis may have restarted empty meanwhile: the agent
        then publishes its ring again, in new batches, and one of them may
        begin before the node's last seq and end after it, even at the very
        id ``pos`` had. So after an outage reading starts a whole batch
        before the line wanted next, which finds the entry that holds it
        whatever the batches (the hub skips the lines it has): only lines
        Redis no longer has become a gap.
        """
        for m in self._mirrored.values():
            m.pos = keys.entry_id(max(m.stream.last_seq - keys.MAX_BATCH + 1, 0)).encode()
        await self._read_records(client)

    async def _read_records(self, client: Redis) -> None:
        """Read the whole ``streams`` hash; events from before it are then not needed."""
        last = await newest(client, keys.EVENTS, 1)
        self._events_pos = last[0][0] if last else b"0-0"
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
            if stream_id in self._mirrored:
                self._drop(stream_id)
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
        pos = b"0-0"
        if m is None or m.record.epoch != record.epoch:
            first, lines, pos = await self._history(client, record.key)
            m = self._mirrored.get(record.id)  # the await may have changed it
            if m is not None and m.record.epoch != record.epoch:
                # The agent restarted: numbering restarts, so the stream is
                # replaced (with no await in between: never seen missing).
                self._drop(record.id)
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
            self._attach_own(stream)
            m = _Mirrored(stream, record, pos)
            self._mirrored[record.id] = m
        m.record = record
        self._kept.put(record)
        self.hub.set_state(m.stream, record.state, **record.extra)

    def _drop(self, stream_id: str) -> None:
        """A stream gone from this node (removed, or replaced by a new epoch), kept copy too."""
        self._mirrored.pop(stream_id, None)
        self.hub.remove_stream(stream_id)
        if self.hub.store is not None:
            self.hub.store.remove_stream(stream_id)
        self._kept.remove(stream_id)

    async def _history(self, client: Redis, key: str) -> tuple[int, list[bytes], bytes]:
        """The newest contiguous run of up to ``history`` lines Redis has for ``key``.

        Also the id of the newest entry read (where following starts).
        """
        want = self.hub.history
        chunks: list[list[bytes]] = []  # newest first
        held = 0
        first = 1
        pos = b"0-0"
        top = "+"
        while held < want:
            page: Any = await client.xrevrange(key, top, "-", count=HISTORY_PAGE)
            for entry_id, fields in page or ():
                seq = keys.entry_seq(entry_id)
                lines = keys.batch_lines(fields)
                if pos == b"0-0":
                    pos = entry_id
                elif seq + len(lines) != first or not lines:
                    return self._joined(first, chunks, pos)  # a jump: older lines cannot join
                lines = lines[max(len(lines) - (want - held), 0) :]
                chunks.append(lines)
                held += len(lines)
                first = keys.entry_last(entry_id, fields) + 1 - len(lines)
                if held >= want:
                    break
            if not page or len(page) < HISTORY_PAGE:
                break
            top = "(" + page[-1][0].decode()
        return self._joined(first, chunks, pos)

    @staticmethod
    def _joined(
        first: int, chunks: list[list[bytes]], pos: bytes
    ) -> tuple[int, list[bytes], bytes]:
        lines = [line for chunk in reversed(chunks) for line in chunk]
        return (first if lines else 1), lines, pos

    # -- lines -----------------------------------------------------------------------

    def _apply(self, m: _Mirrored, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Entries in id order -> contiguous runs -> the hub (which skips what it has)."""
        stream = m.stream
        run: list[bytes] = []
        first = 0
        for entry_id, fields in entries:
            seq = keys.entry_seq(entry_id)
            lines = keys.batch_lines(fields)
            m.pos = entry_id
            if not lines:
                continue  # damaged: seen as a jump
            if run and seq != first + len(run):
                self._publish(stream, first, run)
                run = []
            if not run:
                first = seq
            run.extend(lines)
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
