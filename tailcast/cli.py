"""The command line: ``tailcast serve|run|watch|agent|share``; ``main(argv) -> int``.

A bad option or source exits with status 2 and one line naming it. Settings
come from the command line over ``TAILCAST_*`` variables over ``--config``
over defaults (:mod:`tailcast.config`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from tailcast import __version__
from tailcast.config import build_config
from tailcast.errors import ConfigError

__all__ = ["build_parser", "console_main", "main"]

COMMANDS = ("serve", "run", "watch", "agent", "share")

SOURCES_HELP = """\
sources (an optional NAME= prefix names the stream):
  PATH                 a file, followed like tail -F (it may not exist yet)
  'GLOB'               one stream per match, later matches included
  cmd:COMMAND          a process; split like a shell would, never run by one
  docker:NAME_OR_ID    one container's logs; docker:* every container;
                       docker:label=KEY=VALUE those with a label
  journal:             the systemd journal; journal:UNIT one unit's entries
                       (nginx, cron.timer); journal:FIELD=VALUE a match
                       (SYSLOG_IDENTIFIER=sshd)
  -                    standard input
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tailcast: {message} (see 'tailcast {self.prog.split()[-1]} --help')\n")


def _add_watch_filter_options(watch: argparse.ArgumentParser) -> None:
    """``watch``'s server-side filter and ``--json`` (protocol additions 1.1)."""
    watch.add_argument(
        "--filter", metavar="TEXT", help="only lines containing TEXT (the server filters)"
    )
    watch.add_argument("--regex", action="store_true", help="--filter is an RE2 pattern")
    watch.add_argument(
        "--level",
        action="append",
        metavar="LEVEL",
        help="only lines of this level: fatal, error, warn, info, debug, trace (repeatable)",
    )
    watch.add_argument(
        "--json", action="store_true", help="print each line as one JSON object, with its stream"
    )


