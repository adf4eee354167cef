"""The Linux watcher backend: one inotify descriptor read by the event loop itself.

Same job and same clients as
:class:`~tailcast.sources.file.watch.portable.PortableBackend` (the watchfiles
backend, used where this one is not available): both implement
:class:`~tailcast.sources.file.watch.base.WatchBackend`. This one avoids the
portable backend's costs on the latency path. watchfiles runs a Rust thread that sleeps ``step``
ms between looks, yields only after two looks, takes the GIL each time and
hands its batch over through another thread: 1-2 ms per line at best, and on
a busy 2-core machine every one of those wake-ups waits for the scheduler
(measured with ``bench/bench.py --tailcast-source file --only steady``: p50
1.9 ms, p99 5 ms at load 2.8, tens of ms under heavier load, against p50
0.4 ms / p99 0.8 ms for the same server fed through a pipe).

Here the inotify descriptor is registered with ``loop.add_reader``: a change
wakes the event loop directly, with no thread and no polling. Watches are
added and removed one directory at a time (``inotify_add_watch``), so the set
can change without a gap in which events go unseen. A queue overflow
(``IN_Q_OVERFLOW``) makes every client look at everything.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import functools
import logging
import os
import struct
import sys
import time

import watchfiles

from tailcast.sources.file.watch.base import PathChange, WatchBackend, WatchClient

__all__ = ["InotifyBackend", "available"]

# The logger keeps its pre-package name: users' log filters match on it.
log = logging.getLogger("tailcast.sources.inotify")

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# A write is IN_MODIFY; truncation is IN_MODIFY too; chmod is IN_ATTRIB
# (a permission retry). Renames, creations and deletions are rotations.
MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
# The header of one kernel record (struct inotify_event): wd, mask, cookie, len;
# the name (NUL-padded, ``len`` bytes) follows.
_RECORD_HEADER = struct.Struct("iIII")
READ_SIZE = 64 * 1024
# The least pause between two reads while a client is paced (tailcast.sources.file.source.MIN_STEP).
MIN_PAUSE = 0.001


@functools.cache
def _lib() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def available() -> bool:
    """Whether this platform has inotify (Linux with a C library that exports it)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        lib = _lib()
        return hasattr(lib, "inotify_init1") and hasattr(lib, "inotify_add_watch")
    except OSError:
        return False


def _kind(mask: int) -> watchfiles.Change:
    if mask & (IN_CREATE | IN_MOVED_TO):
        return watchfiles.Change.added
    if mask & (IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF):
        return watchfiles.Change.deleted
    return watchfiles.Change.modified


class _Batch:
    """What one drain of the inotify descriptor found."""

    __slots__ = ("changes", "dirs_gone", "overflow")

    def __init__(self) -> None:
        self.changes: set[PathChange] = set()
        self.overflow = False  # the kernel dropped records: look at everything
        self.dirs_gone = False  # a watched directory itself went away


