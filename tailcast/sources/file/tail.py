"""Following one path like ``tail -F``, as blocking code with no asyncio.

:class:`Tail` is the whole file-following state machine for one path. Its
:meth:`Tail.poll` does every system call (``stat``, ``open``, ``pread``) and
returns what happened as a list of small operations (:class:`Data`,
:class:`Event`, :class:`State`, :class:`Ended`) for the async shell
(:mod:`tailcast.sources.file.source`) to apply to the hub on the event loop. The shell
runs ``poll`` in a worker thread, so the event loop never waits for a disk.

What it does, and why:

- **by name**: every poll ``stat``\\ s the path (symlinks followed), so a new
  inode behind the name, a symlink switched to another file, or a file that
  appears at last is noticed;
- **rotation by rename loses nothing**: the replaced file's descriptor moves to
  :attr:`Tail.olds` and is read on every poll until it has been quiet for
  ``quiet`` seconds. Each poll reads the old files, then the current one, then
  the old ones *again*, and returns the old data first: whatever a single
  writer put into the old file before it switched was written before anything
  in the new file, so it was on disk before the second read of the old file;
- **truncation**: a size below our offset, or the bytes just before our
  offset no longer being the ones we read (a file truncated and rewritten past
  our offset between two polls) means start again from 0;
- **start position**: a file there at start-up begins at its last
  ``backlog_lines`` lines, found by reading backwards in blocks
  (:func:`backlog_start`); a file that appears later is read from its start;
- every read is bounded by ``budget`` bytes per poll, so a large backlog is
  handed out in slices (``poll`` says when more is waiting).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BLOCK",
    "MAX_OLDS",
    "ROTATE_QUIET",
    "Data",
    "Ended",
    "Event",
    "Op",
    "State",
    "Tail",
    "backlog_start",
]

# How long a replaced (renamed or deleted) file must stay unchanged before we
# stop reading it. Writers that reopen their log late (a SIGHUP handler, a
# cron-driven reopen) keep appending to the old file meanwhile; five seconds
# covers them at the cost of one open descriptor per rotation for that long.
ROTATE_QUIET = 5.0
# Old files read at once for one path (rapid rotations); beyond it the oldest
# is read one last time and closed.
MAX_OLDS = 8
# Backwards-scan block and the size of one pread.
BLOCK = 64 * 1024
# Bytes re-read before each read to notice a truncate-and-rewrite that left
# the file at least as long as our offset.
VERIFY = 32
# Bytes read per file per poll at most (a backlog is read in slices).
DEFAULT_BUDGET = 1024 * 1024
# The first bytes of a file, kept to recognise its copy after copytruncate.
HEAD = 64
# A copy is looked for among files changed this recently, and read this far.
COPY_AGE = 120.0
COPY_MAX = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes read from one opened file (``file`` numbers the files a Tail opened)."""

    file: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Event:
    """A ``tail -F`` event: ``truncated``, ``rotated`` or ``reattached``."""

    name: str


@dataclass(frozen=True, slots=True)
class State:
    """The path's state changed: ``waiting``, ``live`` or ``error`` (with message)."""

    state: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    """Opened file ``file`` will give no more data (a partial line is now complete)."""

    file: int


Op = Data | Event | State | Ended


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


class _Open:
    """One open file of a Tail: descriptor, identity, read position."""

    __slots__ = ("dev", "fd", "head", "id", "ino", "last_growth", "offset", "tail")

    def __init__(self, fd: int, st: os.stat_result, file_id: int, offset: int, now: float) -> None:
        self.fd = fd
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.id = file_id
        self.offset = offset
        self.tail = b""  # the last VERIFY bytes read, to detect a rewrite
        self.head = b""  # the first HEAD bytes, to recognise a copy
        self.last_growth = now


def _message(path: str, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}"


