"""Bring a stream's folder back to whole records when it is opened.

Only the tail of a history can be damaged by our own writes: a process kill
never tears a ``write()`` to a regular file, so damage comes from a short write
(disk full) we could not truncate back, or from a power loss (a torn record,
zeros). So the **last** segment is read whole and cut back (truncated) to its
last whole valid record; the others get a cheap check of their first and last
record, and are read whole only if that fails. Damage never raises: it is cut
off. Only a real I/O error (``OSError``) goes to the caller.

Every segment begins with the checkpoint that was current when it was started
(:class:`~tailcast.history.log.StreamLog` carries it over), so the newest
checkpoint is always in the last segment and no other needs scanning for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailcast.history.records import CHECKPOINT_MARK, ScanResult, record_seq, scan_records
from tailcast.history.segment import SEGMENT_RE, Segment, first_line_record

__all__ = ["Recovered", "recover"]

_TAIL_BYTES = 64 * 1024


@dataclass
class Recovered:
    """The whole segments of a folder, oldest first, and the newest checkpoint."""

    segments: list[Segment] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    checkpoint_seq: int = 0
    cut_bytes: int = 0  # damaged bytes cut off (for a log line / a test)


def _listed(folder: Path) -> list[Segment]:
    """The segment files of ``folder`` sorted by first seq; empty ones are removed."""
    found = []
    for path in folder.iterdir():
        match = SEGMENT_RE.match(path.name)
        if match is None:
            continue
        size = path.stat().st_size
        if size == 0:
            path.unlink()
            continue
        first = int(match.group(1))
        found.append(Segment(path=path, first=first, last=first - 1, size=size))
    found.sort(key=lambda s: s.first)
    return found


def _quick_check(segment: Segment) -> bool:
    """Fill in ``segment.last`` from its last record if its head and tail look whole."""
    fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        head = first_line_record(fd, 0, segment.size)
        if head is None or head[1] != segment.first:
            return False
        start = max(0, segment.size - _TAIL_BYTES)
        tail = os.pread(fd, segment.size - start, start)
    finally:
        os.close(fd)
    if not tail.endswith(b"\n") or b"\0" in tail:
        return False
    # The first piece may begin mid-record: it is only trusted when the tail is the whole file.
    records = tail.split(b"\n")[:-1] if start == 0 else tail.split(b"\n")[1:-1]
    for record in reversed(records):
        if record.startswith(CHECKPOINT_MARK):
            continue
        seq = record_seq(record)
        if seq is None or seq < segment.first or not record.endswith(b"}"):
            return False
        segment.last = seq
        return True
    return False


def _full_scan(segment: Segment) -> ScanResult:
    """Read ``segment`` whole, truncate it to its valid prefix, fill in ``last`` and ``size``."""
    with segment.path.open("r+b") as file:
        data = file.read()
        result = scan_records(data, segment.first)
        if result.good_bytes < len(data):
            file.truncate(result.good_bytes)
    segment.last = result.last_seq
    segment.size = result.good_bytes
    return result


def recover(folder: Path) -> Recovered:
    """Check, cut back and list the segments of ``folder`` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = Recovered()
    listed = _listed(folder)
    before = sum(s.size for s in listed)
    for segment in listed[:-1]:
        if not _quick_check(segment):
            _full_scan(segment)
        _keep(out.segments, segment, is_last=False)
    if listed:
        last = listed[-1]
        scan = _full_scan(last)
        _keep(out.segments, last, is_last=True)
        # A last segment that was all damage is gone: the one before is now the last, and
        # it is read whole too (for its checkpoint, and a tail the quick check trusted).
        while out.segments and out.segments[-1] is not last:
            last = out.segments[-1]
            scan = _full_scan(last)
            if last.size > 0:
                break
            out.segments.pop().path.unlink()
        if out.segments and scan.checkpoint is not None:
            out.checkpoint, out.checkpoint_seq = scan.checkpoint, scan.checkpoint_seq
    out.cut_bytes = before - sum(s.size for s in out.segments)
    return out


def _keep(kept: list[Segment], segment: Segment, *, is_last: bool) -> None:
    """Append ``segment`` to ``kept`` unless it is useless or cannot be ours; else remove it."""
    overlaps = bool(kept) and segment.first <= kept[-1].last
    # A segment without lines is worth keeping only as the last (its checkpoint, its numbering).
    useless = segment.size == 0 or (segment.lines == 0 and not is_last)
    if overlaps or useless:
        segment.path.unlink()
        return
    kept.append(segment)
