"""One directory watcher shared by every followed file of the process.

On Linux the watcher is :class:`tailcast.sources.file.watch.inotify.InotifyWatcher` (one
inotify descriptor read by the event loop, see there why); this module holds
the client interface, the bookkeeping both backends share, and the portable
backend, :class:`Watcher`, used where inotify is not available:

A single ``watchfiles.awatch`` (one inotify instance, one Rust thread) watches
the union of the directories the file sources ask for, non-recursively, and
hands each batch of changes to the clients whose directories it touches.
Clients are :class:`WatchClient` objects (the file and glob sources); they do
their own reading. Hundreds of files cost one watcher, not one each.

The watchfiles settings are chosen for latency, not for editors:

- ``step=1`` (ms): the Rust loop sleeps ``step`` between looks at its change
  set and yields once the set stopped growing for one step, so a steady
  writer's change reaches us 1-2 ms after the write (the default, 50 ms,
  would add 50-100 ms to every line);
- ``debounce=10`` (ms): the cap on grouping while *new* paths keep changing
  (hundreds of files written at once); the default 1 600 ms would stall every
  stream that long under such load;
- ``recursive=False`` and no filter: we want exactly the named directories,
  and log names such as ``app.log~`` must not be dropped;
- the cost of ``step=1`` is a thread waking 1 000 times a second to look at
  a counter: about 1 % of one core while idle (measured: 0.10 s of CPU in
  10 s for an idle ``tailcast FILE``).

The set of directories changes when a file's directory appears or a symlink
moves elsewhere; the watcher then restarts ``awatch`` and tells every client to
look at everything (``notify(None)``), since changes in the gap are unseen.
Directories on network or FUSE file systems (from ``/proc/self/mounts``),
where inotify sees only local writes, are never watched: their clients poll.
If the watcher cannot start (inotify limits, say) everything falls back to
polling, with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Collection, Iterable
from typing import Protocol

import watchfiles

__all__ = ["BACKEND", "DEBOUNCE_MS", "STEP_MS", "WatchClient", "Watcher", "shared_watcher"]

log = logging.getLogger("tailcast.sources.watcher")

STEP_MS = 1
DEBOUNCE_MS = 10
# File systems where inotify misses writes made by other hosts.
NETWORK_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "afs", "gpfs"}
)

Changes = Collection[tuple[watchfiles.Change, str]]


class WatchClient(Protocol):
    """What the watcher needs from a follower."""

    def watch_dirs(self) -> Iterable[str]:
        """Directories whose changes concern this client."""
        ...

    def notify(self, changes: Changes | None) -> None:
        """Changes in the client's directories; ``None``: look at everything. Must not block."""
        ...


def _mount_types() -> list[tuple[str, str]]:
    """(mount point, fs type), longest mount point first."""
    mounts: list[tuple[str, str]] = []
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    point = parts[1].replace("\\040", " ")
                    mounts.append((point, parts[2]))
    except OSError:
        return []
    mounts.sort(key=lambda m: len(m[0]), reverse=True)
    return mounts


def is_network_fs(directory: str, mounts: list[tuple[str, str]]) -> bool:
    """Whether ``directory`` lives on a file system inotify cannot fully see."""
    real = os.path.realpath(directory)
    for point, fstype in mounts:
        if real == point or real.startswith(point.rstrip("/") + "/"):
            return fstype in NETWORK_FS or fstype.startswith("fuse.")
    return False