class Tail:
    """Follow one path by name; see the module docstring. Thread-safe per instance."""

    def __init__(
        self,
        path: str,
        *,
        backlog_lines: int | None,
        max_line: int,
        quiet: float = ROTATE_QUIET,
        budget: int = DEFAULT_BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        # None: read a file from its beginning (it appeared after start-up).
        self.backlog_lines = backlog_lines
        self.backlog_limit = (max(backlog_lines or 0, 1) + 1) * max_line
        self.quiet = quiet
        self.budget = budget
        self.clock = clock
        self.state = "waiting"
        self.message: str | None = None
        self.current: _Open | None = None
        self.olds: list[_Open] = []
        self.ever_opened = False
        self.lost_at: float | None = None  # when the followed file left the path
        self.closed = False
        self._ids = 0
        self._lock = threading.Lock()
        self.bytes_read = 0
        self.backlog_bytes_scanned = 0
        self.rotations = 0
        self.truncations = 0
        self.recovered = 0  # bytes read from a copytruncate copy

    # -- public --------------------------------------------------------------------

    def poll(self) -> tuple[list[Op], bool]:
        """Look at the path and read what is new: the operations, and whether more is waiting."""
        with self._lock:
            if self.closed:
                return [], False
            now = self.clock()
            path_ops: list[Op] = []
            self._check_path(path_ops, now)
            # Only a file there at the first look starts at its last lines.
            self.backlog_lines = None
            ops: list[Op] = []
            more = False
            if self.olds:
                more |= self._read_olds(ops, now)
                current_ops: list[Op] = []
                if self.current is not None:
                    more |= self._read(self.current, current_ops, now)
                # Second pass: see the module docstring (ordering across a rotation).
                more |= self._read_olds(ops, now)
                self._retire(ops, now)
                ops += path_ops
                ops += current_ops
            else:
                ops += path_ops
                if self.current is not None:
                    more |= self._read(self.current, ops, now)
            return ops, more

    def next_deadline(self) -> float | None:
        """When an old file may be retired (the shell polls again by then)."""
        if not self.olds:
            return None
        return min(o.last_growth for o in self.olds) + self.quiet

    def lost(self) -> bool:
        """The path has been gone for ``quiet`` seconds and every old file is read out."""
        return (
            self.current is None
            and not self.olds
            and (self.lost_at is None or self.clock() - self.lost_at >= self.quiet)
            and self.state != "live"
        )

    def dirs(self) -> set[str]:
        """Directories whose changes may concern this path (its own, its target's)."""
        dirs = {os.path.dirname(self.path) or "."}
        with contextlib.suppress(OSError):
            dirs.add(os.path.dirname(os.path.realpath(self.path)))
        return dirs

    def close(self) -> None:
        with self._lock:
            self.closed = True
            for f in [*self.olds, *([self.current] if self.current else [])]:
                os.close(f.fd)
            self.olds.clear()
            self.current = None

    def statistics(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "state": self.state,
            "offset": self.current.offset if self.current else None,
            "old_files": len(self.olds),
            "bytes_read": self.bytes_read,
            "backlog_bytes_scanned": self.backlog_bytes_scanned,
            "rotations": self.rotations,
            "truncations": self.truncations,
            "recovered_bytes": self.recovered,
        }

    # -- the path ------------------------------------------------------------------

    def _set_state(self, ops: list[Op], state: str, message: str | None = None) -> None:
        if (state, message) != (self.state, self.message):
            self.state, self.message = state, message
            ops.append(State(state, message))

    def _lose_current(self, now: float) -> None:
        """The followed file left the path: keep reading it until it is quiet."""
        if self.current is None:
            return
        self.current.last_growth = now
        self.olds.append(self.current)
        self.current = None
        self.lost_at = now

    def _check_path(self, ops: list[Op], now: float) -> None:
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self._lose_current(now)
            self._set_state(ops, "waiting")
            return
        except OSError as exc:
            # The path cannot be looked at (a directory without search
            # permission): keep reading what is open, retry on the next poll.
            self._set_state(ops, "error", _message(self.path, exc))
            return
        current = self.current
        if current is not None and (st.st_dev, st.st_ino) == (current.dev, current.ino):
            self._set_state(ops, "live")
            return
        if stat.S_ISDIR(st.st_mode):
            self._lose_current(now)
            self._set_state(ops, "error", f"{self.path}: is a directory")
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            if current is not None:
                self._lose_current(now)
            if exc.errno == errno.ENOENT:
                self._set_state(ops, "waiting")
            else:
                self._set_state(ops, "error", _message(self.path, exc))
            return
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode):
                os.close(fd)
                self._set_state(ops, "error", f"{self.path}: not a regular file")
                return
            offset = 0
            if self.backlog_lines is not None and not self.ever_opened:
                offset, scanned = backlog_start(
                    fd, fst.st_size, self.backlog_lines, self.backlog_limit
                )
                self.backlog_bytes_scanned += scanned
        except OSError as exc:
            os.close(fd)
            self._set_state(ops, "error", _message(self.path, exc))
            return
        if current is not None:
            self._lose_current(now)
            event: str | None = "rotated"
        elif self.ever_opened:
            # Back within the quiet window: the writer renamed and reopened
            # late (a rotation). Later: the file was deleted and is back.
            recent = self.lost_at is not None and now - self.lost_at < self.quiet
            event = "rotated" if recent or self.olds else "reattached"
        else:
            event = None
        if event == "rotated":
            self.rotations += 1
        self._ids += 1
        self.current = _Open(fd, fst, self._ids, offset, now)
        with contextlib.suppress(OSError):
            # What we know of the part we skip: to notice a rewrite, find a copy.
            self.current.head = os.pread(fd, HEAD, 0)
            if offset:
                self.current.tail = os.pread(fd, min(VERIFY, offset), offset - min(VERIFY, offset))
        self.ever_opened = True
        self.lost_at = None
        self._set_state(ops, "live")
        if event is not None:
            ops.append(Event(event))

    # -- reading -------------------------------------------------------------------

    def _read_olds(self, ops: list[Op], now: float) -> bool:
        more = False
        for old in self.olds:
            more |= self._read(old, ops, now)
        return more

    def _retire(self, ops: list[Op], now: float) -> None:
        keep: list[_Open] = []
        excess = len(self.olds) - MAX_OLDS
        for i, old in enumerate(self.olds):
            if i < excess or now - old.last_growth >= self.quiet:
                os.close(old.fd)
                ops.append(Ended(old.id))
            else:
                keep.append(old)
        self.olds = keep

    def _read(self, f: _Open, ops: list[Op], now: float) -> bool:
        """Read ``f`` from its offset to EOF (at most the budget); True if more is left."""
        try:
            size = os.fstat(f.fd).st_size
            rewritten = False
            if size < f.offset:
                rewritten = True
            elif f.tail and f.offset >= len(f.tail):
                rewritten = os.pread(f.fd, len(f.tail), f.offset - len(f.tail)) != f.tail
            if rewritten:
                if f is self.current:
                    self._recover(f, ops)
                f.offset = 0
                f.head = b""
                f.tail = b""
                self.truncations += 1
                ops.append(Ended(f.id))  # a partial line before the cut is complete
                ops.append(Event("truncated"))
            got = 0
            while got < self.budget:
                chunk = os.pread(f.fd, min(BLOCK * 4, self.budget - got), f.offset)
                if not chunk:
                    break
                f.offset += len(chunk)
                got += len(chunk)
                ops.append(Data(f.id, chunk))
                if len(chunk) >= VERIFY:
                    f.tail = chunk[-VERIFY:]
                else:
                    f.tail = (f.tail + chunk)[-VERIFY:]
            if len(f.head) < HEAD and f.offset > len(f.head):
                f.head = os.pread(f.fd, HEAD, 0)
        except OSError as exc:
            # EIO on a network mount, say: visible, and retried on the next poll.
            self.state, self.message = "error", _message(self.path, exc)
            ops.append(State("error", self.message))
            return False
        if got:
            self.bytes_read += got
            f.last_growth = now
        return got >= self.budget

    def _recover(self, f: _Open, ops: list[Op]) -> None:
        """After copytruncate: read what we had not read yet from the copy, if it is there.

        logrotate copies the file (to ``app.log.1``, ``app.log-20240101``...)
        and then truncates it; what the writer appended after our last read
        and before the copy is in the copy only. A sibling whose first bytes
        and whose bytes just before our offset are the ones we read is that
        copy; what it holds beyond our offset is read before the truncation
        is reported. Lines written between the copy and the truncation are in
        no file any more: no reader can recover those.
        """
        if not f.head or not f.tail:
            return  # we know nothing of its content: no copy can be recognised
        directory, base = os.path.split(self.path)
        now = time.time()
        try:
            names = [n for n in os.listdir(directory or ".") if n.startswith(base) and n != base]
        except OSError:
            return
        candidates: list[tuple[float, str]] = []
        for name in names:
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if (
                    stat.S_ISREG(st.st_mode)
                    and st.st_size >= f.offset
                    and (now - st.st_mtime < COPY_AGE)
                ):
                    candidates.append((st.st_mtime, path))
        for _, path in sorted(candidates, reverse=True):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if os.pread(fd, len(f.head), 0) != f.head or (
                    f.tail and os.pread(fd, len(f.tail), f.offset - len(f.tail)) != f.tail
                ):
                    continue
                pos, end = f.offset, min(os.fstat(fd).st_size, f.offset + COPY_MAX)
                while pos < end:
                    chunk = os.pread(fd, min(BLOCK * 4, end - pos), pos)
                    if not chunk:
                        break
                    ops.append(Data(f.id, chunk))
                    pos += len(chunk)
                self.bytes_read += pos - f.offset
                self.recovered += pos - f.offset
                return
            except OSError:
                continue
            finally:
                os.close(fd)
