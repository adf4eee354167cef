"""Files followed like ``tail -F``: :class:`FileSource` (one path) and :class:`GlobSource`.

Both are thin asyncio shells around
:class:`~tailcast.sources.file.tail.FileFollower`, which does the following
itself (rotation, truncation, start position). A shell:

- registers with the event loop's shared watch backend
  (:func:`~tailcast.sources.file.watch.factory.shared_backend`: one inotify
  watch set for every file; none with ``--poll``) and is woken by changes in
  its files' directories;
- runs the blocking part (``stat``, ``pread``, the glob) of every woken file in
  *one* worker-thread call per wake-up, so hundreds of files cost one task and
  a few pool threads, never a thread each (a small read of a watched file,
  after a small one, is done on the event loop instead: :data:`INLINE_BYTES`);
- applies the result on the event loop, per path
  (:class:`~tailcast.sources.file.followed.FollowedPath`): bytes through a
  line pump, states and ``tail -F`` events to the hub, and with every
  publish the checkpoint a restart with the same ``--data-dir`` reads on from
  (the stream is created with ``source_key`` = the SOURCE as written, so the
  store knows it again);
- looks at everything anyway every :data:`SAFETY_TICK` seconds (inotify
  mode) or ``--poll-interval`` seconds (``--poll``, a network file system, a
  directory that does not exist yet): missed changes, permission retries.

A glob gets one stream per match, named by the match's path below the
pattern's fixed directory; a new match becomes a new stream (read from its
beginning) and a match that is gone, with its old data read out and nothing
back for :data:`~tailcast.sources.file.tail.ROTATE_QUIET` seconds, ends its stream.
"""

from __future__ import annotations

import asyncio
import fnmatch
import glob as globmod
import logging
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import watchfiles

from tailcast.alarm import Alarm
from tailcast.sources.base import Source
from tailcast.sources.file.followed import FollowedPath
from tailcast.sources.file.ops import Data, Op
from tailcast.sources.file.tail import ROTATE_QUIET, FileFollower
from tailcast.sources.file.watch.base import Changes, WatchBackend
from tailcast.sources.file.watch.factory import shared_backend

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub

__all__ = ["MAX_GLOB_STREAMS", "OLD_POLL", "SAFETY_TICK", "FileSource", "GlobSource"]

log = logging.getLogger("tailcast.sources.file")

# inotify mode: look at every file anyway this often (missed changes, permission retries).
SAFETY_TICK = 2.0
# While a rotated-away file is read out: it may sit in a directory no one watches.
OLD_POLL = 0.25
# Bytes read in one worker call over all files of a source; the rest waits
# for the next round, so a glob of big files never holds gigabytes at once.
STEP_BUDGET = 8 * 1024 * 1024
# Seconds between the starts of two steps at least: a step (a read, a publish) costs
# far more than a line, and a millisecond gathers a busy writer's writes into one
# read (a change after a quiet spell, or a backlog's rest, is read at once).
# Not more: 5 ms made a 1 000 lines/s writer's p50 latency 3.9 ms, not 0.5
# (bench/bench.py --only steady).
MIN_STEP = 0.001
# A step whose files gave less than this last time reads on the event loop: the
# thread hop (submit, wake, the GIL back and forth) cost a line-at-a-time writer
# more than the read (10 agents: 0.72 -> 0.44 of a core). Never for a polled
# directory (a network file system may block) or a full look.
INLINE_BYTES = 64 * 1024
# Streams one glob may create; further matches are ignored with a warning.
MAX_GLOB_STREAMS = 1000


class _Work:
    """What one worker-thread call found."""

    def __init__(self) -> None:
        self.results: list[tuple[FollowedPath, list[Op], bool]] = []
        self.left: list[FollowedPath] = []  # not polled: the step budget ran out
        self.matches: list[str] | None = None
        self.read = 0  # bytes
        self.looked = False  # dirs, missing_dirs and reals were looked at (else: unchanged)
        self.dirs: set[str] = set()
        self.missing_dirs: set[str] = set()
        self.reals: dict[str, str] = {}


