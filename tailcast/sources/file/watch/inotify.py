"""The Linux watcher backend: one inotify descriptor read by the event loop itself.

Same job and same clients as :class:`tailcast.sources.file.watch.portable.Watcher` (the
watchfiles backend, used where this one is not available), without its
costs on the latency path. watchfiles runs a Rust thread that sleeps ``step``
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

import watchfiles

from tailcast.sources.file.watch.portable import WatchClient, Watcher

__all__ = ["InotifyWatcher", "available"]

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
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len
READ_SIZE = 64 * 1024


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


class InotifyWatcher(Watcher):
    """The shared watcher on Linux; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.fd = -1
        self._wds: dict[int, str] = {}
        self._by_path: dict[str, int] = {}
        self._pending = False
        self._loop: asyncio.AbstractEventLoop | None = None

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
        self._pending = False
        if not self.clients:
            self._close()
            return
        wanted = self._wanted()
        if self.fd < 0:
            return
        lib = _lib()
        fresh: list[str] = []
        for d in sorted(wanted - self.watched):
            wd = lib.inotify_add_watch(self.fd, os.fsencode(d), MASK)
            if wd < 0:
                err = ctypes.get_errno()
                if err in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                    continue  # gone again, or not ours to watch: its clients poll
                self._fail(f"inotify_add_watch {d}: {os.strerror(err)}")
                return
            self._wds[wd] = d
            self._by_path[d] = wd
            fresh.append(d)
        for d in self.watched - wanted:
            wd = self._by_path.pop(d, -1)
            if wd >= 0:
                self._wds.pop(wd, None)
                lib.inotify_rm_watch(self.fd, wd)
        self.watched = frozenset(self._by_path)
        if fresh:
            self.restarts += 1
            # What changed before the watch existed went unseen: look again.
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
        for client in list(self.clients):
            client.notify(None)

    def _close(self) -> None:
        if self.fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
        self._wds.clear()
        self._by_path.clear()
        self.watched = frozenset()

    # -- events --------------------------------------------------------------------

    def _on_readable(self) -> None:
        changes: set[tuple[watchfiles.Change, str]] = set()
        overflow = False
        gone = False
        while True:
            try:
                buf = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                self._fail(f"reading inotify: {exc.strerror or exc}")
                return
            pos = 0
            while pos + _EVENT.size <= len(buf):
                wd, mask, _cookie, length = _EVENT.unpack_from(buf, pos)
                name = buf[pos + _EVENT.size : pos + _EVENT.size + length].rstrip(b"\0")
                pos += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    overflow = True
                    continue
                directory = self._wds.get(wd)
                if directory is None:
                    continue
                if mask & IN_IGNORED:
                    # The directory itself was deleted or unmounted.
                    self._wds.pop(wd, None)
                    self._by_path.pop(directory, None)
                    gone = True
                    continue
                path = os.path.join(directory, os.fsdecode(name)) if name else directory
                changes.add((_kind(mask), path))
            if len(buf) < READ_SIZE:
                break
        if overflow:
            log.warning("inotify queue overflowed: looking at every file")
            for client in list(self.clients):
                client.notify(None)
        elif changes:
            self._dispatch(changes)
        if gone:
            self.watched = frozenset(self._by_path)
            self.refresh()
