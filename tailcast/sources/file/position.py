"""A followed file's checkpoint: where its published bytes end, and how to know it again.

Every publish of a file stream carries a checkpoint (kept by the history in
the same write as the lines)::

    {"dev": 2049, "ino": 1234, "offset": 5678, "tail": "<sha256 hex>", "open": false}

``offset`` is the end of exactly the bytes published so far (bytes read but
held back by the line splitter, a partial line waiting for its flush delay,
are *not* covered: a restart reads them again); ``tail`` fingerprints the
:data:`FINGERPRINT` bytes before ``offset`` (fewer at the start of the file);
``open`` says the last piece left its line open, so the next piece after a
restart is a ``cont`` piece.

At start, :func:`resume_offset` accepts the checkpoint for the file now behind
the path only if it is the same file: same device and inode, at least
``offset`` long, and the same bytes before ``offset``. A file replaced,
truncated or rewritten while the server was down is a new file.

:class:`FilePosition` is the shell's side: it follows the bytes one opened
file hands to the pump, keeping just enough of them (the fingerprint window
plus what the splitter holds back) to fingerprint any later publish.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["FINGERPRINT", "FilePosition", "bytes_before", "fingerprint", "resume_offset"]

# Bytes before the offset a checkpoint fingerprints: enough that a new file
# that reused the inode does not pass for the old one, cheap to hash per publish.
FINGERPRINT = 256


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bytes_before(fd: int, offset: int) -> bytes:
    """The file's bytes a checkpoint at ``offset`` fingerprints (fewer if it is shorter)."""
    size = min(FINGERPRINT, offset)
    return os.pread(fd, size, offset - size) if size > 0 else b""


class FilePosition:
    """Where the bytes one opened file handed to the pump end, with the bytes just before."""

    __slots__ = ("dev", "end", "ino", "window")

    def __init__(self, dev: int, ino: int, at: int, before: bytes) -> None:
        self.dev = dev
        self.ino = ino
        self.end = at  # file offset after the last byte fed
        # A suffix of the file's bytes before ``end``: at least the
        # fingerprint window plus what the splitter holds back.
        self.window = before

    def fed(self, at: int, data: bytes) -> None:
        """``data`` (read at ``at``) goes to the pump now."""
        if at != self.end:
            # Not the next bytes (never expected: a follower reads each run in
            # order): what came before is unknown, the fingerprint starts over.
            self.window = b""
        self.window += data
        self.end = at + len(data)

    def trim(self, pending: int) -> None:
        """Forget what no later checkpoint can need (the splitter holds ``pending``)."""
        keep = FINGERPRINT + pending
        if len(self.window) > keep:
            self.window = self.window[-keep:]

    def checkpoint(self, pending: int, cont: bool) -> dict[str, Any]:
        """The checkpoint after the bytes fed, but for the last ``pending`` of them."""
        # Held-back bytes may include some that are not this file's (a copy's
        # rest after a truncation): never before the start of this run.
        held = min(pending, self.end)
        offset = self.end - held
        before = self.window[: len(self.window) - held][-min(FINGERPRINT, offset) :]
        if offset == 0:
            before = b""
        return {
            "dev": self.dev,
            "ino": self.ino,
            "offset": offset,
            "tail": fingerprint(before),
            "open": cont,
        }


def resume_offset(fd: int, st: os.stat_result, checkpoint: Mapping[str, Any]) -> int | None:
    """The saved offset if the open file ``fd`` is the checkpoint's file, unchanged; else None."""
    try:
        dev, ino, offset = int(checkpoint["dev"]), int(checkpoint["ino"]), int(checkpoint["offset"])
        tail = str(checkpoint["tail"])
    except (KeyError, TypeError, ValueError):
        return None  # not a file checkpoint (another version, another kind)
    if (st.st_dev, st.st_ino) != (dev, ino) or not 0 <= offset <= st.st_size:
        return None
    before = bytes_before(fd, offset)
    if len(before) != min(FINGERPRINT, offset) or fingerprint(before) != tail:
        return None
    return offset
