"""One connected client: its bounded queue, its cursors, and its catch-up from history.

A :class:`Client` is what a WebSocket or SSE sender drains. The registry
(:mod:`tailcast.registry`) puts live frames into it; when a live frame does not
fit, the client is not dropped from its position: that stream is marked
*behind* at its cursor and no more live frames of it are queued. The client's
own sender then reads on from the stream's history at the client's pace
(:meth:`Client.take_batch`), in bounded chunks, until it reaches the newest
line and is live again. So a client's server memory is bounded by
``max_bytes`` (``--queue-bytes``), and it gets a ``gap`` only for lines that
left the history before it read them.

Invariants, per client and stream (every change under the registry's lock,
with no await inside):

- the *cursor* is the next seq to queue: every lines frame queued starts
  exactly at it and moves it past its last line, so no line is sent twice on
  a connection and none is skipped without a ``gap``;
- a stream is either *live* (the registry queues its new frames) or *behind*
  (only catch-up queues its lines, read from history starting at the cursor);
  it goes live again only when the cursor is past the stream's newest line,
  checked under the lock, so nothing falls between the two;
- a ``gap`` is queued only for a range that has left the history (or a
  history that restarted): a real loss, counted in ``gaps``/``lines_dropped``;
- when a control frame (status, streams, error) does not fit, queued line
  frames go back to the history: their streams are marked behind at the first
  seq that was queued, so they are read again, in order. If the queue is still
  full, of control frames only, the client is hopelessly behind and is closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from tailcast.hub import Stream
from tailcast.protocol import wire
from tailcast.protocol.filters import FilterState, LineFilter
from tailcast.shares import OWNER, Principal

__all__ = ["SEND_BATCH_BYTES", "Client", "Outgoing", "lines_frame_size"]

# The most a sender takes out of its queue at once (at least one frame); also
# how much one catch-up step reads from history and how full it fills the
# queue: the history will soon be on disk, so reads stay small and paced by
# the client, never the whole backlog at once.
SEND_BATCH_BYTES = 64 * 1024
# A filtered reader may read much history to queue little: one catch-up step
# reads at most this much before it lets the event loop run again.
FILTER_SCAN_BYTES = 1024 * 1024
# How far back a filtered read that starts inside a message looks for its head.
PRIME_LINES = 1000


@dataclass(slots=True)
class Outgoing:
    """One frame waiting in a client's queue."""

    kind: str  # "lines", "gap", "status", "streams", "error"
    stream: str | None
    first: int  # lines: first seq; gap: from
    last: int  # lines: last seq; gap: to
    payload: bytes
    count: int = 0  # lines in a filtered frame (``last - first + 1`` when 0)


def lines_frame_size(head: int, lines: Sequence[bytes]) -> int:
    """The size of ``wire.lines_frame`` of ``lines`` without building it.

    ``head`` is the size of the frame with no line (``len(lines_frame(id, []))``);
    each line adds its bytes and a comma between two.
    """
    return head + sum(map(len, lines)) + max(len(lines) - 1, 0)


