"""Multi-host mode, the two roles: ``tailcast agent`` and a web node's Redis side.

- :class:`Agent` (``tailcast agent --redis URL SOURCE...``): the sources run into a
  hub of their own, which :class:`~tailcast.multihost.publisher.Publisher` publishes.
  No web server, no clients.
- :class:`WebNode` (``tailcast serve --redis URL [SOURCE...]``): the server's hub
  mirrors every stream in Redis (:class:`~tailcast.multihost.mirror.Mirror`); the
  node's own sources, if any, run into a second hub that is published like an
  agent's, and come back through Redis like every other stream, so every web
  node numbers them alike.

Start order: check the URL and reach Redis once (a wrong URL or password is a
``ConfigError``: exit status 2 naming ``--redis``), register what is published,
mirror what is there, then run. Stop order: sources first (by the caller),
then the publisher (publishing what is pending, bounded), then the mirror.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tailcast.config import Config
from tailcast.errors import ConfigError
from tailcast.history.store import HistoryStore
from tailcast.hub import Hub
from tailcast.multihost.client import check_reachable, check_url, redact
from tailcast.multihost.mirror import Mirror
from tailcast.multihost.publisher import LINGER, Publisher
from tailcast.protocol.redact import Redactor
from tailcast.sources import build_source
from tailcast.sources.base import Source, start_sources, stop_sources

__all__ = ["Agent", "WebNode", "run_agent"]

log = logging.getLogger("tailcast.redis")


class WebNode:
    """The Redis side of a web node: a mirror into ``hub``, and a publisher for ``local``."""

    def __init__(self, url: str, hub: Hub, local: Hub | None = None) -> None:
        check_url(url)
        self.url = url
        self.publisher = Publisher(url, local) if local is not None else None
        self.mirror = Mirror(url, hub, local)

    async def start(self) -> None:
        await check_reachable(self.url)
        if self.publisher is not None:
            await self.publisher.start()
        await self.mirror.start()

    async def stop(self) -> None:
        if self.publisher is not None:
            await self.publisher.stop()
        await self.mirror.stop()

    def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"mirror": self.mirror.statistics()}
        if self.publisher is not None:
            stats["publisher"] = self.publisher.statistics()
        return stats


class Agent:
    """Sources -> local hub -> Redis. ``await start()``, then ``await stop()``.

    With ``--data-dir`` the hub's history is on disk
    (:class:`~tailcast.history.store.HistoryStore`): a restarted agent goes on
    with each stream's epoch and numbering, and what it kept while Redis was
    away (or while it was down, for a file it resumes) is published when it
    can be, from where Redis stands. Without, the history is in memory and a
    restart is a new epoch.
    """

    def __init__(self, config: Config, sources: list[Source] | None = None) -> None:
        # Lines wait up to the publisher's linger for their round trip anyway:
        # a file source that stepped more often would only cost more.
        config = dataclasses.replace(config, file_step=max(config.file_step, LINGER))
        if not config.redis:
            raise ConfigError("tailcast agent: --redis URL is required", option="redis")
        check_url(config.redis)
        self.config = config
        self.store = (
            HistoryStore.open(
                Path(config.data_dir),
                disk_budget=config.disk_budget,
                max_lines=config.history,
                max_bytes=config.history_bytes,
            )
            if config.data_dir
            else None
        )
        # Redaction happens here, on the agent: web nodes get lines already redacted.
        self.hub = Hub(
            config.history,
            store=self.store,
            history_bytes=config.history_bytes,
            redactor=Redactor(config.redact, secrets=config.redact_secrets),
        )
        try:
            self.sources = (
                sources
                if sources is not None
                else [build_source(spec, self.hub, config) for spec in config.sources]
            )
        except BaseException:
            self.close_store()
            raise
        self.publisher = Publisher(config.redis, self.hub)
        self._tasks: list[asyncio.Task[None]] = []

    def close_store(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    async def start(self) -> None:
        assert self.config.redis is not None
        await check_reachable(self.config.redis)
        await self.publisher.start()
        self._tasks = start_sources(self.sources)

    async def stop(self) -> None:
        await stop_sources(self._tasks, self.sources)
        await self.publisher.stop()
        self.close_store()

    def statistics(self) -> dict[str, Any]:
        return {
            "hub": self.hub.statistics(),
            "publisher": self.publisher.statistics(),
            "sources": [s.statistics() for s in self.sources],
        }


async def run_agent(
    config: Config, install_signals: Callable[[asyncio.AbstractEventLoop, Callable[[], None]], None]
) -> int:
    """``tailcast agent``: run until SIGINT/SIGTERM; print one line once publishing."""
    agent = Agent(config)
    stop = asyncio.Event()
    install_signals(asyncio.get_running_loop(), stop.set)
    try:
        await agent.start()
    except BaseException:
        await agent.stop()
        raise
    n = len(agent.hub.streams)
    assert config.redis is not None
    print(
        f"tailcast: agent publishing {n} stream{'s' if n != 1 else ''} to {redact(config.redis)}",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    await agent.stop()
    return 0
