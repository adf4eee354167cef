"""The watch backend interface, and the bookkeeping every backend shares.

One backend per event loop (chosen by :mod:`tailcast.sources.file.watch.factory`)
watches the union of the directories its clients ask for, non-recursively,
and hands each batch of changes to the clients whose directories it touches.
Clients are :class:`WatchClient` objects (the file and glob sources); they do
their own reading. Hundreds of files cost one watch set, not one each.

The two backends, :class:`~tailcast.sources.file.watch.inotify.InotifyBackend`
(Linux) and :class:`~tailcast.sources.file.watch.portable.PortableBackend`
(watchfiles, everywhere else), both implement :class:`WatchBackend`; neither
knows the other.

Shared rules:

- directories on network or FUSE file systems
  (:func:`~tailcast.sources.file.watch.mounts.is_network_fs`) are never
  watched: their clients poll;
- when a client's directories may have changed it calls :meth:`WatchBackend.refresh`;
  a change in the watch set, or anything a backend may have missed, becomes
  ``notify(None)`` (look at everything) for the clients concerned;
- if a backend cannot watch at all (inotify limits, say) it sets
  :attr:`WatchBackend.failed` and every client polls, with a warning.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Collection, Iterable
from typing import Protocol

import watchfiles

from tailcast.sources.file.watch.mounts import is_network_fs, mount_types

__all__ = ["Changes", "PathChange", "WatchBackend", "WatchClient"]

# The logger keeps the name it had before the watch package existed: users'
# log filters match on it.
log = logging.getLogger("tailcast.sources.watcher")

# One change to one path: watchfiles' kinds (added, modified, deleted) are the
# vocabulary of both backends, so clients see the same thing from either.
PathChange = tuple[watchfiles.Change, str]
Changes = Collection[PathChange]


class WatchClient(Protocol):
    """What a watch backend needs from a follower."""

    # Seconds between two of its steps at least: a backend need not hand it
    # changes more often.
    min_step: float

    def ready_at(self) -> float:
        """``time.monotonic()`` from which a change would make it act (before: its pacing)."""
        ...

    def watch_dirs(self) -> Iterable[str]:
        """Directories whose changes concern this client."""
        ...

    def notify(self, changes: Changes | None) -> None:
        """Changes in the client's directories; ``None``: look at everything. Must not block."""
        ...


class WatchBackend(abc.ABC):
    """The shared directory watcher of one event loop; see the module docstring."""

    def __init__(self) -> None:
        self.clients: set[WatchClient] = set()
        self.watched: frozenset[str] = frozenset()
        self.failed: str | None = None  # why watching is unusable (then everything polls)
        self.restarts = 0
        self.batches = 0
        self._by_dir: dict[str, set[WatchClient]] = {}
        self._mounts = mount_types()
        self._polled: set[str] = set()

    # -- what clients call -----------------------------------------------------------

    @abc.abstractmethod
    def add(self, client: WatchClient) -> None:
        """Start watching the client's directories (called on the event loop)."""

    @abc.abstractmethod
    def remove(self, client: WatchClient) -> None:
        """Stop delivering to the client; its directories are dropped soon."""

    @abc.abstractmethod
    def refresh(self) -> None:
        """A client's directories may have changed (or appeared): recompute soon."""

    @abc.abstractmethod
    async def wait_stopped(self) -> None:
        """Release the backend's resources once the last client has left."""

    def is_watched(self, directory: str) -> bool:
        return directory in self.watched

    def could_watch(self, directory: str) -> bool:
        """An existing directory that is not watched yet but could be (worth a refresh)."""
        return (
            directory not in self.watched and directory not in self._polled and self.failed is None
        )

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

    # -- shared by the backends --------------------------------------------------------

    def _wanted(self) -> frozenset[str]:
        """The directories to watch now (and, as a side effect, who wants each)."""
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

    def _dispatch(self, changes: Iterable[PathChange]) -> None:
        """Hand one batch to the clients of the changed paths' directories."""
        self.batches += 1
        by_client: dict[WatchClient, list[PathChange]] = {}
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

    def _notify_all(self) -> None:
        """Every client looks at everything (changes may have gone unseen)."""
        for client in list(self.clients):
            client.notify(None)
