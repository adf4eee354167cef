"""Where the last ``--lines`` lines of a file start, found by reading backwards from its end.

A file there at start-up begins at its last ``backlog_lines`` lines. Reading
it from the start to count newlines would cost a 5 GB log its whole size;
reading backwards in :data:`BLOCK`-sized blocks costs a few reads.
"""

from __future__ import annotations

import os

__all__ = ["BLOCK", "backlog_start"]

# Backwards-scan block and the size of one pread.
BLOCK = 64 * 1024


def backlog_start(fd: int, size: int, lines: int, limit: int) -> tuple[int, int]:
    """Offset where the last ``lines`` lines of the file start, and bytes read to find it.

    Reads backwards from the end in :data:`BLOCK`-sized blocks, never more
    than ``limit`` bytes (a file of NULs or with very long lines), so a 5 GB
    file costs a few reads. A final newline ends the last line; it does not
    start an empty one.
    """
    if lines <= 0 or size <= 0:
        return size, 0
    end = size
    read = 0
    last = os.pread(fd, 1, size - 1)
    read += len(last)
    if last == b"\n":
        end -= 1  # the newline that ends the last line
    found = 0
    pos = end
    while pos > 0 and size - pos < limit:
        start = max(0, pos - BLOCK, size - limit)
        block = os.pread(fd, pos - start, start)
        read += len(block)
        if not block:
            break
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            found += 1
            if found == lines:
                return start + idx + 1, read
        pos = start
    return pos, read
