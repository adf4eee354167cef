"""``tailcast agent SOURCE...``: publish sources into Redis Streams (multi-host mode).

A thin entry: the agent itself is :func:`tailcast.multihost.roles.run_agent`.
"""

from __future__ import annotations

import asyncio

from tailcast.commands.lifecycle import install_signals
from tailcast.config import Config
from tailcast.errors import ConfigError
from tailcast.multihost.roles import run_agent

__all__ = ["agent_main"]


def agent_main(config: Config) -> int:
    """The whole of ``tailcast agent``: run until SIGINT/SIGTERM; the exit status."""
    if not config.sources:
        raise ConfigError("tailcast agent: no SOURCE given (see --help)")
    return asyncio.run(run_agent(config, install_signals))
