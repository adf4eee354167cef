"""Helpers for the history tests: encoded lines and reading a log back whole."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tailcast.history.log import DEFAULT_SEGMENT_BYTES, StreamLog
from tailcast.protocol.wire import encode_line

BIG = 10**12  # a limit no test reaches


def open_log(
    folder: Path,
    *,
    max_lines: int = 10**9,
    max_bytes: int = BIG,
    segment_bytes: int = DEFAULT_SEGMENT_BYTES,
) -> StreamLog:
    """A log that keeps everything unless a test sets a limit."""
    return StreamLog.open(
        folder, max_lines=max_lines, max_bytes=max_bytes, segment_bytes=segment_bytes
    )


def text_of(seq: int) -> str:
    # Lengths vary so that offsets are not a multiple of anything.
    return f"line {seq} " + "x" * (seq * 7 % 61)


def lines(first: int, count: int) -> list[bytes]:
    return [encode_line(s, 1700000000.25, text_of(s)) for s in range(first, first + count)]


def seqs(records: Iterable[bytes]) -> list[int]:
    return [json.loads(r)["seq"] for r in records]


def all_seqs(log: StreamLog) -> list[int]:
    return [s for chunk in log.iter_chunks(4096) for s in seqs(chunk)]


def fill(log: StreamLog, first: int, count: int, batch: int = 100) -> int:
    """Append ``count`` lines from ``first`` in batches; the next seq."""
    seq = first
    while seq < first + count:
        n = min(batch, first + count - seq)
        log.append(seq, lines(seq, n))
        seq += n
    return seq