class Watcher:
    """The shared watcher; use :func:`shared_watcher`. See the module docstring."""

    def __init__(self) -> None:
        self.clients: set[WatchClient] = set()
        self.watched: frozenset[str] = frozenset()
        self.failed: str | None = None  # why inotify is unusable (then everything polls)
        self.restarts = 0
        self.batches = 0
        self._by_dir: dict[str, set[WatchClient]] = {}
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._mounts = _mount_types()
        self._polled: set[str] = set()

    # -- clients -------------------------------------------------------------------

    def add(self, client: WatchClient) -> None:
        self.clients.add(client)
        self.refresh()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name="tailcast-watcher"
            )

    def remove(self, client: WatchClient) -> None:
        self.clients.discard(client)
        self.refresh()
        if not self.clients and self._task is not None:
            self._task.cancel()

    def refresh(self) -> None:
        """A client's directories may have changed (or appeared): recompute soon."""
        self._dirty.set()

    def is_watched(self, directory: str) -> bool:
        return directory in self.watched

    def could_watch(self, directory: str) -> bool:
        """An existing directory that is not watched yet but could be (worth a refresh)."""
        return (
            directory not in self.watched and directory not in self._polled and self.failed is None
        )

    async def wait_stopped(self) -> None:
        """Wait for the watcher task after the last client left."""
        task = self._task
        if task is not None and not self.clients:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the loop ------------------------------------------------------------------

    def _wanted(self) -> frozenset[str]:
        wanted: set[str] = set()
        self._by_dir = {}
        for client in list(self.clients):
            for d in client.watch_dirs():
                self._by_dir.setdefault(d, set()).add(client)
                wanted.add(d)
        usable = set()
        for d in wanted:
            if d in self._polled or not os.path.isdir(d):
                continue
            if is_network_fs(d, self._mounts):
                self._polled.add(d)
                log.info("%s is on a network file system: polling it", d)
                continue
            usable.add(d)
        return frozenset(usable) if self.failed is None else frozenset()

    async def _supervise(self) -> None:
        """Owns the awatch task: restarts it whenever the wanted directories change."""
        consumer: asyncio.Task[None] | None = None
        stop = asyncio.Event()
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                dirs = self._wanted()
                if consumer is not None and consumer.done():
                    consumer = None  # it failed: dirs are recomputed, maybe retried
                    self.watched = frozenset()
                if dirs == self.watched and (consumer is not None or not dirs):
                    continue
                if consumer is not None:
                    stop.set()
                    with contextlib.suppress(asyncio.CancelledError):
                        await consumer
                    consumer = None
                self.watched = dirs
                if dirs:
                    stop = asyncio.Event()
                    consumer = asyncio.create_task(self._consume(dirs, stop))
                    # awatch sets up its inotify watches synchronously in its
                    # first step; let that step run before clients rescan.
                    await asyncio.wait([consumer], timeout=0.01)
                    self.restarts += 1
                # Changes made while no watch (or another watch) was in place
                # were not seen: every client looks at everything.
                for client in list(self.clients):
                    client.notify(None)
        finally:
            if consumer is not None:
                stop.set()
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await consumer
            self.watched = frozenset()

    async def _consume(self, dirs: frozenset[str], stop: asyncio.Event) -> None:
        try:
            async for changes in watchfiles.awatch(
                *sorted(dirs),
                watch_filter=None,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop,
                recursive=False,
                force_polling=False,
            ):
                self._dispatch(changes)
        except asyncio.CancelledError:
            raise
        except FileNotFoundError:
            # A directory vanished between the check and the watch: recompute.
            self.refresh()
        except Exception as exc:
            # inotify limits (ENOSPC), a directory gone at start, a Rust error:
            # fall back to polling for everything rather than lose changes.
            self.failed = str(exc) or type(exc).__name__
            log.warning("file watcher failed (%s): polling files instead", self.failed)
            self.watched = frozenset()
            for client in list(self.clients):
                client.notify(None)

    def _dispatch(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        self.batches += 1
        by_client: dict[WatchClient, list[tuple[watchfiles.Change, str]]] = {}
        dirs_gone = False
        for change in changes:
            kind, path = change
            if kind == watchfiles.Change.deleted and path in self.watched:
                dirs_gone = True
            for client in self._by_dir.get(os.path.dirname(path), ()):
                by_client.setdefault(client, []).append(change)
        for client, items in by_client.items():
            client.notify(items)
        if dirs_gone:
            self.refresh()

    def statistics(self) -> dict[str, object]:
        return {
            "backend": type(self).__name__,
            "clients": len(self.clients),
            "watched_dirs": len(self.watched),
            "polled_dirs": len(self._polled),
            "failed": self.failed,
            "restarts": self.restarts,
            "batches": self.batches,
        }


_WATCHERS: dict[asyncio.AbstractEventLoop, Watcher] = {}

# "inotify" (Linux: :mod:`tailcast.sources.file.watch.inotify`, the default there) or
# "watchfiles" (this module's :class:`Watcher`: everywhere else).
BACKEND = "inotify"


def shared_watcher() -> Watcher:
    """The watcher of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    for other in [lp for lp in _WATCHERS if lp.is_closed()]:
        del _WATCHERS[other]
    watcher = _WATCHERS.get(loop)
    if watcher is None:
        from tailcast.sources.file.watch import inotify

        if BACKEND == "inotify" and inotify.available():
            watcher = inotify.InotifyWatcher()
        else:
            watcher = Watcher()
        _WATCHERS[loop] = watcher
    return watcher
