"""backlog_start: the last --lines lines found by reading backwards, bounded."""

from __future__ import annotations

import os
from pathlib import Path

from tailcast.sources.file.backlog import backlog_start


def numbered(start: int, stop: int) -> bytes:
    return b"".join(b"n%d\n" % i for i in range(start, stop))


def test_backlog_start_reads_backwards_in_blocks(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"x" * 200_000 + b"\n" + numbered(0, 10))
    size = log.stat().st_size
    fd = os.open(log, os.O_RDONLY)
    try:
        start, scanned = backlog_start(fd, size, 3, 10**9)
        assert log.read_bytes()[start:] == b"n7\nn8\nn9\n"
        assert scanned < 70_000  # one block from the end, not the file
        # No final newline: the partial last line counts as a line.
        start, _ = backlog_start(fd, size - 1, 2, 10**9)
        assert log.read_bytes()[start : size - 1] == b"n8\nn9"
        # Fewer lines than asked for: the whole file.
        assert backlog_start(fd, size, 1000, 10**9)[0] == 0
        # The limit bounds the scan of a file without newlines.
        start, scanned = backlog_start(fd, 150_000, 5, 100_000)
        assert start == 50_000
        assert scanned <= 100_001
    finally:
        os.close(fd)
