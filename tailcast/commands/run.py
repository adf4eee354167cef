"""``tailcast run [OPTIONS] -- COMMAND ARG...``: one command, served and echoed.

The server starts with one process stream (plus any ``[[source]]`` of
``--config``), prints ``tailcast: serving 1 stream on URL`` on stderr (the
contract's exact words), and echoes the command's stdout to our stdout and
its stderr to our stderr, byte for byte (colours included). When the command
ends, the server keeps serving for ``--linger`` seconds so the page can still
be read, then exits with the command's status (128+N when a signal N killed
it; 2 when it could not start).
SIGINT/SIGTERM end the command (SIGTERM to its group, grace, SIGKILL) and
then tailcast, with the command's status.

With ``--redis URL`` there is no web server: the command's output is
published like an agent's (:class:`~tailcast.multihost.roles.Agent`), for the
web nodes to serve; the echo and the exit status are the same, and what is
pending is published (bounded wait) before tailcast exits.

The echo is a :class:`~tailcast.commands.echo.TerminalEcho`, which never
blocks the event loop and holds the command back when the terminal is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path
from typing import Any

from tailcast.commands.echo import TerminalEcho
from tailcast.commands.lifecycle import install_signals, start_and_announce
from tailcast.config import Config, SourceSpec, build_config
from tailcast.errors import ConfigError
from tailcast.hub import Hub
from tailcast.server import Server
from tailcast.sources import build_source
from tailcast.sources.base import Source
from tailcast.sources.process.source import ProcessSource

__all__ = ["run_main"]


def _spec(ns: argparse.Namespace) -> SourceSpec:
    """The process source of ``COMMAND ARG...`` (named ``--name`` or after the program)."""
    argv = list(ns.command or [])
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise ConfigError("run: no COMMAND given (e.g. tailcast run -- make -j8)")
    name = ns.name
    return SourceSpec(
        f"cmd:{shlex.join(argv)}",
        "process",
        name or Path(argv[0]).name or argv[0],
        argv=tuple(argv),
        named=name is not None,
    )


def run_main(ns: argparse.Namespace, settings: dict[str, Any]) -> int:
    """The whole of ``tailcast run``: returns the exit status (see the module docstring)."""
    spec = _spec(ns)
    config = build_config(settings, [], config_file=ns.config, extra_sources=[spec])
    return asyncio.run(_run(config, spec))


def _command_source(
    config: Config, spec: SourceSpec, hub: Hub, sources: list[Source]
) -> ProcessSource:
    """The sources of --config first, in their order, then the command's (returned)."""
    sources.extend(build_source(s, hub, config) for s in config.sources if s is not spec)
    source = ProcessSource(spec, hub, config)
    source.log_errors = False  # we say it ourselves, once, at the end
    source.retry_failed_start = False
    sources.append(source)
    return source


async def _start_agent(agent: Any, config: Config) -> bool:
    """``--redis``: start publishing and say so (``False``: exit 2, said on stderr)."""
    from tailcast.multihost.client import redact

    try:
        await agent.start()
    except ConfigError as exc:
        await agent.stop()
        print(f"tailcast: {exc}", file=sys.stderr, flush=True)
        return False
    n = len(agent.hub.streams)
    assert config.redis is not None
    print(
        f"tailcast: publishing {n} stream{'s' if n != 1 else ''} to {redact(config.redis)}",
        file=sys.stderr,
        flush=True,
    )
    return True


async def _run(config: Config, spec: SourceSpec) -> int:
    """Serve (or publish), echo, wait for the command (and ``--linger``) or a signal."""
    loop = asyncio.get_running_loop()
    server: Any
    if config.redis:
        from tailcast.multihost.roles import Agent

        server = Agent(config, sources=[])
        source = _command_source(config, spec, server.hub, server.sources)
    else:
        server = Server(config, sources=[])
        source = _command_source(config, spec, server.hub, server.sources)
    echo = TerminalEcho(sys.stdout.buffer, sys.stderr.buffer, loop, source.pause_reading)
    source.echo = echo.write
    stop = asyncio.Event()
    install_signals(loop, stop.set)
    # The serving line is printed before the loop runs again, so before the
    # first echoed byte.
    if config.redis:
        started = await _start_agent(server, config)
    else:
        started = await start_and_announce(server)
    if not started:
        echo.close()
        return 2
    finished = asyncio.ensure_future(source.finished.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if finished.done() and not stopped.done() and config.linger > 0:
            await asyncio.wait({stopped}, timeout=config.linger)
    finally:
        finished.cancel()
        stopped.cancel()
        await server.stop()
        await asyncio.to_thread(echo.close)
    if source.error is not None and source.returncode is None:
        print(f"tailcast: {source.error}", file=sys.stderr, flush=True)
    return source.exit_status
