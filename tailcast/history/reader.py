"""Reading a run of lines from a snapshot of a stream's segments, forwards or backwards.

The functions take a ``snapshot(seq)`` callable (copies of the segments from
the one holding ``seq`` on, see :meth:`~tailcast.history.log.StreamLog._snapshot`)
and never read past the sizes in it. A segment trimmed between the snapshot and
the ``open`` (another thread appending) makes the read start again on a fresh
snapshot, from the new oldest line.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from tailcast.history.segment import Segment, find_offset, read_records

__all__ = ["read_after", "read_before"]

Snapshot = Callable[[int], list[Segment]]
_ATTEMPTS = 5


def read_after(
    snapshot: Snapshot,
    first_seq: Callable[[], int],
    seq: int,
    max_bytes: int,
    max_lines: int | None,
) -> tuple[int, list[bytes]]:
    """See :meth:`tailcast.history.log.StreamLog.read_after`."""
    start = seq + 1
    for _ in range(_ATTEMPTS):
        start = max(seq + 1, first_seq())
        try:
            return _read_forward(snapshot(start), start, max_bytes, max_lines)
        except FileNotFoundError:
            continue  # trimmed under us: what was asked for is older than the history now
    return start, []


def _read_forward(
    segments: list[Segment], start: int, max_bytes: int, max_lines: int | None
) -> tuple[int, list[bytes]]:
    out: list[bytes] = []
    first_returned: int | None = None
    expected = start
    for segment in segments:
        if segment.last < expected:
            continue  # the one before ``start`` (bisect lands on it), or one of no lines
        if first_returned is not None and segment.first != expected:
            break  # a hole: the caller sees the jump on its next read
        begin = max(expected, segment.first)
        fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            offset = find_offset(fd, segment, begin)
            lines_left = None if max_lines is None else max_lines - len(out)
            records, used, complete = read_records(fd, offset, segment.size, max_bytes, lines_left)
        finally:
            os.close(fd)
        if first_returned is None:
            first_returned = begin
        out.extend(records)
        max_bytes -= used
        expected = segment.last + 1
        if not complete or max_bytes <= 0:
            break
    return (start if first_returned is None else first_returned), out


def read_before(snapshot: Snapshot, seq: int, limit: int) -> tuple[int, list[bytes]]:
    """See :meth:`tailcast.history.log.StreamLog.read_before`."""
    for _ in range(_ATTEMPTS):
        try:
            return _read_backward(snapshot(0), seq, limit)
        except FileNotFoundError:
            continue
    return seq, []


def _read_backward(segments: list[Segment], seq: int, limit: int) -> tuple[int, list[bytes]]:
    pieces: list[list[bytes]] = []  # newest first
    end = seq - 1  # the newest seq wanted
    begin = seq
    for segment in reversed(segments):
        if limit <= 0:
            break
        if segment.first > end or segment.lines == 0:
            continue
        if pieces and segment.last != begin - 1:
            break  # a hole
        stop_seq = min(end, segment.last)
        begin = max(segment.first, stop_seq - limit + 1)
        fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            start = find_offset(fd, segment, begin)
            stop = find_offset(fd, segment, stop_seq + 1)
            records, _, _ = read_records(fd, start, stop, stop - start, None)
        finally:
            os.close(fd)
        pieces.append(records)
        limit -= len(records)
        end = begin - 1
    if not pieces:
        return seq, []
    if len(pieces) == 1:
        return begin, pieces[0]
    return begin, [line for piece in reversed(pieces) for line in piece]
