"""Multi-host mode, staying connected: the one reconnect loop both sides run.

:func:`reconnect_forever` is the loop: ``sync`` (find out where Redis stands),
then ``work`` until Redis fails; then back off and sync again, forever.
:class:`Link` is what the publisher and the mirror each hold: the client, the
task running that loop, the ``connected`` flag, and the outage bookkeeping
(``reconnects``, ``last_error``, one warning per outage and one when it ends),
so that the two sides differ only in what they sync and what work they do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn

from tailcast.multihost.client import connect, redact, redis_errors, redis_exceptions

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["BACKOFF", "CANCEL_RETRY", "Link", "reconnect_forever"]

# Seconds between attempts while Redis is away (the last one repeats).
BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0)
# How long a cancelled task may take before it is cancelled again (see Link.cancel).
CANCEL_RETRY = 0.5


async def reconnect_forever(
    connected: asyncio.Event,
    sync: Callable[[], Awaitable[None]],
    work: Callable[[], Awaitable[None]],
    on_back: Callable[[], None],
    on_error: Callable[[BaseException, bool], None],
) -> NoReturn:
    """``sync``, then ``work`` until Redis fails; back off, sync again; until cancelled.

    ``connected`` is set while synced. ``on_back`` runs once per reconnection;
    ``on_error(exc, outage_started)`` on every failure, ``outage_started``
    true only on the first of an outage (to log it and show it once). Errors
    other than :func:`~tailcast.multihost.client.redis_errors` and Redis's
    refusals end the loop.
    """
    # A refusal (WRONGTYPE at a key another program wrote, OOM, READONLY after
    # a failover) is an outage too: shown and retried with backoff until Redis
    # takes the command again, never the silent end of publishing or mirroring.
    errors = (*redis_errors(), redis_exceptions().ResponseError)
    attempt = 0
    while True:
        try:
            if not connected.is_set():
                await sync()
                connected.set()
                on_back()
            attempt = 0
            await work()
        except asyncio.CancelledError:
            raise
        except errors as exc:
            on_error(exc, connected.is_set())
            connected.clear()
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1


Step = Callable[["Redis"], Awaitable[None]]


class Link:
    """One side's connection to Redis at ``url``: ``start(sync, work)``, ``cancel()``, ``close()``.

    ``doing`` names the work in the log ("publishing", "mirroring");
    ``while_away`` says what happens meanwhile ("retrying"); ``on_outage``
    runs once per outage with the reason (the mirror shows it on its streams).
    """

    def __init__(
        self,
        url: str,
        log: logging.Logger,
        doing: str,
        while_away: str,
        on_outage: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.log = log
        self.doing = doing
        self.while_away = while_away
        self.on_outage = on_outage
        self.client: Redis | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self, sync: Step, work: Step) -> None:
        """Connect and ``sync`` once (raising on failure), then keep at it in a task."""
        client = self.client = connect(self.url)
        await sync(client)
        self.connected.set()
        self._task = asyncio.create_task(self._run(client, sync, work), name=f"redis-{self.doing}")

    async def _run(self, client: Redis, sync: Step, work: Step) -> None:
        await reconnect_forever(
            self.connected, lambda: sync(client), lambda: work(client), self._back, self._error
        )

    def _back(self) -> None:
        self.reconnects += 1
        self.log.warning("redis %s is back: %s resumed", redact(self.url), self.doing)

    def _error(self, exc: BaseException, outage_started: bool) -> None:
        if outage_started:
            self.log.warning(
                "redis %s unreachable (%s): %s", redact(self.url), exc, self.while_away
            )
            if self.on_outage is not None:
                self.on_outage(str(exc))
        self.last_error = str(exc)

    async def cancel(self) -> None:
        """End the task (the client stays open: a last word may still be sent).

        Cancelled again until it ends: redis-py writes through
        ``asyncio.wait_for``, which on Python < 3.12 returns the write's result
        and drops the cancellation when the write completes in the same loop
        turn as the cancel (CPython gh-86296). Seen under load: the task went
        on pinging and ``stop()`` never returned.
        """
        task = self._task
        if task is not None:
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=CANCEL_RETRY)
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._task = None

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.aclose()
            self.client = None