class Client:
    """One connected client and its bounded queue. Created by ``Registry.connect``.

    Methods named with a leading underscore are called with ``lock`` held (the
    registry's); the public ones take it themselves.
    """

    def __init__(
        self, client_id: int, peer: str, max_bytes: int, lock: threading.Lock | None = None
    ) -> None:
        self.id = client_id
        self.peer = peer
        self.max_bytes = max_bytes
        self.queue: deque[Outgoing] = deque()
        self.queued_bytes = 0
        self.cursors: dict[str, int] = {}
        # The stream behind each cursor; and, in round-robin order, the
        # streams this client reads from history rather than live.
        self.following: dict[str, Stream] = {}
        self.behind: dict[str, Stream] = {}
        # Streams subscribed by id that went away: id -> (epoch, cursor), so
        # that the subscription resumes when a stream of that id comes back.
        self.wanted: dict[str, tuple[str, int]] = {}
        self.named: set[str] = set()  # ids subscribed by name (not through ``*``)
        self.wildcard = False
        # Who this client is: the owner sees every stream, a share link only its own.
        self.principal: Principal = OWNER
        # Per-stream filters (protocol 1.1) and where each reader is in its
        # stream's messages; the filter of "*" applies to streams that come later.
        self.filters: dict[str, LineFilter] = {}
        self.filter_states: dict[str, FilterState] = {}
        self.wild_filter: LineFilter | None = None
        self.closed = False
        self.close_reason: str | None = None
        self._lock = lock if lock is not None else threading.Lock()
        self._wakeup = asyncio.Event()
        self.lines_sent = 0
        self.lines_dropped = 0
        self.gaps = 0
        self.lines_from_history = 0
        self._scanned = 0  # history bytes a filtered catch-up step has read

    # -- the sending side ------------------------------------------------------------

    async def next_batch(self) -> list[Outgoing]:
        """Wait for frames, take the oldest (about ``SEND_BATCH_BYTES``); ``[]`` once closed."""
        while True:
            self._wakeup.clear()
            batch = self.take_batch()
            if batch:
                return batch
            if self.closed:
                return []
            if self.behind:
                # A filtered catch-up read its share and found nothing yet:
                # let others run, then read on.
                await asyncio.sleep(0)
                continue
            await self._wakeup.wait()

    def take_batch(self) -> list[Outgoing]:
        """Catch up from history if behind, then take the oldest queued frames (no wait).

        Only a bounded batch leaves the queue at a time: frames still queued
        count against ``max_bytes``, so a slow client holds at most
        ``max_bytes`` plus one batch, not twice ``max_bytes`` (which, over
        many slow clients, is what RSS is made of).
        """
        with self._lock:
            if not self.closed:
                self._catch_up()
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

    def send_error(self, message: str) -> None:
        """Queue an ``error`` frame (through the queue, so it keeps its place among lines)."""
        with self._lock:
            self._put_control(Outgoing("error", None, 0, 0, wire.error_frame(message)))

    def close(self, reason: str | None = None) -> None:
        """Stop the client's sender (it sends what is queued, then stops)."""
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self._wakeup.set()

    # -- following streams (lock held) -----------------------------------------------

    def _set_filter(self, stream_id: str, line_filter: LineFilter | None) -> None:
        """Filter ``stream_id``'s lines from now on (None: every line)."""
        if line_filter is None:
            self.filters.pop(stream_id, None)
            self.filter_states.pop(stream_id, None)
        else:
            self.filters[stream_id] = line_filter
            self.filter_states.setdefault(stream_id, FilterState())

    def filter_state(self, stream: Stream, seq: int) -> FilterState:
        """The filter state of a read of ``stream`` from ``seq`` (lock held).

        The first time, it is primed from the lines before ``seq``: lines that
        continue a message begun before the read pass with that message's head.
        """
        state = self.filter_states.get(stream.id)
        if state is None or not state.primed:
            before: list[bytes] = []
            if seq > stream.first_seq:
                before = stream.read_before(seq, PRIME_LINES)[1]
            state = self.filter_states[stream.id] = self.filters[stream.id].state_after(before)
        return state

    def _follow(self, stream: Stream, cursor: int) -> None:
        """Start following ``stream`` from ``cursor``: behind if history has lines from it."""
        self.cursors[stream.id] = cursor
        self.following[stream.id] = stream
        if cursor <= stream.last_seq:
            self._fall_behind(stream)

    def _forget(self, stream_id: str) -> None:
        self.wanted.pop(stream_id, None)
        self.cursors.pop(stream_id, None)
        self.following.pop(stream_id, None)
        self.behind.pop(stream_id, None)
        self.filters.pop(stream_id, None)
        self.filter_states.pop(stream_id, None)

    def _park(self, stream: Stream) -> None:
        """``stream`` went away: stop following it but remember where (a subscription by id)."""
        cursor = self.cursors.get(stream.id)
        self._forget(stream.id)
        if cursor is not None:
            self.wanted[stream.id] = (stream.epoch, cursor)

    def _resume(self, stream: Stream) -> bool:
        """A stream with a wanted id came back: follow it again; ``False`` if not wanted.

        The same epoch goes on from the cursor (a ``gap`` only for lines that
        left the history meanwhile); a new epoch is new numbering, every line
        of which is new to this client: its replay starts at its oldest kept
        line, with no gap.
        """
        entry = self.wanted.pop(stream.id, None)
        if entry is None:
            return False
        epoch, cursor = entry
        if epoch != stream.epoch:
            cursor = max(stream.first_seq, 1)
        self._follow(stream, cursor)
        return True

    def _fall_behind(self, stream: Stream) -> None:
        """Queue no more live frames of ``stream``: catch-up reads on from the cursor."""
        self.behind[stream.id] = stream
        self._wakeup.set()  # the sender may be waiting on an empty queue

    # -- queuing (lock held) ---------------------------------------------------------

    def _fits(self, size: int) -> bool:
        return self.queued_bytes + size <= self.max_bytes

    def _append(self, item: Outgoing) -> None:
        self.queue.append(item)
        self.queued_bytes += len(item.payload)
        self._wakeup.set()

    def _put_control(self, item: Outgoing) -> None:
        """Queue a status/streams/error frame, making room from line frames if need be."""
        if not self._fits(len(item.payload)):
            self._return_lines_to_history()
            if not self._fits(len(item.payload)):
                # Only control frames are left and they do not fit: the client
                # is hopelessly behind; close it rather than grow without bound.
                self.close("too slow: queue full of control frames")
                return
        self._append(item)

    def _push_gap(self, stream_id: str, first: int, last: int) -> None:
        """Say that ``first..last`` are lost for this client (they left the history)."""
        self._append(
            Outgoing("gap", stream_id, first, last, wire.gap_frame(stream_id, first, last))
        )
        self.gaps += 1
        self.lines_dropped += last - first + 1

    def _return_lines_to_history(self) -> None:
        """Take every queued line (and gap) frame out; their streams read them again.

        Each stream goes behind at the first seq it had queued (all its later
        frames go too, so the order stays); its gaps are undone in the counts,
        as the new read will find them again.
        """
        rewind: dict[str, int] = {}
        kept: deque[Outgoing] = deque()
        for item in self.queue:
            if item.kind not in ("lines", "gap") or item.stream is None:
                kept.append(item)
                continue
            if item.kind == "gap":
                self.gaps -= 1
                self.lines_dropped -= item.last - item.first + 1
            rewind[item.stream] = min(rewind.get(item.stream, item.first), item.first)
        self.queue = kept
        self.queued_bytes = sum(len(i.payload) for i in kept)
        for stream_id, first in rewind.items():
            stream = self.following.get(stream_id)
            if stream is None:
                parked = self.wanted.get(stream_id)
                if parked is not None:  # gone for now: read again when it is back
                    self.wanted[stream_id] = (parked[0], min(parked[1], first))
                continue  # no longer followed: nothing to read again
            self.cursors[stream_id] = min(self.cursors[stream_id], first)
            if stream_id in self.filter_states:
                self.filter_states[stream_id] = FilterState()  # read again: the state is unknown
            self._fall_behind(stream)

    # -- catching up (lock held) -----------------------------------------------------

    def _catch_up(self) -> None:
        """Read behind streams from history, round-robin, until about a batch is queued."""
        behind = self.behind
        self._scanned = 0
        while behind and self.queued_bytes < SEND_BATCH_BYTES and self._scanned < FILTER_SCAN_BYTES:
            room = min(self.max_bytes - self.queued_bytes, SEND_BATCH_BYTES)
            if room <= 0:
                return
            stream_id = next(iter(behind))
            stream = behind.pop(stream_id)
            if not self._read_on(stream, room):
                # Its next line does not fit yet: it keeps its turn, first in
                # the round, until the queue drains.
                self.behind = {stream_id: stream, **behind}
                return
            if self.cursors[stream_id] <= stream.last_seq:
                behind[stream_id] = stream  # to the back of the round

    def _read_on(self, stream: Stream, room: int) -> bool:
        """Queue the next chunk of ``stream`` from history (at most ``room`` bytes).

        ``False`` when nothing was queued because the next line does not fit
        in ``room`` while other frames are queued.
        """
        cursor = self.cursors[stream.id]
        head = len(wire.lines_frame(stream.id, ()))
        first, lines = stream.read_after(cursor - 1, max(room - head, 1))
        gapped = first > cursor
        if gapped:
            self._push_gap(stream.id, cursor, first - 1)
        self.cursors[stream.id] = cursor = first
        if not lines:
            return True  # at the newest line: live again
        # read_after may go one line past the budget: keep what fits in room,
        # at least one line when the queue is empty (a line bigger than the
        # whole queue is still delivered, alone).
        size = head
        count = 0
        for line in lines:
            grown = size + len(line) + (1 if count else 0)
            if grown > room and (count or self.queue):
                break
            size = grown
            count += 1
        if count == 0:
            return gapped
        chunk = lines[:count]
        last = cursor + count - 1
        line_filter = self.filters.get(stream.id)
        if line_filter is not None:
            self._scanned += size
            self.cursors[stream.id] = last + 1
            self._queue_filtered(stream, cursor, chunk, line_filter)
            return True
        self._append(Outgoing("lines", stream.id, cursor, last, wire.lines_frame(stream.id, chunk)))
        self.cursors[stream.id] = last + 1
        self.lines_from_history += count
        return True

    def _queue_filtered(
        self, stream: Stream, first: int, lines: Sequence[bytes], line_filter: LineFilter
    ) -> None:
        """Queue the lines of a history chunk that pass the stream's filter (cursor moved)."""
        stream_id = stream.id
        state = self.filter_state(stream, first)
        passed = line_filter.select(lines, state)
        if not passed:
            return
        frame = wire.lines_frame(stream_id, [lines[i] for i in passed])
        self._append(
            Outgoing("lines", stream_id, first + passed[0], first + passed[-1], frame, len(passed))
        )
        self.lines_from_history += len(passed)
