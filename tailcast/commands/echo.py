"""The terminal echo of ``tailcast run``: the command's output, copied to ours.

A :class:`TerminalEcho` is a bounded queue and one writer thread, so that a
slow terminal or pipe never blocks the event loop (the viewers keep being
served). When the queue is full the child's pipes stop being read, the way
``tee`` would hold it back — the terminal is the one reader that may.
Bytes go out as the command wrote them (colours included); a reader that goes
away (``| head``) ends the echo of that stream, not the serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["ECHO_DRAIN_TIMEOUT", "ECHO_HIGH", "ECHO_LOW", "TerminalEcho"]

# Echo queue: above HIGH bytes the child is held back, below LOW it goes on.
ECHO_HIGH = 1024 * 1024
ECHO_LOW = 256 * 1024
ECHO_DRAIN_TIMEOUT = 10.0


class TerminalEcho:
    """Copies of the child's output written to our stdout/stderr by one thread, in order.

    :meth:`write` is called on the event loop and never blocks; ``on_pressure``
    is called on the event loop with True when the queue passes
    :data:`ECHO_HIGH` bytes and with False when it is back under
    :data:`ECHO_LOW`.
    """

    def __init__(
        self,
        out: BinaryIO,
        err: BinaryIO,
        loop: asyncio.AbstractEventLoop,
        on_pressure: Callable[[bool], None],
    ) -> None:
        self._files = {"out": out, "err": err}
        self._loop = loop
        self._on_pressure = on_pressure
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, bytes]] = deque()
        self._bytes = 0
        self._paused = False
        self._resume_scheduled = False
        self._closed = False
        self._broken: set[str] = set()
        self._thread = threading.Thread(target=self._work, name="tailcast-echo", daemon=True)
        self._thread.start()

    def write(self, label: str, data: bytes) -> None:
        with self._cond:
            if self._closed:
                return
            self._queue.append((label, data))
            self._bytes += len(data)
            pause = self._bytes > ECHO_HIGH and not self._paused
            if pause:
                self._paused = True
            self._cond.notify()
        if pause:
            self._on_pressure(True)

    def _resume(self) -> None:  # on the event loop
        with self._cond:
            self._resume_scheduled = False
            resume = self._paused and self._bytes <= ECHO_LOW
            if resume:
                self._paused = False
        if resume:
            self._on_pressure(False)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                label, data = self._queue.popleft()
            if label not in self._broken:
                fh = self._files[label]
                try:
                    fh.write(data)
                    fh.flush()
                except (OSError, ValueError):
                    # Our reader went away (| head): stop echoing, keep serving.
                    self._broken.add(label)
            with self._cond:
                self._bytes -= len(data)
                wake = self._paused and self._bytes <= ECHO_LOW and not self._resume_scheduled
                if wake:
                    self._resume_scheduled = True
            if wake:
                with contextlib.suppress(RuntimeError):  # the loop is closed already
                    self._loop.call_soon_threadsafe(self._resume)

    def close(self, timeout: float = ECHO_DRAIN_TIMEOUT) -> None:
        """Write what is queued (bounded in time), then end the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)