class _FollowBase(Source):
    """The loop shared by :class:`FileSource` and :class:`GlobSource`."""

    def __init__(self, spec: SourceSpec, hub: Hub, config: Config, *, quiet: float) -> None:
        super().__init__(spec, hub, config)
        self.quiet = quiet
        self.followed: dict[str, FollowedPath] = {}
        self._wake = asyncio.Event()
        self._alarm = Alarm(lambda: self.notify(None))  # no wake-up within _timeout(): look
        self._all = True  # poll every file on the next step
        self._dirty: set[str] = set()
        self._rescan = False
        self._dirs: set[str] = set()
        self._by_real: dict[str, str] = {}
        self._backend: WatchBackend | None = None
        self._stepped = 0.0  # when the last step began (monotonic)
        self.min_step = max(MIN_STEP, config.file_step)
        self._small = False  # the last step read little and left nothing: the next may be inline
        self._behind = False  # the last step left bytes unread: no pause before the next
        self.steps = 0
        self.inline_steps = 0

    # -- the watch backend's side ------------------------------------------------------

    def watch_dirs(self) -> Iterable[str]:
        return self._dirs

    def ready_at(self) -> float:
        ready = self._stepped + self.min_step
        # Woken, a step is coming: it reads what changes until then.
        return max(ready, time.monotonic()) + self.min_step if self._wake.is_set() else ready

    def notify(self, changes: Changes | None) -> None:
        if changes is None:
            self._all = True
            self._rescan = True
        else:
            self._take(changes)
        if self._all or self._dirty or self._rescan:
            self._wake.set()

    def _take(self, changes: Changes) -> None:
        """Mark the followed paths a batch of changes may concern."""
        for kind, path in changes:
            target = path if path in self.followed else self._by_real.get(path)
            if target is not None:
                self._dirty.add(target)
            elif kind != watchfiles.Change.modified:
                # A rename or create of another name may be a rotation step
                # (the old file's new name, a symlink's new target).
                self._all = True
        for path, f in self.followed.items():
            if f.follower.olds:
                self._dirty.add(path)  # its old file lives under a name we do not know

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        if not self.config.poll:
            self._backend = shared_backend()
        try:
            # First look (and the directories to watch) before registering.
            await self._step()
            if self._backend is not None:
                self._backend.add(self)
            while True:
                if not (self._all or self._dirty or self._rescan):
                    self._alarm.arm(self._timeout())  # (a timer per expiry, not per wait)
                    await self._wake.wait()
                delay = self._stepped + self.min_step - time.monotonic()
                if delay > 0 and not self._behind:
                    await asyncio.sleep(delay)  # (changes meanwhile join this step)
                self._wake.clear()
                await self._step()
        finally:
            self._alarm.cancel()
            if self._backend is not None:
                self._backend.remove(self)

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.wait_stopped()
        for f in list(self.followed.values()):
            # In a thread: it waits for a poll still running there after cancellation.
            await asyncio.to_thread(f.follower.close)
            f.stop()

    def _polled(self) -> bool:
        """Whether this source must poll (no inotify for some of its directories)."""
        backend = self._backend
        return (
            backend is None or not self._dirs or any(not backend.is_watched(d) for d in self._dirs)
        )

    def _timeout(self) -> float:
        timeout = self.config.poll_interval if self._polled() else SAFETY_TICK
        for f in self.followed.values():
            deadline = f.follower.next_deadline()
            if deadline is not None:
                timeout = min(timeout, OLD_POLL, max(0.0, deadline - time.monotonic()) + 0.001)
        return timeout

    async def _step(self) -> None:
        self.steps += 1
        self._stepped = time.monotonic()
        full = self._all or self._rescan
        if self._all:
            targets = list(self.followed.values())
        else:
            targets = [self.followed[p] for p in self._dirty if p in self.followed]
        rescan = self._rescan
        self._all = self._rescan = False
        self._dirty.clear()
        if self._small and not full and not self._polled():
            self.inline_steps += 1
            work = self._work(targets, rescan, full)
        else:
            loop = asyncio.get_running_loop()
            work = await loop.run_in_executor(None, self._work, targets, rescan, full)
        self._behind = bool(work.left) or any(m for *_, m in work.results)  # a budget ran out
        self._small = work.read < INLINE_BYTES and not self._behind
        for f, ops, more in work.results:
            f.apply(ops)
            if more:
                self._dirty.add(f.follower.path)
        for f in work.left:
            self._dirty.add(f.follower.path)
        if work.matches is not None:
            self._matched(work.matches)
        if work.looked:
            self._looked(work)

    def _looked(self, work: _Work) -> None:
        """What a step found of the files' names and directories: the watch set follows."""
        self._by_real = {real: path for path, real in work.reals.items() if real != path}
        if work.dirs != self._dirs:
            self._dirs = work.dirs
            if self._backend is not None:
                self._backend.refresh()
        elif self._backend is not None and any(
            self._backend.could_watch(d) for d in self._dirs - work.missing_dirs
        ):
            self._backend.refresh()  # a directory appeared since

    def _work(self, targets: list[FollowedPath], rescan: bool, full: bool) -> _Work:
        """The blocking part of a step (in a worker thread unless it is small)."""
        work = _Work()
        if rescan:
            work.matches = self._scan()
        for i, f in enumerate(targets):
            if work.read >= STEP_BUDGET:
                work.left = targets[i:]
                break
            ops, more = f.follower.poll()
            work.read += sum(len(op.data) for op in ops if isinstance(op, Data))
            work.results.append((f, ops, more))
            full = full or any(not isinstance(op, Data) for op in ops)
        # Names and directories change only with a rotation, a re-creation or a
        # new symlink target: an operation other than data, or a change that
        # makes the next step a full one. A step that only read on does not look
        # (realpath and stat on every step: a sixth of a busy agent's CPU).
        if full:
            work.looked = True
            for path, f in list(self.followed.items()):
                work.dirs |= f.follower.dirs()
                work.reals[path] = os.path.realpath(path)
            work.dirs |= self._extra_dirs()
            work.missing_dirs = {d for d in work.dirs if not os.path.isdir(d)}
        return work

    # -- hooks for globs ---------------------------------------------------------------

    def _scan(self) -> list[str] | None:
        return None

    def _extra_dirs(self) -> set[str]:
        return set()

    def _matched(self, matches: list[str]) -> None:
        pass

    def _follow(self, path: str, name: str, *, initial: bool) -> FollowedPath:
        stream = self.hub.add_stream(name, "file", source_key=self.spec.raw, path=path)
        follower = FileFollower(
            path,
            backlog_lines=self.config.lines if initial else None,
            max_line=self.config.max_line,
            quiet=self.quiet,
            # Where the previous run with this data dir got to in this file.
            resume=stream.history.checkpoint,
        )
        f = FollowedPath(self.hub, stream, follower, self.config)
        self.followed[path] = f
        self._dirty.add(path)
        return f

    def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "kind": self.spec.kind,
            "polled": self._polled(),
            "steps": self.steps,
            "inline_steps": self.inline_steps,
            "files": [f.follower.statistics() for f in self.followed.values()],
        }
        if self._backend is not None:
            # The key predates the backend split: readers of the statistics use it.
            stats["watcher"] = self._backend.statistics()
        return stats


