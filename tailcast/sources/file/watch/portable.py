"""The portable watch backend: one ``watchfiles.awatch`` for every followed directory.

Used where :mod:`tailcast.sources.file.watch.inotify` is not available (macOS,
BSD, Linux without inotify). A single ``watchfiles.awatch`` (one OS watcher,
one Rust thread) watches the union of the directories the clients ask for.

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

awatch cannot change its directories while it runs: when the set changes (a
file's directory appears, a symlink moves elsewhere) the backend restarts it
and tells every client to look at everything (``notify(None)``), since changes
in the gap are unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import watchfiles

from tailcast.sources.file.watch.base import WatchBackend, WatchClient

__all__ = ["DEBOUNCE_MS", "STEP_MS", "PortableBackend"]

# The logger keeps its pre-package name: users' log filters match on it.
log = logging.getLogger("tailcast.sources.watcher")

STEP_MS = 1
DEBOUNCE_MS = 10


class PortableBackend(WatchBackend):
    """The watchfiles backend; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._recompute = asyncio.Event()  # set: the wanted directories may have changed
        self._task: asyncio.Task[None] | None = None

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
        self._recompute.set()

    async def wait_stopped(self) -> None:
        """Wait for the supervisor task after the last client left."""
        task = self._task
        if task is not None and not self.clients:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the loop ------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Owns the awatch task: restarts it whenever the wanted directories change."""
        consumer: asyncio.Task[None] | None = None
        stop_awatch = asyncio.Event()
        try:
            while True:
                await self._recompute.wait()
                self._recompute.clear()
                dirs = self._wanted()
                if consumer is not None and consumer.done():
                    consumer = None  # it failed: dirs are recomputed, maybe retried
                    self.watched = frozenset()
                if dirs == self.watched and (consumer is not None or not dirs):
                    continue
                if consumer is not None:
                    stop_awatch.set()
                    with contextlib.suppress(asyncio.CancelledError):
                        await consumer
                    consumer = None
                self.watched = dirs
                if dirs:
                    stop_awatch = asyncio.Event()
                    consumer = asyncio.create_task(self._consume(dirs, stop_awatch))
                    # awatch sets up its inotify watches synchronously in its
                    # first step; let that step run before clients rescan.
                    await asyncio.wait([consumer], timeout=0.01)
                    self.restarts += 1
                # Changes made while no watch (or another watch) was in place
                # were not seen: every client looks at everything.
                self._notify_all()
        finally:
            if consumer is not None:
                stop_awatch.set()
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await consumer
            self.watched = frozenset()

    async def _consume(self, dirs: frozenset[str], stop_awatch: asyncio.Event) -> None:
        try:
            async for changes in watchfiles.awatch(
                *sorted(dirs),
                watch_filter=None,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop_awatch,
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
            self._notify_all()