def _add_server_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("server")
    g.add_argument("--host", help="address to bind (default 127.0.0.1)")
    g.add_argument("--port", help="port (default 8080; 0 picks a free one)")
    g.add_argument(
        "--base-path",
        dest="base_path",
        metavar="PATH",
        help="serve under this URL path, e.g. /logs/ behind a proxy",
    )
    g.add_argument("--tls-cert", dest="tls_cert", metavar="FILE", help="TLS certificate (PEM)")
    g.add_argument("--tls-key", dest="tls_key", metavar="FILE", help="TLS private key (PEM)")
    g.add_argument("--token", help="require this token (better: TAILCAST_TOKEN)")
    g.add_argument(
        "--token-file",
        dest="token_file",
        metavar="FILE",
        help="read the token from FILE once at start (one line)",
    )
    g.add_argument(
        "--trust-proxy",
        dest="trust_proxy",
        action="store_const",
        const=True,
        help="believe X-Forwarded-Proto/-Host from the reverse proxy in front",
    )
    g.add_argument(
        "--allow-origin",
        dest="allow_origin",
        action="append",
        metavar="ORIGIN",
        help="also accept browser connections from ORIGIN (repeatable)",
    )
    g.add_argument(
        "--allow-control",
        dest="allow_control",
        action="store_const",
        const=True,
        help="allow POST /api/streams/ID/restart|stop for processes",
    )
    g.add_argument(
        "--max-clients",
        dest="max_clients",
        metavar="N",
        help="refuse clients beyond N with 503 (default 1000)",
    )
    g.add_argument(
        "--max-frame",
        dest="max_frame",
        metavar="BYTES",
        help="largest client WebSocket frame; larger closes with 1009 (default 65536)",
    )
    g.add_argument(
        "--max-subscriptions",
        dest="max_subscriptions",
        metavar="N",
        help="streams one WebSocket client may name (default 1000)",
    )
    g.add_argument(
        "--max-body",
        dest="max_body",
        metavar="BYTES",
        help="largest request body; larger is 413 (default 65536)",
    )
    g.add_argument(
        "--queue-bytes",
        dest="queue_bytes",
        metavar="BYTES",
        help="per-client send queue; past it the client reads on from the history (default 4 MiB)",
    )
    g.add_argument(
        "--header-timeout",
        dest="header_timeout",
        metavar="SECONDS",
        help="a request's headers (and body) must arrive within this (default 10)",
    )
    g.add_argument(
        "--idle-timeout",
        dest="idle_timeout",
        metavar="SECONDS",
        help="close a keep-alive connection idle this long (default 30)",
    )
    g.add_argument(
        "--max-pending",
        dest="max_pending",
        metavar="N",
        help="connections per address without a trusted request; the oldest beyond go (default 32)",
    )
    g.add_argument(
        "--heartbeat",
        metavar="SECONDS",
        help="WebSocket ping interval to detect dead peers (default 30)",
    )
    g = p.add_argument_group("sources")
    g.add_argument("--history", metavar="N", help="lines kept per stream (default 1000000)")
    g.add_argument(
        "--history-bytes",
        dest="history_bytes",
        metavar="BYTES",
        help="bytes kept per stream (default 256 MiB)",
    )
    g.add_argument(
        "--disk-budget",
        dest="disk_budget",
        metavar="BYTES",
        help="all streams' history together; the largest lose their oldest first (default 2 GiB)",
    )
    g.add_argument(
        "--data-dir",
        dest="data_dir",
        metavar="DIR",
        help="keep the history here, across restarts (default: a private folder, removed at exit)",
    )
    g.add_argument("--lines", metavar="N", help="initial backlog read from a file (default 100)")
    g.add_argument(
        "--max-line",
        dest="max_line",
        metavar="BYTES",
        help="split longer lines into cont pieces (default 65536)",
    )
    g.add_argument(
        "--flush-delay",
        dest="flush_delay",
        metavar="SECONDS",
        help="show a partial line after this much quiet (default 0.25)",
    )
    g.add_argument(
        "--poll",
        action="store_const",
        const=True,
        help="poll files instead of inotify (network filesystems)",
    )
    g.add_argument(
        "--poll-interval",
        dest="poll_interval",
        metavar="SECONDS",
        help="with --poll: how often (default 0.5)",
    )
    g.add_argument(
        "--pty",
        action="store_const",
        const=True,
        help="run commands on a pseudo-terminal (stdout and stderr merge)",
    )
    g.add_argument(
        "--restart",
        choices=("no", "on-failure", "always"),
        help="restart policy for commands (default no)",
    )
    g.add_argument(
        "--docker-host",
        dest="docker_host",
        metavar="URL",
        help="Docker API (default $DOCKER_HOST, else unix:///var/run/docker.sock)",
    )
    g.add_argument("--redis", metavar="URL", help="multi-host mode through Redis Streams")
    g.add_argument(
        "--journal-dir",
        dest="journal_dir",
        metavar="DIR",
        help="journal: sources read the journal files in DIR (journalctl -D)",
    )
    g.add_argument(
        "--redact",
        action="append",
        metavar="REGEX",
        help="replace what REGEX (RE2) matches with [REDACTED] before a line is kept (repeatable)",
    )
    g.add_argument(
        "--redact-secrets",
        dest="redact_secrets",
        action="store_const",
        const=True,
        help="redact passwords in URLs, Authorization values, bearer tokens, JWTs, AWS keys, "
        "password=/secret=/token= values and private keys",
    )
    p.add_argument("--config", metavar="FILE", help="TOML file: the same settings, [[source]]")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def build_parser() -> dict[str, argparse.ArgumentParser]:
    """One parser per command (tests compare their help with the README)."""
    fmt = argparse.RawDescriptionHelpFormatter
    serve = _Parser(
        prog="tailcast serve",
        formatter_class=fmt,
        epilog=SOURCES_HELP,
        description="Serve sources live to browsers and terminals. "
        "'tailcast SOURCE...' is the same as 'tailcast serve SOURCE...'. "
        "Other commands: tailcast run, tailcast watch, tailcast agent, tailcast share.",
    )
    serve.add_argument("sources", nargs="*", metavar="SOURCE")
    _add_server_options(serve)
    serve.add_argument("--version", action="version", version=f"tailcast {__version__}")

    run = _Parser(
        prog="tailcast run",
        formatter_class=fmt,
        usage="tailcast run [OPTIONS] -- COMMAND [ARG...]",
        description="Run one command, broadcast its output, echo it to the terminal "
        "and exit with its status.",
    )
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    run.add_argument(
        "--linger", metavar="SECONDS", help="keep serving this long after the command ends"
    )
    run.add_argument("--name", help="stream name (default: the command's name)")
    _add_server_options(run)

    watch = _Parser(
        prog="tailcast watch",
        formatter_class=fmt,
        description="Print a server's lines as they arrive; resumes after reconnects.",
    )
    watch.add_argument("url", metavar="URL", help="the server, e.g. http://127.0.0.1:8080/")
    watch.add_argument(
        "--stream",
        action="append",
        metavar="ID",
        help="follow this stream (repeatable; default every stream)",
    )
    watch.add_argument(
        "--tail", default="10", metavar="N", help="lines of backlog to print first (default 10)"
    )
    watch.add_argument("--token", help="token (better: TAILCAST_TOKEN)")
    watch.add_argument(
        "--no-prefix", action="store_true", help="never prefix lines with their stream id"
    )
    _add_watch_filter_options(watch)

    agent = _Parser(
        prog="tailcast agent",
        formatter_class=fmt,
        epilog=SOURCES_HELP,
        description="Publish sources into Redis Streams for web nodes (multi-host).",
    )
    agent.add_argument("sources", nargs="*", metavar="SOURCE")
    _add_server_options(agent)
    return {"serve": serve, "run": run, "watch": watch, "agent": agent, "share": _share_parser()}


