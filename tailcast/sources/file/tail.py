"""Following one path like ``tail -F``, as blocking code with no asyncio.

:class:`FileFollower` is the whole file-following state machine for one path.
Its :meth:`FileFollower.poll` does every system call (``stat``, ``open``,
``pread``) and returns what happened as a list of operations
(:mod:`tailcast.sources.file.ops`) for the async shell
(:mod:`tailcast.sources.file.source`) to apply to the hub on the event loop. The
shell runs ``poll`` in a worker thread, so the event loop never waits for a disk.

What it does, and why:

- **by name**: every poll ``stat``\\ s the path (symlinks followed), so a new
  inode behind the name, a symlink switched to another file, or a file that
  appears at last is noticed;
- **rotation by rename loses nothing**: the replaced file's descriptor moves to
  :attr:`FileFollower.olds` and is read on every poll until it has been quiet
  for ``quiet`` seconds. Each poll reads the old files, then the current one,
  then the old ones *again*, and returns the old data first: whatever a single
  writer put into the old file before it switched was written before anything
  in the new file, so it was on disk before the second read of the old file;
- **truncation**: a size below our offset, or the bytes just before our
  offset no longer being the ones we read (a file truncated and rewritten past
  our offset between two polls) means start again from 0, after reading what
  we had missed from a copytruncate copy (:mod:`tailcast.sources.file.copytruncate`);
- **start position**: a file there at start-up begins at its last
  ``backlog_lines`` lines (:mod:`tailcast.sources.file.backlog`); a file that
  appears later is read from its start. With a ``resume`` checkpoint (saved
  by a previous run), the first file opened is read on from it if it is the
  same, unchanged file (:mod:`tailcast.sources.file.position`), else from 0;
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
from collections.abc import Callable, Mapping
from typing import Any

from tailcast.sources.file.backlog import BLOCK, backlog_start
from tailcast.sources.file.copytruncate import HEAD, read_copy_rest
from tailcast.sources.file.ops import Data, Ended, FileEvent, Op, Opened, State
from tailcast.sources.file.position import bytes_before, resume_offset

__all__ = ["DEFAULT_BUDGET", "MAX_OLDS", "ROTATE_QUIET", "VERIFY", "FileFollower"]

# How long a replaced (renamed or deleted) file must stay unchanged before we
# stop reading it. Writers that reopen their log late (a SIGHUP handler, a
# cron-driven reopen) keep appending to the old file meanwhile; five seconds
# covers them at the cost of one open descriptor per rotation for that long.
ROTATE_QUIET = 5.0
# Old files read at once for one path (rapid rotations); beyond it the oldest
# is read one last time and closed.
MAX_OLDS = 8
# Bytes re-read before each read to notice a truncate-and-rewrite that left
# the file at least as long as our offset.
VERIFY = 32
# Bytes read per file per poll at most (a backlog is read in slices).
DEFAULT_BUDGET = 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK


class _OpenFile:
    """One open file of a follower: descriptor, identity, read position."""

    __slots__ = ("dev", "fd", "head", "id", "ino", "last_growth", "last_read", "offset")

    def __init__(self, fd: int, st: os.stat_result, file_id: int, offset: int, now: float) -> None:
        self.fd = fd
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.id = file_id
        self.offset = offset
        self.last_read = b""  # the last VERIFY bytes before offset, to detect a rewrite
        self.head = b""  # the first HEAD bytes, to recognise a copy
        self.last_growth = now


def _message(path: str, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}"


class FileFollower:
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
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.resume = resume  # for the first file opened only
        self.resumed: bool | None = None  # whether that file was read on from it
        # None: read a file from its beginning (it appeared after start-up).
        self.backlog_lines = backlog_lines
        self.backlog_limit = (max(backlog_lines or 0, 1) + 1) * max_line
        self.quiet = quiet
        self.budget = budget
        self.clock = clock
        self.state = "waiting"
        self.message: str | None = None
        self.current: _OpenFile | None = None
        self.olds: list[_OpenFile] = []
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
        return min(o.last_growth for o in self.olds) + self.quiet if self.olds else None

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
            "resumed": self.resumed,
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
        """What is behind the name now: the same file, nothing, or a new file to adopt."""
        st = self._stat_path(ops, now)
        if st is None:
            return
        current = self.current
        if current is not None and (st.st_dev, st.st_ino) == (current.dev, current.ino):
            self._set_state(ops, "live")
            return
        if stat.S_ISDIR(st.st_mode):
            self._lose_current(now)
            self._set_state(ops, "error", f"{self.path}: is a directory")
            return
        opened = self._open_path(ops, now)
        if opened is None:
            return
        fd, fst, offset = opened
        event = self._switch_event(now)
        ops.append(self._adopt(fd, fst, offset, now))
        self._set_state(ops, "live")
        if event is not None:
            ops.append(FileEvent(event))

    def _stat_path(self, ops: list[Op], now: float) -> os.stat_result | None:
        """``stat`` the path; None (with the state set) when there is nothing to look at."""
        try:
            return os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self._lose_current(now)
            self._set_state(ops, "waiting")
        except OSError as exc:
            # The path cannot be looked at (a directory without search
            # permission): keep reading what is open, retry on the next poll.
            self._set_state(ops, "error", _message(self.path, exc))
        return None

    def _open_path(self, ops: list[Op], now: float) -> tuple[int, os.stat_result, int] | None:
        """Open the file now behind the name: (fd, its stat, start offset), or None."""
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError as exc:
            if self.current is not None:
                self._lose_current(now)
            if exc.errno == errno.ENOENT:
                self._set_state(ops, "waiting")
            else:
                self._set_state(ops, "error", _message(self.path, exc))
            return None
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode):
                os.close(fd)
                self._set_state(ops, "error", f"{self.path}: not a regular file")
                return None
            return fd, fst, self._start_offset(fd, fst)
        except OSError as exc:
            os.close(fd)
            self._set_state(ops, "error", _message(self.path, exc))
            return None

    def _start_offset(self, fd: int, fst: os.stat_result) -> int:
        """0; the first file's saved offset; or where its last ``backlog_lines`` lines start."""
        if self.ever_opened:
            return 0
        if self.resume is not None:
            offset = resume_offset(fd, fst, self.resume)
            self.resumed = offset is not None
            return offset or 0  # not the checkpoint's file: a new one
        if self.backlog_lines is None:
            return 0
        offset, scanned = backlog_start(fd, fst.st_size, self.backlog_lines, self.backlog_limit)
        self.backlog_bytes_scanned += scanned
        return offset

    def _switch_event(self, now: float) -> str | None:
        """The ``tail -F`` event of a new file behind the name (the old one becomes old)."""
        if self.current is not None:
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
        return event

    def _adopt(self, fd: int, fst: os.stat_result, offset: int, now: float) -> Opened:
        """Make the opened file the current one; the operation that says so."""
        self._ids += 1
        self.current = opened = _OpenFile(fd, fst, self._ids, offset, now)
        before = b""
        with contextlib.suppress(OSError):
            # What we know of the part we skip: to notice a rewrite, find a
            # copy, fingerprint the position (the shell's checkpoints).
            opened.head = os.pread(fd, HEAD, 0)
            before = bytes_before(fd, offset)
            opened.last_read = before[-VERIFY:]
        cont = bool(self.resumed and self.resume and self.resume.get("open"))
        self.resume = None
        self.ever_opened = True
        self.lost_at = None
        return Opened(opened.id, opened.dev, opened.ino, offset, before, cont)

    # -- reading -------------------------------------------------------------------

    def _read_olds(self, ops: list[Op], now: float) -> bool:
        more = False
        for old in self.olds:
            more |= self._read(old, ops, now)
        return more

    def _retire(self, ops: list[Op], now: float) -> None:
        keep: list[_OpenFile] = []
        excess = len(self.olds) - MAX_OLDS
        for i, old in enumerate(self.olds):
            if i < excess or now - old.last_growth >= self.quiet:
                os.close(old.fd)
                ops.append(Ended(old.id))
            else:
                keep.append(old)
        self.olds = keep

    def _read(self, f: _OpenFile, ops: list[Op], now: float) -> bool:
        """Read ``f`` from its offset to EOF (at most the budget); True if more is left."""
        try:
            if self._rewritten(f):
                self._start_over(f, ops)
            got = self._read_slice(f, ops)
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

    def _rewritten(self, f: _OpenFile) -> bool:
        """Whether ``f`` was truncated (shorter than our offset, or not what we read)."""
        if os.fstat(f.fd).st_size < f.offset:
            return True
        if f.last_read and f.offset >= len(f.last_read):
            before = os.pread(f.fd, len(f.last_read), f.offset - len(f.last_read))
            return before != f.last_read
        return False

    def _start_over(self, f: _OpenFile, ops: list[Op]) -> None:
        """``f`` was truncated: recover the unread rest from a copy, then read from 0."""
        # First: the copy's bytes are not this file's, the position is 0 already.
        ops.append(Opened(f.id, f.dev, f.ino, 0))
        if f is self.current:
            got = read_copy_rest(
                self.path,
                f.head,
                f.last_read,
                f.offset,
                lambda chunk: ops.append(Data(f.id, chunk)),
            )
            self.bytes_read += got
            self.recovered += got
        f.offset, f.head, f.last_read = 0, b"", b""
        self.truncations += 1
        ops.append(Ended(f.id))  # a partial line before the cut is complete
        ops.append(FileEvent("truncated"))

    def _read_slice(self, f: _OpenFile, ops: list[Op]) -> int:
        """Read ``f`` from its offset up to the budget; the bytes read."""
        got = 0
        while got < self.budget:
            chunk = os.pread(f.fd, min(BLOCK * 4, self.budget - got), f.offset)
            if not chunk:
                break
            ops.append(Data(f.id, chunk, f.offset))
            f.offset += len(chunk)
            got += len(chunk)
            if len(chunk) >= VERIFY:
                f.last_read = chunk[-VERIFY:]
            else:
                f.last_read = (f.last_read + chunk)[-VERIFY:]
        return got
