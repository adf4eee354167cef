"""After logrotate's ``copytruncate``: recognise the copy and read what we had not read yet.

logrotate copies the file (to ``app.log.1``, ``app.log-20240101``...) and
then truncates it; what the writer appended after our last read and before
the copy is in the copy only. A sibling whose first bytes and whose bytes
just before our offset are the ones we read is that copy; what it holds
beyond our offset is read before the truncation is reported. Lines written
between the copy and the truncation are in no file any more: no reader can
recover those.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable

from tailcast.sources.file.backlog import BLOCK

__all__ = ["COPY_AGE", "COPY_MAX", "HEAD", "read_copy_rest"]

# The first bytes of a file, kept to recognise its copy after copytruncate.
HEAD = 64
# A copy is looked for among files changed this recently, and read this far.
COPY_AGE = 120.0
COPY_MAX = 64 * 1024 * 1024


def read_copy_rest(
    path: str, head: bytes, last_read: bytes, offset: int, emit: Callable[[bytes], None]
) -> int:
    """Find the copy of truncated ``path`` and ``emit`` what it holds beyond ``offset``.

    ``head`` is the file's first bytes, ``last_read`` the bytes just before
    ``offset`` as we read them: both must match for a sibling to be the copy.
    Returns the bytes read from the copy (0: none found, or nothing unread).
    """
    if not head or not last_read:
        return 0  # we know nothing of its content: no copy can be recognised
    for candidate in _candidates(path, offset):
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if _is_copy(fd, head, last_read, offset):
                return _read_rest(fd, offset, emit)
        except OSError:
            continue
        finally:
            os.close(fd)
    return 0


def _candidates(path: str, offset: int) -> list[str]:
    """Recent regular siblings named like ``path`` and at least ``offset`` long, newest first."""
    directory, base = os.path.split(path)
    now = time.time()
    try:
        names = [n for n in os.listdir(directory or ".") if n.startswith(base) and n != base]
    except OSError:
        return []
    found: list[tuple[float, str]] = []
    for name in names:
        sibling = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            st = os.stat(sibling)
            if stat.S_ISREG(st.st_mode) and st.st_size >= offset and now - st.st_mtime < COPY_AGE:
                found.append((st.st_mtime, sibling))
    return [sibling for _, sibling in sorted(found, reverse=True)]


def _is_copy(fd: int, head: bytes, last_read: bytes, offset: int) -> bool:
    if os.pread(fd, len(head), 0) != head:
        return False
    return os.pread(fd, len(last_read), offset - len(last_read)) == last_read


def _read_rest(fd: int, offset: int, emit: Callable[[bytes], None]) -> int:
    """Emit the copy's bytes from ``offset`` on (at most :data:`COPY_MAX`); their count."""
    pos, end = offset, min(os.fstat(fd).st_size, offset + COPY_MAX)
    while pos < end:
        chunk = os.pread(fd, min(BLOCK * 4, end - pos), pos)
        if not chunk:
            break
        emit(chunk)
        pos += len(chunk)
    return pos - offset