def _share_parser() -> argparse.ArgumentParser:
    share = _Parser(
        prog="tailcast share",
        description="Print a link that lets someone read some streams for a while "
        "(the owner's token comes from TAILCAST_TOKEN).",
    )
    share.add_argument(
        "--url",
        required=True,
        help="the server, e.g. https://logs.example.com/ (as the reader sees it)",
    )
    share.add_argument(
        "--stream",
        action="append",
        metavar="ID",
        help="a stream to share (repeatable)",
    )
    share.add_argument(
        "--expires",
        default="1h",
        metavar="DURATION",
        help="how long it works: 90s, 30m, 2h, 1d (default 1h)",
    )
    share.add_argument(
        "--list",
        action="store_true",
        help="print the live shares instead (id, streams, expiry; one a line)",
    )
    share.add_argument("--revoke", metavar="ID", help="end the share ID at once instead")
    return share


def _settings(ns: argparse.Namespace) -> dict[str, Any]:
    """The options that are settings (for :func:`~tailcast.config.build_config`), by name."""
    skip = {"sources", "config", "verbose", "command", "name", "version"}
    return {k: v for k, v in vars(ns).items() if k not in skip}


def main(argv: Sequence[str] | None = None) -> int:
    """The whole command line; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = "serve"
    if args and args[0] in COMMANDS:
        command = args.pop(0)
    parser = build_parser()[command]
    try:
        ns = parser.parse_args(args)
    except SystemExit as exc:
        # --help, --version or a usage error (already printed): a status, not
        # an exception, so that main() keeps its "returns the status" contract.
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return _dispatch(command, ns)
    except ConfigError as exc:
        print(f"tailcast: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(command: str, ns: argparse.Namespace) -> int:
    """Hand the parsed arguments to their command (imported only when it runs).

    No ImportError is caught here or in :func:`main`: the one optional
    dependency, redis-py, is reported as a ConfigError where it is imported
    (:mod:`tailcast.redis_link`); any other missing module is a bug and must
    show as one, not as "not available in this build".
    """
    if command == "watch":
        from tailcast.commands.watch import watch_main

        return watch_main(ns)
    if command == "share":
        from tailcast.commands.share import share_main

        return share_main(ns)
    from tailcast.commands.lifecycle import setup_logging

    setup_logging(ns.verbose)
    if command == "run":
        from tailcast.commands.run import run_main

        return run_main(ns, _settings(ns))
    config = build_config(_settings(ns), ns.sources, config_file=ns.config)
    if command == "agent":
        from tailcast.commands.agent import agent_main

        return agent_main(config)
    from tailcast.commands.serve import serve_main

    return serve_main(config)


def console_main() -> None:
    """The ``tailcast`` console script (and ``python -m tailcast``)."""
    sys.exit(main())
