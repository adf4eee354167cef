"""What the long-running commands share: log setup, signals, the ``serving`` line.

``tailcast serve``, ``tailcast run`` and ``tailcast agent`` all log to stderr
the same way, end in order on the first SIGINT/SIGTERM and at once on the
second, and (the first two) raise the open-files limit
(:mod:`tailcast.commands.limits`) and print
``tailcast: serving N streams on URL`` (``1 stream``) once listening —
the line clients and acceptance checks parse.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

# Imported here, not looked up when needed: a forced exit must always be able
# to end the command groups, and spawn imports nothing of ours (no circle).
from tailcast.commands.limits import raise_nofile
from tailcast.errors import ConfigError
from tailcast.sources.process import spawn

if TYPE_CHECKING:
    from tailcast.server import Server

__all__ = ["install_signals", "setup_logging", "start_and_announce"]

# A shell's status for "ended by SIGINT" (128 + 2): what a forced exit returns.
FORCED_EXIT_STATUS = 130


def setup_logging(verbose: int) -> None:
    """Log to stderr: warnings by default, ``-v`` info, ``-vv`` debug."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="tailcast: %(levelname)s %(name)s: %(message)s"
    )


def install_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """First SIGINT/SIGTERM: ``stop()``, an orderly shutdown. A second one: exit at once."""
    count = 0

    def handler(signame: str) -> None:
        nonlocal count
        count += 1
        if count > 1:
            sys.stderr.write(f"tailcast: second {signame}, exiting now\n")
            # Commands must not outlive a forced exit: kill their groups now.
            spawn.kill_all_groups()
            os._exit(FORCED_EXIT_STATUS)
        stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handler, sig.name)


async def start_and_announce(server: Server) -> bool:
    """Listen, then print the ``serving`` line; print why and return False if it cannot.

    The open-files limit is raised first, so that the server sizes its
    connection limits (:mod:`tailcast.web.listen`) to the raised one.
    """
    config = server.config
    notes: list[str] = []
    raise_nofile(notes.append)
    try:
        url = await server.start()
    except ConfigError:
        await server.stop()
        raise
    except OSError as exc:
        await server.stop()
        print(
            f"tailcast: --host/--port: cannot listen on {config.host}:{config.port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return False
    n = len(server.hub.streams)
    # Word for word as the contract has it (additions 1.1: "1 stream",
    # "3 streams"): clients and acceptance checks parse this line.
    noun = "stream" if n == 1 else "streams"
    print(f"tailcast: serving {n} {noun} on {url}", file=sys.stderr, flush=True)
    for note in notes:  # after the serving line, which must come first
        logging.getLogger("tailcast.limits").info("%s", note)
    return True
