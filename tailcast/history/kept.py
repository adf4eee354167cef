"""One stream's kept lines: the disk log when it works, a bounded recent part in memory.

Every line goes into the memory ring (bounded in lines *and* bytes: the part
readers ask for most, served without a system call) and, in the same call,
into the stream's :class:`~tailcast.history.log.StreamLog` on disk, which holds
the whole ``--history``. Reads that start inside the ring are answered from
it; older ones from disk.

When the disk fails (full, I/O error) live delivery does not stop: the
history goes on in memory only (``mode == "memory"``, ``reason`` says why),
and every :data:`RETRY_SECONDS` an append tries the disk again. The lines the
ring still holds that the disk missed are written first; lines that left the
ring meanwhile are a hole in the log (the log starts a new segment after it),
so a later reader gets a ``gap`` for exactly them. A log that could not even
be opened (the disk was full when the stream began) is opened again the same
way, through ``reopen``.

No asyncio here: the hub calls this from its synchronous ``publish``.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tailcast.history.log import StreamLog

__all__ = ["MEMORY_BYTES", "MEMORY_LINES", "RETRY_SECONDS", "StreamHistory"]

MEMORY_LINES = 10_000  # the recent part kept in memory, at most this many lines
MEMORY_BYTES = 8 * 1024 * 1024  # ... and at most about this many bytes
RETRY_SECONDS = 2.0  # how often a failed disk is tried again


class StreamHistory:
    """A stream's history: ``ring`` (recent, in memory) over ``log`` (all of it, on disk)."""

    def __init__(
        self,
        log: StreamLog | None,
        *,
        max_lines: int,
        memory_lines: int = MEMORY_LINES,
        memory_bytes: int = MEMORY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        on_fault: Callable[[StreamHistory], None] | None = None,
        reopen: Callable[[], StreamLog] | None = None,
        reason: str | None = None,
    ) -> None:
        """``log`` None: memory only, for good (multi-host mirrors), or until
        ``reopen`` (a log that failed to open, why in ``reason``) gives one."""
        self.log = log
        self.max_lines = max_lines
        # Without a log for good the ring is the whole history, bounded by
        # --history and ``memory_bytes`` (the hub passes --history-bytes there).
        bounded = log is not None or reopen is not None
        ring_lines = min(memory_lines, max_lines) if bounded else max_lines
        self.ring: deque[bytes] = deque(maxlen=ring_lines)
        self.ring_bytes = 0
        self.memory_bytes = memory_bytes
        self.last_seq = log.last_seq if log is not None else 0
        self.mode = "disk" if log is not None else "memory"
        self.reason: str | None = reason
        self.lines_from_disk = 0
        self._clock = clock
        self._retry_at = clock() + RETRY_SECONDS if reopen is not None else 0.0
        self._on_fault = on_fault
        self._reopen = reopen
        if log is not None and log.lines:
            # Warm the ring with the newest kept lines, so that a restart serves
            # "the last N" from memory as before.
            _, recent = log.read_before(log.last_seq + 1, self.ring.maxlen or 1)
            self._remember(recent)

    # -- what is kept ----------------------------------------------------------

    @property
    def ring_first(self) -> int:
        """The seq of ``ring[0]`` (``last_seq + 1`` when the ring is empty)."""
        return self.last_seq - len(self.ring) + 1

    @property
    def first_seq(self) -> int:
        """The oldest seq still kept, on disk or in memory.

        Exactly ``--history`` lines at most: the disk drops whole segments, so
        it may still hold a few older lines, which are not served.
        """
        first = self.ring_first
        if self.log is not None and self.log.lines and self.log.first_seq < first:
            first = self.log.first_seq
        return max(first, self.last_seq - self.max_lines + 1)

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        """The last source position saved with the lines (None without one)."""
        return self.log.checkpoint if self.log is not None else None

    # -- writing ---------------------------------------------------------------

    def append(
        self, first_seq: int, lines: Sequence[bytes], checkpoint: Mapping[str, Any] | None = None
    ) -> None:
        """Keep ``lines`` numbered from ``first_seq`` (``> last_seq``: a jump is a hole)."""
        if first_seq != self.last_seq + 1:
            self.ring.clear()  # the ring must stay contiguous
            self.ring_bytes = 0
        self.last_seq = first_seq + len(lines) - 1
        self._remember(lines)
        if self.log is None and self._reopen is None:
            return
        if self.mode == "memory":
            self._retry(checkpoint)
            return
        assert self.log is not None
        try:
            self.log.append(first_seq, lines, checkpoint)
        except OSError as exc:
            self._fail(exc)

    def _remember(self, lines: Sequence[bytes]) -> None:
        ring = self.ring
        if ring.maxlen is not None and len(lines) >= ring.maxlen:
            ring.clear()
            self.ring_bytes = 0
            lines = lines[len(lines) - ring.maxlen :]
        if ring.maxlen is not None:
            # The lines the ring pushes out (its oldest), then all of them in one go.
            out = len(ring) + len(lines) - ring.maxlen
            if out > 0:
                self.ring_bytes -= sum(map(len, itertools.islice(ring, out)))
        ring.extend(lines)
        self.ring_bytes += sum(map(len, lines))
        while self.ring_bytes > self.memory_bytes and len(ring) > 1:
            self.ring_bytes -= len(ring.popleft())

    def _fail(self, exc: OSError) -> None:
        self.mode = "memory"
        self.reason = f"history on disk failed: {exc.strerror or exc}"
        self._retry_at = self._clock() + RETRY_SECONDS
        if self._on_fault is not None:
            self._on_fault(self)

    def _retry(self, checkpoint: Mapping[str, Any] | None) -> None:
        """Back to disk if it works again: first what the ring has that the disk lacks."""
        if self._clock() < self._retry_at:
            return
        if self.log is None:
            assert self._reopen is not None
            try:
                self.log = self._reopen()
            except OSError as exc:
                self._fail(exc)
                return
            self._reopen = None
        start = max(self.log.last_seq + 1, self.ring_first)
        missing = list(itertools.islice(self.ring, start - self.ring_first, None))
        try:
            self.log.append(start, missing, checkpoint)
        except OSError as exc:
            self._fail(exc)
            return
        self.mode = "disk"
        self.reason = None
        if self._on_fault is not None:
            self._on_fault(self)

    # -- reading ---------------------------------------------------------------

    def read_after(
        self, seq: int, max_bytes: int, max_lines: int | None = None
    ) -> tuple[int, list[bytes]]:
        """Kept lines after ``seq``, about ``max_bytes`` (at least one), in order.

        Returns the seq of the first line returned: more than ``seq + 1`` when
        the lines in between are no longer kept (the caller's ``gap``).
        """
        start = max(seq + 1, self.first_seq)
        ring_first = self.ring_first
        if start < ring_first and self.log is not None and start <= self.log.last_seq:
            first, lines = self.log.read_after(start - 1, max_bytes=max_bytes, max_lines=max_lines)
            if lines:
                self.lines_from_disk += len(lines)
                return first, lines
        start = max(start, ring_first)
        out: list[bytes] = []
        size = 0
        for line in self._ring_from(start - ring_first):
            out.append(line)
            size += len(line)
            if size >= max_bytes or (max_lines is not None and len(out) >= max_lines):
                break
        return start, out

    def _ring_from(self, skip: int) -> Iterable[bytes]:
        """The ring's lines from index ``skip`` on, walked from the nearer end.

        A deque walks only from its ends: ``islice`` from the left costs the
        ``skip`` lines it passes over, which for a reader near the newest line
        of a full ring (a multi-host publisher, a live client of a large
        memory-only history) is the whole ring on every read.
        """
        ring = self.ring
        after = len(ring) - skip
        if after <= 0:
            return ()
        if skip <= after:
            return itertools.islice(ring, skip, None)
        newest = list(itertools.islice(reversed(ring), after))
        newest.reverse()
        return newest

    def read_before(self, seq: int, limit: int) -> tuple[int, list[bytes]]:
        """The ``limit`` kept lines just before ``seq``, oldest first.

        Fewer at a hole (lines the disk missed while in memory mode, or the
        seam between a ring the disk lags and the disk): page again before the
        first seq returned.
        """
        end = min(seq, self.last_seq + 1)
        limit = max(min(limit, end - self.first_seq), 0)
        ring_first = self.ring_first
        if end - limit >= ring_first or self.log is None or not self.log.lines:
            lo = max(end - limit, ring_first)
            return lo, list(itertools.islice(self.ring, lo - ring_first, max(end - ring_first, 0)))
        disk_end = self.log.last_seq + 1
        if end > disk_end and end > ring_first:
            # The newest part is in the ring only (the disk missed it): page from there.
            lo = max(end - limit, ring_first)
            return lo, list(itertools.islice(self.ring, lo - ring_first, end - ring_first))
        # ``end`` may lie in a hole the disk has (lines that left the ring while in
        # memory mode): the page is the disk's lines before it.
        first, lines = self.log.read_before(min(end, disk_end), limit)
        self.lines_from_disk += len(lines)
        return first, lines

    def iter_all(self, chunk_bytes: int = 1024 * 1024) -> Any:
        """Every kept line, oldest first, in lists of about ``chunk_bytes`` (a download)."""
        seq = self.first_seq - 1
        last = self.last_seq
        while seq < last:
            first, lines = self.read_after(seq, chunk_bytes)
            if not lines:
                return
            yield lines
            seq = first + len(lines) - 1

    def statistics(self) -> dict[str, Any]:
        kept = self.last_seq - self.first_seq + 1
        return {
            "mode": self.mode,
            "lines": kept,
            "bytes": (self.log.nbytes if self.log is not None else 0)
            + (self.ring_bytes if self.mode == "memory" else 0),
            "memory_lines": len(self.ring),
            "memory_bytes": self.ring_bytes,
            "lines_from_disk": self.lines_from_disk,
        }