class FileSource(_FollowBase):
    """One path (``tailcast /var/log/app.log``), which may not exist yet."""

    def __init__(
        self, spec: SourceSpec, hub: Hub, config: Config, *, quiet: float = ROTATE_QUIET
    ) -> None:
        super().__init__(spec, hub, config, quiet=quiet)
        self.path = os.path.abspath(spec.target)
        self.stream = self._follow(self.path, spec.name, initial=True).stream


def glob_base(pattern: str) -> str:
    """The deepest directory of ``pattern`` without wildcards."""
    parts = pattern.split(os.sep)
    fixed: list[str] = []
    for part in parts[:-1]:
        if globmod.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or os.sep


class GlobSource(_FollowBase):
    """One stream per match of a pattern (``tailcast '/var/log/nginx/*.log'``)."""

    def __init__(
        self, spec: SourceSpec, hub: Hub, config: Config, *, quiet: float = ROTATE_QUIET
    ) -> None:
        super().__init__(spec, hub, config, quiet=quiet)
        self.pattern = os.path.abspath(spec.target)
        self.base = glob_base(self.pattern)
        self._warned = False
        for path in self._scan():
            if not self._add(path, initial=True):
                break

    def _name(self, path: str) -> str:
        rel = os.path.relpath(path, self.base)
        return f"{self.spec.name}/{rel}" if self.spec.named else rel

    def _add(self, path: str, *, initial: bool) -> bool:
        if len(self.followed) >= MAX_GLOB_STREAMS:
            if not self._warned:
                log.warning(
                    "%s matches more than %d files: ignoring the rest",
                    self.spec.raw,
                    MAX_GLOB_STREAMS,
                )
                self._warned = True
            return False
        self._follow(path, self._name(path), initial=initial)
        return True

    def _scan(self) -> list[str]:
        """Current matches that are not directories, sorted (stable stream ids)."""
        return sorted(p for p in globmod.glob(self.pattern) if not os.path.isdir(p))

    def _extra_dirs(self) -> set[str]:
        """The pattern's directories: its fixed base and every directory level it matches."""
        dirs = {self.base}
        head = os.path.dirname(self.pattern)
        if globmod.has_magic(head):
            level = self.base
            for part in os.path.relpath(head, self.base).split(os.sep):
                level = os.path.join(level, part)
                dirs.update(d for d in globmod.glob(level) if os.path.isdir(d))
        else:
            dirs.add(head)
        return dirs

    def _take(self, changes: Changes) -> None:
        super()._take(changes)
        for kind, path in changes:
            if kind != watchfiles.Change.modified or (
                path not in self.followed and fnmatch.fnmatch(path, self.pattern)
            ):
                self._rescan = True
                break

    def _matched(self, matches: list[str]) -> None:
        present = set(matches)
        for path in matches:
            if path not in self.followed and not self._add(path, initial=False):
                break
        for path, f in list(self.followed.items()):
            if path not in present and f.follower.lost():
                self._end(path, f)

    def _end(self, path: str, f: FollowedPath) -> None:
        """A match is gone for good: end its stream (clients get a ``streams`` message)."""
        del self.followed[path]
        f.pump.feed_eof()
        f.follower.close()
        self.hub.set_state(f.stream, "exited")
        self.hub.remove_stream(f.stream.id)
