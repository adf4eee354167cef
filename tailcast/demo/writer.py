"""The demo's writer: keeps appending realistic lines to the sample logs.

It behaves like the programs that write real logs: each line is appended
with one ``write`` (a build step may leave a line unfinished for a moment),
a new log file appears a little later (a second service starting, a new
match of the demo's glob), and a file that grows past ``max_bytes`` is
rotated the way logrotate does (rename, then a new file), so disk use stays
bounded however long the demo runs.

It stops on SIGINT/SIGTERM, and by itself when its parent (the demo runner)
is gone, so that it is never left running.
"""

from __future__ import annotations

import heapq
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tailcast.demo.fake import BuildChunk, access_line, app_line, build_steps

__all__ = ["ACCESS_LOG", "APP_LOG", "BUILD_LOG", "NEW_LOG", "Writer"]

ACCESS_LOG = "access.log"
BUILD_LOG = "build.log"
APP_LOG = "app.jsonl"
# Created by the writer after a while: a new match of the demo's '*.jsonl' glob.
NEW_LOG = "worker.jsonl"


class _Log:
    """One appended file, rotated past ``max_bytes`` (renamed to NAME.1)."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
        self.size = self.fh.tell()
        self.rotations = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.fh.write(text)
        self.fh.flush()
        self.size += len(data)
        # Rotate only at a line end, as logrotate's create mode effectively does.
        if self.size >= self.max_bytes and text.endswith("\n"):
            self.fh.close()
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self.size = 0
            self.rotations += 1

    def close(self) -> None:
        self.fh.close()


class Writer:
    """Appends to ``folder``'s demo logs on a schedule; :meth:`run` until stopped.

    ``speed`` scales every rate (2.0 = twice as many lines per second).
    """

    def __init__(
        self,
        folder: Path,
        *,
        seed: int | None = None,
        speed: float = 1.0,
        new_file_after: float = 15.0,
        max_bytes: int = 20 * 1024 * 1024,
        parent: int | None = None,
    ) -> None:
        self.folder = folder
        self.rng = random.Random(seed)
        self.speed = speed
        self.new_file_after = new_file_after
        self.max_bytes = max_bytes
        self.parent = parent
        self.lines = 0
        self._logs: dict[str, _Log] = {}
        self._queue: list[tuple[float, int, Callable[[float], float | None]]] = []
        self._order = 0
        self._build: Iterator[BuildChunk] | None = None
        self._build_number = 100

    def _log(self, name: str) -> _Log:
        if name not in self._logs:
            self._logs[name] = _Log(self.folder / name, self.max_bytes)
        return self._logs[name]

    def _at(self, when: float, task: Callable[[float], float | None]) -> None:
        self._order += 1  # ties keep their order, and tasks are never compared
        heapq.heappush(self._queue, (when, self._order, task))

    # Each task writes, then returns the delay until its next run (None: done).

    def _access(self, now: float) -> float:
        # Bursts: a page view fetches several resources at once.
        for _ in range(1 if self.rng.random() < 0.7 else self.rng.randint(2, 6)):
            self._log(ACCESS_LOG).write(access_line(self.rng, time.time()) + "\n")
            self.lines += 1
        return self.rng.expovariate(2.5 * self.speed)

    def _app(self, name: str, service: str, rate: float) -> Callable[[float], float]:
        def task(now: float) -> float:
            self._log(name).write(app_line(self.rng, time.time(), service) + "\n")
            self.lines += 1
            return self.rng.expovariate(rate * self.speed)

        return task

    def _new_service(self, now: float) -> None:
        self._at(now, self._app(NEW_LOG, "shop-worker", 0.7))

    def _build_step(self, now: float) -> float:
        if self._build is None:
            self._build_number += 1
            self._build = build_steps(self.rng, self._build_number)
        chunk = next(self._build, None)
        if chunk is None:
            self._build = None
            self._log(BUILD_LOG).write("\n")
            return self.rng.uniform(8.0, 20.0) / self.speed
        self._log(BUILD_LOG).write(chunk.text)
        self.lines += chunk.text.count("\n")
        return chunk.pause / self.speed

    def step(self) -> float:
        """Run every task that is due; return how long until the next one."""
        now = time.monotonic()
        while self._queue and self._queue[0][0] <= now:
            _, _, task = heapq.heappop(self._queue)
            delay = task(now)
            if delay is not None:
                self._at(now + delay, task)
        return max(0.0, self._queue[0][0] - time.monotonic()) if self._queue else 1.0

    def start(self) -> None:
        now = time.monotonic()
        self._at(now, self._access)
        self._at(now, self._app(APP_LOG, "shop-api", 1.5))
        self._at(now + 1.0, self._build_step)
        self._at(now + self.new_file_after, self._new_service)

    def run(self, duration: float | None = None) -> int:
        """Write until interrupted, the parent is gone, or ``duration`` seconds passed."""
        self.start()
        end = None if duration is None else time.monotonic() + duration
        try:
            while end is None or time.monotonic() < end:
                if self.parent is not None and os.getppid() != self.parent:
                    break  # the demo runner died without stopping us
                # Pacing, not synchronisation: a log writer writes at its own rate.
                # Sleep in short slices so a vanished parent is noticed quickly.
                time.sleep(min(self.step(), 0.5))
        except KeyboardInterrupt:
            pass
        finally:
            for log in self._logs.values():
                log.close()
        return 0
