"""One stream's history on disk: an append-only folder of segment files.

Layout: ``FOLDER/<first seq, 20 digits>.log``, each a run of records (see
:mod:`tailcast.history.records`): the encoded lines, each + ``b"\\n"``, and the
source's checkpoints as ``#`` records written **in the same** ``write()`` as the
lines they follow, so after a ``SIGKILL`` the saved position and the kept lines
agree (a process kill never tears one write to a regular file; a disk full or
a power loss may, and :mod:`tailcast.history.recovery` cuts a torn tail).

Limits: a segment is closed at a call boundary once it holds 1/16 of
``max_lines`` or of ``max_bytes`` (at most ``segment_bytes``), and whole oldest
segments are removed while the history is over either limit. So the history
never holds more than the limits (unless one append alone is bigger), and
never less than the limit minus one segment (about 6 %): removing whole files
is cheap and keeps every segment's first seq in its name.

No fsync: a kill loses nothing already written; a power loss may lose the
last seconds, which recovery cuts back to whole records.

Threads: one thread appends (the hub's publish); reads (:meth:`read_after`,
:meth:`read_before`, :meth:`iter_chunks`) may run in other threads at the same
time. A read works on a snapshot of the segment list taken under a lock and
never reads past the sizes of that snapshot, so it never sees half a write.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tailcast.history.reader import read_after, read_before
from tailcast.history.records import checkpoint_record
from tailcast.history.recovery import recover
from tailcast.history.segment import Segment, read_records, segment_name

__all__ = ["DEFAULT_SEGMENT_BYTES", "DiskUsage", "StreamLog"]

DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024
_SEGMENTS_PER_LIMIT = 16
_MIN_SEGMENT_BYTES = 4096


class DiskUsage:
    """A running total of the bytes of several logs (a store's disk budget)."""

    __slots__ = ("total",)

    def __init__(self) -> None:
        self.total = 0


class StreamLog:
    """One stream's history; make it with :meth:`open`."""

    def __init__(
        self, folder: Path, *, max_lines: int, max_bytes: int, segment_bytes: int, usage: DiskUsage
    ) -> None:
        if max_lines < 1 or max_bytes < 1 or segment_bytes < 1:
            raise ValueError("history limits must be positive")
        self.folder = folder
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._segment_bytes = min(
            segment_bytes, max(max_bytes // _SEGMENTS_PER_LIMIT, _MIN_SEGMENT_BYTES)
        )
        self._segment_lines = max(max_lines // _SEGMENTS_PER_LIMIT, 1)
        self._usage = usage
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._firsts: list[int] = []  # the segments' first seqs, for bisect
        self._fd: int | None = None  # open for writing: the last segment
        self._last_seq = 0
        self._lines = 0
        self._bytes = 0
        self.checkpoint: dict[str, Any] | None = None
        self.checkpoint_seq = 0  # the seq the checkpoint follows
        self.cut_bytes = 0  # damage cut off at open

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        max_lines: int,
        max_bytes: int,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        usage: DiskUsage | None = None,
    ) -> StreamLog:
        """Create the history in ``folder``, or recover the one there (see the module doc)."""
        log = cls(
            folder,
            max_lines=max_lines,
            max_bytes=max_bytes,
            segment_bytes=segment_bytes,
            usage=usage or DiskUsage(),
        )
        found = recover(folder)
        log._segments = found.segments
        log._firsts = [s.first for s in found.segments]
        log._last_seq = found.segments[-1].last if found.segments else 0
        log._lines = sum(s.lines for s in found.segments)
        log._bytes = sum(s.size for s in found.segments)
        log._usage.total += log._bytes
        log.checkpoint, log.checkpoint_seq = found.checkpoint, found.checkpoint_seq
        log.cut_bytes = found.cut_bytes
        log._trim()
        return log

    # -- what is kept (each a snapshot: appends and trims move them) --------

    @property
    def first_seq(self) -> int:
        """The oldest seq kept; ``last_seq + 1`` when nothing is."""
        segments = self._segments
        return segments[0].first if segments else self._last_seq + 1

    @property
    def last_seq(self) -> int:
        """The newest seq appended (kept even when its lines are gone); 0 at the start."""
        return self._last_seq

    @property
    def lines(self) -> int:
        return self._lines

    @property
    def nbytes(self) -> int:
        """The bytes of the segment files (lines, newlines and checkpoints)."""
        return self._bytes

    def statistics(self) -> dict[str, int]:
        return {
            "lines": self._lines,
            "bytes": self._bytes,
            "segments": len(self._segments),
            "first_seq": self.first_seq,
            "last_seq": self._last_seq,
        }

    # -- writing -----------------------------------------------------------

    def append(
        self, first_seq: int, lines: Sequence[bytes], checkpoint: Mapping[str, Any] | None = None
    ) -> None:
        """Keep ``lines`` (encoded, without newlines) numbered from ``first_seq``, in one write.

        ``first_seq`` past ``last_seq + 1`` is a hole (lines that never reached
        the disk): a new segment starts at ``first_seq``. With ``lines`` empty
        only the checkpoint is written. Raises ``OSError`` (disk full, I/O
        error) with nothing of this call kept, ``ValueError`` for a seq already
        used.
        """
        if not lines and checkpoint is None:
            return
        if lines and first_seq <= self._last_seq:
            raise ValueError(f"seq {first_seq} is not after the last seq {self._last_seq}")
        current = self._segments[-1] if self._segments else None
        hole = bool(lines) and first_seq > self._last_seq + 1
        rotate = current is None or hole or self._is_full(current)
        after = first_seq + len(lines) - 1 if lines else self._last_seq
        parts: list[bytes] = []
        if rotate and self.checkpoint is not None:
            # Carried over so the newest checkpoint is always in the last segment.
            parts.append(checkpoint_record(self.checkpoint_seq, self.checkpoint))
        if checkpoint is not None:
            # First: it says how far this write's lines go, so recovery drops a
            # write cut short whole (tailcast.history.records.scan_records).
            parts.append(checkpoint_record(after, checkpoint))
        parts.extend(lines)
        parts.append(b"")  # the join's last newline
        data = b"\n".join(parts)
        if rotate:
            segment = self._start_segment(first_seq if lines else self._last_seq + 1, data)
        else:
            assert current is not None
            segment = current
            self._open_for_append()
            self._write(segment.size, data)
        with self._lock:
            segment.size += len(data)
            segment.last = after
            self._last_seq = after
            self._lines += len(lines)
            self._bytes += len(data)
            self._usage.total += len(data)
            if checkpoint is not None:
                self.checkpoint, self.checkpoint_seq = dict(checkpoint), after
        self._trim()

    def _is_full(self, segment: Segment) -> bool:
        return segment.size >= self._segment_bytes or segment.lines >= self._segment_lines

    def _write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` of the open segment, all of it or none (best effort)."""
        assert self._fd is not None
        # pwrite at the offset we know, not O_APPEND: if cutting back a short write
        # fails, the next write still lands right after the last whole record.
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.pwrite(self._fd, view[written:], offset + written)
        except OSError:
            if written:
                # If this fails too, the torn tail lies past every size we know: the next
                # write goes over it, and recovery cuts what is left.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, offset)
            raise

    def _start_segment(self, first: int, data: bytes) -> Segment:
        path = self.folder / segment_name(first)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        previous, self._fd = self._fd, fd
        try:
            self._write(0, data)
        except OSError:
            self._fd = previous
            os.close(fd)
            with contextlib.suppress(OSError):  # else an empty or torn file recovery deals with
                path.unlink()
            raise
        if previous is not None:
            os.close(previous)
        segment = Segment(path=path, first=first, last=first - 1, size=0)
        with self._lock:
            if self._segments and self._segments[-1].lines == 0:
                # A segment of only a checkpoint: the new one carries that checkpoint over.
                self._drop_first_or_last(-1)
            self._segments.append(segment)
            self._firsts.append(first)
        return segment

    def _open_for_append(self) -> None:
        if self._fd is None and self._segments:
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_CLOEXEC)

    def _drop_first_or_last(self, index: int) -> int:
        """Forget and delete one segment (called with the lock held); its bytes."""
        segment = self._segments.pop(index)
        del self._firsts[index]
        self._lines -= segment.lines
        self._bytes -= segment.size
        self._usage.total -= segment.size
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        return segment.size

    def _trim(self) -> None:
        with self._lock:
            while len(self._segments) > 1 and (
                self._lines > self.max_lines or self._bytes > self.max_bytes
            ):
                self._drop_first_or_last(0)

    def drop_oldest(self, n_bytes_at_least: int) -> int:
        """Remove whole oldest segments (never the last) to free that much; bytes freed."""
        freed = 0
        with self._lock:
            while freed < n_bytes_at_least and len(self._segments) > 1:
                freed += self._drop_first_or_last(0)
        return freed

    # -- reading (any thread) ----------------------------------------------

    def _snapshot(self, seq: int) -> list[Segment]:
        """Copies of the segments from the one holding ``seq`` (or the next) on."""
        with self._lock:
            index = max(bisect.bisect_right(self._firsts, seq) - 1, 0)
            return [Segment(s.path, s.first, s.last, s.size) for s in self._segments[index:]]

    def read_after(
        self, seq: int, *, max_bytes: int, max_lines: int | None = None
    ) -> tuple[int, list[bytes]]:
        """The kept lines after ``seq``, oldest first, about ``max_bytes`` of them.

        Returns ``(seq of the first line returned, lines)``. It starts at
        ``max(seq + 1, first_seq)`` and stops before a hole in the numbering, so
        the caller sees the jump. Nothing to read: ``(start, [])``.
        """
        return read_after(self._snapshot, lambda: self.first_seq, seq, max_bytes, max_lines)

    def read_before(self, seq: int, limit: int) -> tuple[int, list[bytes]]:
        """The ``limit`` kept lines just before ``seq``, oldest first: ``(first seq, lines)``.

        It stops at a hole (fewer lines; page again before the first seq
        returned). Nothing there: ``(seq, [])``.
        """
        return read_before(self._snapshot, seq, limit)

    def iter_chunks(self, chunk_bytes: int = 1024 * 1024) -> Iterator[list[bytes]]:
        """The whole kept history in lists of lines of about ``chunk_bytes``.

        The history as it was at the first ``next()``: every segment is opened
        then, so trimming during the download removes nothing from it, and later
        appends are not in it.
        """
        snapshot = self._snapshot(0)
        fds: list[int] = []
        try:
            for segment in snapshot:
                try:
                    fds.append(os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC))
                except FileNotFoundError:
                    fds.append(-1)  # trimmed between the snapshot and the open
            for segment, fd in zip(snapshot, fds, strict=True):
                pos = 0
                while fd >= 0 and pos < segment.size:
                    records, used, _ = read_records(fd, pos, segment.size, chunk_bytes, None)
                    pos += used
                    if records:
                        yield records
        finally:
            for fd in fds:
                if fd >= 0:
                    os.close(fd)

    # -- the end -----------------------------------------------------------

    def close(self) -> None:
        """Close the file being written; the history stays on disk."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Close and delete the whole folder."""
        self.close()
        with self._lock:
            self._usage.total -= self._bytes
            self._segments, self._firsts = [], []
            self._lines = self._bytes = 0
        shutil.rmtree(self.folder, ignore_errors=True)
