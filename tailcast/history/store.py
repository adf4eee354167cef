"""The data dir: every stream's history, one server at a time, within a disk budget.

Layout::

    DATA/lock                   flock()ed for the store's life; holds the owner's pid
    DATA/streams/ID/meta.json   the stream's identity and epoch (tailcast.history.meta)
    DATA/streams/ID/*.log       its segments (tailcast.history.log)

A stream id that is not a plain ``[a-z0-9][a-z0-9._-]*`` (or is very long) gets
a folder named ``_`` + a hash of it, which no plain id can be: no id, however
odd, names a path outside ``DATA/streams``.

The budget counts every stream folder, also those of streams not opened in
this run (a source removed from the command line): those go first, oldest
first, when the budget is exceeded; then the oldest segments of the largest
open streams.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from tailcast.defaults import DEFAULT_DISK_BUDGET, DEFAULT_HISTORY, DEFAULT_HISTORY_BYTES
from tailcast.errors import ConfigError
from tailcast.history.log import DEFAULT_SEGMENT_BYTES, DiskUsage, StreamLog
from tailcast.history.meta import StreamMeta
from tailcast.history.placement import private_dir
from tailcast.protocol.wire import STREAM_ID_RE

__all__ = [
    "DEFAULT_DISK_BUDGET",
    "DEFAULT_HISTORY_BYTES",
    "DEFAULT_HISTORY_LINES",
    "HistoryStore",
    "stream_folder_name",
]

DEFAULT_HISTORY_LINES = DEFAULT_HISTORY  # --history
_OPTION = "--data-dir"
_MAX_PLAIN_NAME = 128


def stream_folder_name(stream_id: str) -> str:
    """A folder name for ``stream_id`` that is safe on any file system."""
    if STREAM_ID_RE.match(stream_id) and len(stream_id) <= _MAX_PLAIN_NAME:
        return stream_id
    return "_" + hashlib.sha256(stream_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _folder_bytes(folder: Path) -> int:
    try:
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    except OSError:
        return 0


def _take_lock(root: Path) -> int:
    """Lock ``root/lock`` for this process and write our pid in it; raise ConfigError if not."""
    try:
        fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ConfigError(
            f"{_OPTION} {root}: cannot write in it: {exc.strerror}", option=_OPTION
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise ConfigError(
                f"{_OPTION} {root}: another tailcast (pid {owner}) uses it", option=_OPTION
            ) from None
        raise ConfigError(
            f"{_OPTION} {root}: cannot lock it: {exc.strerror}", option=_OPTION
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            # A full disk is a fault the history survives (in memory), not a
            # reason not to start: the lock holds; only the pid is not written.
            return fd
        os.close(fd)
        raise ConfigError(
            f"{_OPTION} {root}: cannot write in it: {exc.strerror}", option=_OPTION
        ) from None
    return fd


class HistoryStore:
    """Every stream's history under one data dir; make it with :meth:`open`."""

    def __init__(self, root: Path, lock_fd: int, *, private: bool, disk_budget: int) -> None:
        self.root = root
        self.private = private  # a temporary dir, removed by close()
        self.disk_budget = disk_budget
        self.max_lines = DEFAULT_HISTORY_LINES
        self.max_bytes = DEFAULT_HISTORY_BYTES
        self.segment_bytes = DEFAULT_SEGMENT_BYTES
        self._lock_fd = lock_fd
        self._streams_dir = root / "streams"
        self._usage = DiskUsage()
        self._open: dict[str, tuple[StreamLog, StreamMeta]] = {}
        # Folders of streams not opened (yet) in this run, and their bytes.
        self._stale: dict[str, int] = {}

    @classmethod
    def open(
        cls,
        data_dir: Path | None,
        *,
        disk_budget: int = DEFAULT_DISK_BUDGET,
        max_lines: int = DEFAULT_HISTORY_LINES,
        max_bytes: int = DEFAULT_HISTORY_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> HistoryStore:
        """Open (create, lock, survey) ``data_dir``, or a private one when None.

        Raises :class:`~tailcast.errors.ConfigError` (one line naming
        ``--data-dir``) for a dir that cannot be created or written, or that
        another tailcast holds.
        """
        private = data_dir is None
        try:
            root = private_dir() if data_dir is None else data_dir.absolute()
            root.mkdir(parents=True, exist_ok=True)
            lock_fd = _take_lock(root)
        except OSError as exc:
            where = data_dir if data_dir is not None else "(a private temporary dir)"
            raise ConfigError(
                f"{_OPTION} {where}: cannot create it: {exc.strerror}", option=_OPTION
            ) from None
        store = cls(root, lock_fd, private=private, disk_budget=disk_budget)
        store.max_lines, store.max_bytes, store.segment_bytes = max_lines, max_bytes, segment_bytes
        try:
            store._streams_dir.mkdir(exist_ok=True)
            for folder in store._streams_dir.iterdir():
                if folder.is_dir():
                    store._stale[folder.name] = _folder_bytes(folder)
        except OSError as exc:
            store.close()
            raise ConfigError(
                f"{_OPTION} {root}: cannot write in it: {exc.strerror}", option=_OPTION
            ) from None
        return store

    # -- streams -------------------------------------------------------------

    def stream_log(
        self, stream_id: str, kind: str, source_key: str
    ) -> tuple[StreamLog, StreamMeta]:
        """The history and meta of a stream, recovered from a previous run when it is the same.

        Same ``kind`` and ``source_key`` as saved: the old history and epoch go
        on. Otherwise the folder starts empty (with ``epoch`` None). Raises
        ``OSError`` when the disk fails (the hub then keeps history in memory).
        """
        if stream_id in self._open:
            return self._open[stream_id]
        name = stream_folder_name(stream_id)
        folder = self._streams_dir / name
        self._stale.pop(name, None)
        wanted = StreamMeta(stream_id=stream_id, kind=kind, source_key=source_key)
        meta = StreamMeta.load(folder)
        if meta is None or not meta.same_source(wanted):
            # Not this source's history (or no meta to tell): it would clash with new numbering.
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            meta = wanted
            meta.save(folder)
        log = StreamLog.open(
            folder,
            max_lines=self.max_lines,
            max_bytes=self.max_bytes,
            segment_bytes=self.segment_bytes,
            usage=self._usage,
        )
        self._open[stream_id] = (log, meta)
        return log, meta

    def save_meta(self, meta: StreamMeta) -> None:
        """Persist ``meta`` (e.g. the epoch the hub made) atomically; raises ``OSError``."""
        meta.save(self._streams_dir / stream_folder_name(meta.stream_id))

    def remove_stream(self, stream_id: str) -> None:
        """Delete a stream's history and meta (a stream that is gone for good)."""
        entry = self._open.pop(stream_id, None)
        if entry is not None:
            entry[0].remove()
        name = stream_folder_name(stream_id)
        self._stale.pop(name, None)
        shutil.rmtree(self._streams_dir / name, ignore_errors=True)

    # -- the budget ----------------------------------------------------------

    @property
    def bytes_used(self) -> int:
        return self._usage.total + sum(self._stale.values())

    def enforce_budget(self) -> int:
        """Drop the oldest history until within ``disk_budget``; bytes freed.

        Cheap when within it (one sum of a running total), so it may run after
        every append.
        """
        excess = self.bytes_used - self.disk_budget
        if excess <= 0:
            return 0
        freed = self._drop_stale(excess)
        while freed < excess:
            logs = sorted((e[0] for e in self._open.values()), key=lambda g: g.nbytes, reverse=True)
            step = 0
            for log in logs:  # one segment at a time, so the largest is always the one cut
                step = log.drop_oldest(1)
                if step:
                    break
            if not step:
                break  # every stream is down to its last segment
            freed += step
        return freed

    def _drop_stale(self, excess: int) -> int:
        def age(name: str) -> float:
            try:
                return (self._streams_dir / name).stat().st_mtime
            except OSError:
                return 0.0

        freed = 0
        for name in sorted(self._stale, key=age):
            if freed >= excess:
                break
            freed += self._stale.pop(name)
            shutil.rmtree(self._streams_dir / name, ignore_errors=True)
        return freed

    def statistics(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.root),
            "private": self.private,
            "bytes": self.bytes_used,
            "budget": self.disk_budget,
            "stale_bytes": sum(self._stale.values()),
            "streams": {sid: log.statistics() for sid, (log, _) in self._open.items()},
        }

    def close(self) -> None:
        """Close every log and release the lock; a private dir is removed."""
        for log, _ in self._open.values():
            log.close()
        self._open.clear()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
        if self.private:
            shutil.rmtree(self.root, ignore_errors=True)
