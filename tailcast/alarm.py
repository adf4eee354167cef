"""A loop's "nothing happened for a while" timeout, at the cost of a timer per expiry.

A task that waits for a wake-up and must also act when none comes for some
seconds (a file source's safety look, a publisher's heartbeat) would naturally
wrap each wait in ``asyncio.timeout``: a timer made and cancelled on every
wait. A busy agent waits some hundred times a second, and those timers were a
tenth of its CPU (entering, rescheduling and leaving the context; the loop's
heap of cancelled timers). :class:`Alarm` keeps one timer: arming it again
only moves its deadline, and when the timer comes before the deadline it
sets itself again for the rest.

No import of tailcast here: sources and the multi-host publisher both use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Alarm"]


class Alarm:
    """Calls ``ring()`` (once) when ``timeout`` seconds pass after the last ``arm``."""

    def __init__(self, ring: Callable[[], None]) -> None:
        self._ring = ring
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(self, timeout: float) -> None:
        """Ring ``timeout`` seconds from now, unless armed again before."""
        loop = asyncio.get_running_loop()
        at = loop.time() + timeout
        self._deadline = at
        handle = self._handle
        if handle is not None:
            if handle.when() <= at:
                return  # it comes first, finds the later deadline and waits on
            handle.cancel()  # a shorter timeout than before
        self._handle = loop.call_at(at, self._expired)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expired(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._handle = loop.call_at(self._deadline, self._expired)
            return
        self._handle = None
        self._ring()