class InotifyBackend(WatchBackend):
    """The watch backend on Linux; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.fd = -1
        self._wds: dict[int, str] = {}
        self._by_path: dict[str, int] = {}
        self._pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rearm_at: asyncio.TimerHandle | None = None

    # -- clients -------------------------------------------------------------------

    def add(self, client: WatchClient) -> None:
        self.clients.add(client)
        self._loop = asyncio.get_running_loop()
        if self.fd < 0 and self.failed is None:
            fd = _lib().inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                err = ctypes.get_errno()
                self._fail(f"inotify_init1: {os.strerror(err)}")
            else:
                self.fd = fd
                self._loop.add_reader(fd, self._on_readable)
        self._apply()  # at once: the client's first look follows

    def remove(self, client: WatchClient) -> None:
        self.clients.discard(client)
        self.refresh()

    def refresh(self) -> None:
        if not self._pending and self._loop is not None and not self._loop.is_closed():
            self._pending = True
            self._loop.call_soon(self._apply)

    async def wait_stopped(self) -> None:
        if not self.clients:
            self._close()

    # -- watches -------------------------------------------------------------------

    def _apply(self) -> None:
        """Bring the kernel's watches in line with what the clients want."""
        self._pending = False
        if not self.clients:
            self._close()
            return
        wanted = self._wanted()
        if self.fd < 0:
            return
        fresh = self._add_watches(wanted)
        if fresh is None:
            return  # inotify failed: everything polls now
        self._remove_watches(wanted)
        self.watched = frozenset(self._by_path)
        if fresh:
            self.restarts += 1
            self._notify_fresh(fresh)

    def _add_watches(self, wanted: frozenset[str]) -> list[str] | None:
        """Watch the wanted directories not watched yet: those now watched, None on failure."""
        lib = _lib()
        fresh: list[str] = []
        for d in sorted(wanted - self.watched):
            wd = lib.inotify_add_watch(self.fd, os.fsencode(d), MASK)
            if wd < 0:
                err = ctypes.get_errno()
                if err in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                    continue  # gone again, or not ours to watch: its clients poll
                self._fail(f"inotify_add_watch {d}: {os.strerror(err)}")
                return None
            self._wds[wd] = d
            self._by_path[d] = wd
            fresh.append(d)
        return fresh

    def _remove_watches(self, wanted: frozenset[str]) -> None:
        lib = _lib()
        for d in self.watched - wanted:
            wd = self._by_path.pop(d, -1)
            if wd >= 0:
                self._wds.pop(wd, None)
                lib.inotify_rm_watch(self.fd, wd)

    def _notify_fresh(self, fresh: list[str]) -> None:
        """What changed before the watch existed went unseen: its clients look again."""
        seen: set[WatchClient] = set()
        for d in fresh:
            for client in self._by_dir.get(d, ()):
                if client not in seen:
                    seen.add(client)
                    client.notify(None)

    def _fail(self, why: str) -> None:
        """inotify is unusable (limits reached, say): every client polls from now on."""
        self.failed = why
        log.warning("inotify failed (%s): polling files instead", why)
        self._close()
        self._notify_all()

    def _close(self) -> None:
        if self._rearm_at is not None:
            self._rearm_at.cancel()
            self._rearm_at = None
        if self.fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
        self._wds.clear()
        self._by_path.clear()
        self.watched = frozenset()

    # -- reading the descriptor ------------------------------------------------------

    def _on_readable(self) -> None:
        """The event loop's reader callback: drain the records, hand out the changes."""
        batch = _Batch()
        if not self._drain(batch):
            return  # reading failed: the backend has fallen back to polling
        if batch.overflow:
            log.warning("inotify queue overflowed: looking at every file")
            self._notify_all()
        elif batch.changes:
            self._dispatch(batch.changes)
        if batch.dirs_gone:
            self.watched = frozenset(self._by_path)
            self.refresh()
        self._pause()  # after handing out: the clients just woken are paced from now on

    def _pause(self) -> None:
        """Read again when the first client could act on a change: records gather meanwhile.

        A file written a line at a time gives a record per write; read as they
        come, each woke the loop (50 such files: 50 000 wake-ups a second) for
        a change its source would only look at on its next step anyway. But the
        pause is the clients' own, not the busiest one's: while one file's
        source is paced, a line in another, quiet, file is read at once (it
        used to wait out the busy one's pacing, 20 ms in an agent). Never less
        than :data:`MIN_PAUSE` while clients are paced at all.
        """
        if not self.clients or self._loop is None or self.fd < 0:
            return
        floor = min(MIN_PAUSE, *(c.min_step for c in self.clients))
        pace = max(floor, min(c.ready_at() for c in self.clients) - time.monotonic())
        if pace > 0:
            self._loop.remove_reader(self.fd)
            self._rearm_at = self._loop.call_later(pace, self._rearm)

    def _rearm(self) -> None:
        self._rearm_at = None
        if self.fd >= 0 and self._loop is not None and not self._loop.is_closed():
            self._loop.add_reader(self.fd, self._on_readable)

    def _drain(self, batch: _Batch) -> bool:
        """Read every waiting record into ``batch``; False if the descriptor failed."""
        while True:
            try:
                buf = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                self._fail(f"reading inotify: {exc.strerror or exc}")
                return False
            self._parse(buf, batch)
            if len(buf) < READ_SIZE:
                break
        return True

    def _parse(self, buf: bytes, batch: _Batch) -> None:
        """Split one read into its kernel records."""
        pos = 0
        # A file written a line at a time gives a record per write: one of each
        # (wd, mask, name) is enough, the next ones change nothing.
        seen: set[tuple[int, int, bytes]] = set()
        while pos + _RECORD_HEADER.size <= len(buf):
            wd, mask, _cookie, length = _RECORD_HEADER.unpack_from(buf, pos)
            start = pos + _RECORD_HEADER.size
            name = buf[start : start + length]
            pos = start + length
            if (wd, mask, name) not in seen:
                seen.add((wd, mask, name))
                self._take_record(wd, mask, name.rstrip(b"\0"), batch)

    def _take_record(self, wd: int, mask: int, name: bytes, batch: _Batch) -> None:
        if mask & IN_Q_OVERFLOW:
            batch.overflow = True
            return
        directory = self._wds.get(wd)
        if directory is None:
            return
        if mask & IN_IGNORED:
            # The directory itself was deleted or unmounted.
            self._wds.pop(wd, None)
            self._by_path.pop(directory, None)
            batch.dirs_gone = True
            return
        path = os.path.join(directory, os.fsdecode(name)) if name else directory
        batch.changes.add((_kind(mask), path))
