"""One segment file: where a seq is inside it, and reading its records.

A segment holds the contiguous seqs ``first..last`` (a hole in the numbering
always starts a new segment), so a seq's place is found by bisecting on byte
offsets: seek, skip to the next newline, read the number after ``{"seq":``.
No index is kept in memory or on disk; about a dozen small ``pread`` calls find
any seq in an 8 MiB segment, which measured faster to build (nothing) and
cheap enough to use (tens of microseconds) for the reader's needs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tailcast.history.records import CHECKPOINT_MARK, SEQ_HEAD_BYTES, record_seq

__all__ = [
    "SEGMENT_RE",
    "Segment",
    "find_offset",
    "first_line_record",
    "read_records",
    "segment_name",
]

SEGMENT_RE = re.compile(r"(\d{20})\.log\Z")
_PROBE_BYTES = 4096
# Below this many bytes between the bounds, scanning beats another probe.
_WINDOW_BYTES = 64 * 1024


def segment_name(first_seq: int) -> str:
    """The file name of the segment starting at ``first_seq``: zero-padded so names sort."""
    return f"{first_seq:020d}.log"


@dataclass
class Segment:
    """One segment file and what is known of it without reading it."""

    path: Path
    first: int
    last: int  # first - 1 while it holds no line (only a checkpoint)
    size: int

    @property
    def lines(self) -> int:
        return self.last - self.first + 1


def _find_newline(fd: int, pos: int, size: int) -> int:
    """Offset of the first ``b"\\n"`` at or after ``pos`` (before ``size``), or -1."""
    while pos < size:
        chunk = os.pread(fd, min(_PROBE_BYTES, size - pos), pos)
        if not chunk:
            break
        at = chunk.find(b"\n")
        if at >= 0:
            return pos + at
        pos += len(chunk)
    return -1


def first_line_record(fd: int, pos: int, size: int) -> tuple[int, int] | None:
    """``(offset, seq)`` of the first line record starting at boundary ``pos`` or later."""
    while pos < size:
        head = os.pread(fd, min(SEQ_HEAD_BYTES, size - pos), pos)
        if not head.startswith(CHECKPOINT_MARK):
            seq = record_seq(head)
            return None if seq is None else (pos, seq)
        newline = _find_newline(fd, pos, size)
        if newline < 0:
            return None
        pos = newline + 1
    return None


def _probe(fd: int, offset: int, size: int) -> tuple[int, int] | None:
    """The first line record starting at ``offset`` or after it."""
    newline = _find_newline(fd, offset - 1, size)
    return None if newline < 0 else first_line_record(fd, newline + 1, size)


def _find_record(fd: int, pos: int, stop: int, target: int) -> int:
    """Offset of the line record of seq ``target`` starting in ``[pos, stop)``, or -1.

    A C-speed ``find`` of ``\n{"seq":TARGET,``: inside a JSON string a quote is
    always escaped, so that text can only be the start of a record.
    """
    needle = b'\n{"seq":%d,' % target
    if pos == 0:
        if os.pread(fd, len(needle) - 1, 0) == needle[1:]:
            return 0
        pos = 1
    pos -= 1  # so that the newline before a record at ``pos`` is seen
    while pos < stop - 1:
        want = min(2 * _WINDOW_BYTES, stop - pos + len(needle))
        chunk = os.pread(fd, want, pos)
        at = chunk.find(needle)
        if at >= 0:
            return pos + at + 1 if pos + at + 1 < stop else -1
        if len(chunk) < want or len(chunk) <= len(needle):
            break  # the end of the file or of the range
        pos += len(chunk) - len(needle)  # a needle across two chunks is found in the next
    return -1


def find_offset(fd: int, segment: Segment, target: int) -> int:
    """Byte offset in ``segment`` of the record of seq ``target`` (``size`` past its end)."""
    if target <= segment.first:
        return 0
    if target > segment.last:
        return segment.size
    size = segment.size
    # Lines of a stream are often alike in length: one window around the
    # proportional guess usually holds the record, and saves the bisection.
    guess = size * (target - segment.first) // segment.lines
    around = max(0, guess - _WINDOW_BYTES // 2)
    found = _find_record(fd, around, min(size, around + _WINDOW_BYTES), target)
    if found >= 0:
        return found
    low, high = 0, size  # low is always a record boundary before the answer
    while high - low > _WINDOW_BYTES:
        middle = (low + high) // 2
        probe = _probe(fd, middle, size)
        if probe is None or probe[1] >= target:
            high = middle
        else:
            low = probe[0]
    found = _find_record(fd, low, size, target)
    return size if found < 0 else found


def _without_checkpoints(data: bytes) -> bytes:
    """``data`` (whole records) without its checkpoint records.

    Found by hopping with ``find(b"#")`` (a memchr: ``b"\\n#" in data`` measured
    twenty times slower) and cut out with slices, so that a read costs one split
    and no Python loop over the lines.
    """
    if CHECKPOINT_MARK not in data:
        return data
    pieces: list[bytes] = []
    start = pos = 0
    while (at := data.find(CHECKPOINT_MARK, pos)) >= 0:
        if at == 0 or data[at - 1] == 0x0A:  # a record that starts with "#"
            pieces.append(data[start:at])
            start = pos = data.index(b"\n", at) + 1
        else:
            pos = at + 1  # a "#" inside a line's text
    if not pieces:
        return data
    pieces.append(data[start:])
    return b"".join(pieces)


def read_records(
    fd: int, start: int, stop: int, max_bytes: int, max_lines: int | None
) -> tuple[list[bytes], int, bool]:
    """The line records in ``[start, stop)`` of a file, whole ones only, about ``max_bytes``.

    ``start`` is a record boundary and ``stop`` the end of a whole record. At
    least one record is returned when there is one, however long. Returned too:
    the bytes consumed, and whether everything up to ``stop`` was read (so a
    reader may go on to the next segment).
    """
    data = os.pread(fd, min(stop - start, max_bytes), start)
    if start + len(data) < stop and b"\n" not in data:
        # The first record alone is over the budget: read on to its end, and no further.
        while start + len(data) < stop and b"\n" not in data:
            more = os.pread(
                fd, min(stop - start - len(data), max(len(data), 4096)), start + len(data)
            )
            if not more:
                break
            data += more
        data = data[: data.find(b"\n") + 1]
    complete = start + len(data) >= stop
    if not complete:
        data = data[: data.rfind(b"\n") + 1]
    records = _without_checkpoints(data).split(b"\n")
    records.pop()  # what follows the last newline: b""
    if max_lines is not None and len(records) > max_lines:
        # Rare (a caller's line cap): the bytes consumed are counted record by record.
        del records[max_lines:]
        return records, sum(len(r) + 1 for r in records), False
    return records, len(data), complete
