"""``tailcast [serve] SOURCE...``: serve the sources until SIGINT/SIGTERM.

With ``--redis`` the server is a web node of multi-host mode and may have no
sources of its own; without it, no source is a usage error.
"""

from __future__ import annotations

import asyncio

from tailcast.commands.lifecycle import install_signals, start_and_announce
from tailcast.config import Config
from tailcast.errors import ConfigError
from tailcast.server import Server

__all__ = ["serve", "serve_main"]


def serve_main(config: Config) -> int:
    """The whole of ``tailcast serve``: check what the config lacks, serve; the exit status."""
    if config.redis:
        # Only the multi-host modules need redis-py; loaded only with --redis.
        from tailcast.multihost.client import check_url

        check_url(config.redis)  # a web node may have no sources of its own
    elif not config.sources:
        raise ConfigError("no SOURCE given (try: tailcast /var/log/syslog, or see --help)")
    return asyncio.run(serve(config))


async def serve(config: Config) -> int:
    """Run a server until SIGINT/SIGTERM; print the ``serving`` line once listening."""
    server = Server(config)
    stop = asyncio.Event()
    install_signals(asyncio.get_running_loop(), stop.set)
    if not await start_and_announce(server):
        return 2
    await stop.wait()
    await server.stop()
    return 0
