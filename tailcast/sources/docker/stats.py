"""``/api/streams/ID/stats`` for a container: its CPU and memory, asked of the engine.

Each provider implements :class:`tailcast.hub.StatsProvider`; the figures are
computed by :mod:`tailcast.protocol.engine_stats`. A failure is an answer
with an ``error`` (the stats route never fails because the engine did).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

from tailcast.errors import SourceError
from tailcast.protocol.engine_stats import (
    figures,
    has_cpu,
    precpu_missing,
    sample_pair,
    unavailable,
)
from tailcast.sources.docker.engine import REQUEST_TIMEOUT, Engine

__all__ = ["STATS_REUSE", "ContainerStats", "NoContainerStats"]

# A stats sample older than this is not used as the "before" of a CPU delta.
STATS_REUSE = 10.0


class ContainerStats:
    """The stats of one container (by id); it keeps its last sample for the next CPU delta."""

    def __init__(self, engine: Engine, container_id: str) -> None:
        self.engine = engine
        self.container_id = container_id
        # (time.monotonic(), cpu_stats) of the last sample taken.
        self._before: tuple[float, Mapping[str, Any]] | None = None

    async def __call__(self) -> dict[str, Any]:
        path = f"/containers/{self.container_id}/stats"
        try:
            stats = await self.engine.get_json(path, {"stream": "false"})
            if not has_cpu(stats):
                return unavailable("no stats: the container is not running")
            pre = None
            if precpu_missing(stats):
                # Podman leaves precpu empty: use our last sample if it is
                # recent, otherwise take a second one now.
                before = self._before
                if before is not None and time.monotonic() - before[0] < STATS_REUSE:
                    pre = before[1]
                else:
                    pre, stats = await self._two_samples(path, stats)
            self._before = (time.monotonic(), stats.get("cpu_stats") or {})
        except (SourceError, TimeoutError, ValueError) as exc:
            return unavailable(str(exc) or "stats timed out")
        return figures(stats, pre)

    async def _two_samples(
        self, path: str, first: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """Two samples at the engine's own interval (``stream=true``, about 1 s):
        back-to-back one-shot samples are too close for the kernel's counters."""
        samples: list[dict[str, Any]] = []
        async with (
            asyncio.timeout(REQUEST_TIMEOUT),
            self.engine.request(path, {"stream": "true"}) as resp,
        ):
            async for raw in resp.content:
                if raw.strip():
                    samples.append(json.loads(raw))
                if len(samples) == 2:
                    break
        return sample_pair(first, samples)


class NoContainerStats:
    """The stats of ``docker:NAME`` before a container of that name was found."""

    def __init__(self, selector: str) -> None:
        self.selector = selector

    async def __call__(self) -> dict[str, Any]:
        return unavailable(f"container {self.selector} not found yet")
