"""``tailcast watch URL``: a terminal client of protocol v1.

Prints every line as it arrives (to a terminal or a pipe), prefixed with its
stream id when several streams are followed; stderr lines are marked
``[ID:err]``. Pieces of a split line that arrive together are joined; a
partial line's later continuation is printed on a line of its own. After a
dropped connection it reconnects with backoff (0.5 s doubling to 30 s) and
resumes with ``since``, so nothing is printed twice or skipped; a stream
whose epoch changed (the server restarted) starts over from its backlog, with
a note on stderr. When its own reader goes away (``| head -3``) it ends at
once, with status 0 and no message.

``--filter TEXT`` (``--regex``: an RE2 pattern) and ``--level LEVEL`` are sent
as the subscription's ``filter``: the server sends only the lines that pass.
``--json`` prints each LINE as one JSON object with its ``stream`` (for ``jq``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from tailcast.errors import ConfigError, ServerRefused
from tailcast.protocol import wire
from tailcast.protocol.filters import BadFilter, compile_filter, parse_filter

__all__ = ["Watcher", "watch_main", "ws_url"]

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


def ws_url(url: str) -> str:
    """``http://host:port/base/`` (or ws://...) -> ``ws://host:port/base/ws``."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ConfigError(f"URL: {url!r} is not an http(s):// or ws(s):// URL")
    path = parts.path or "/"
    if not path.endswith("/ws"):
        path = path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


@dataclass
class Watcher:
    """One ``tailcast watch``: connect, print, reconnect and resume until refused."""

    url: str
    streams: list[str] | None
    tail: int
    token: str | None = None
    prefix: bool = True
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    positions: dict[str, int] = field(default_factory=dict)
    epochs: dict[str, str] = field(default_factory=dict)
    line_filter: dict[str, Any] | None = None  # subscribe's "filter"
    as_json: bool = False
    _open_line: str | None = None  # stream whose last piece has no newline yet
    _many: bool = False

    async def run(self) -> int:
        delay = BACKOFF_START
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                try:
                    await self._connect(session)
                    delay = BACKOFF_START
                except BrokenPipeError:
                    # Our reader went away (``| head -3``), not the server: no
                    # retry can help. watch_main ends quietly; an OSError below
                    # would retry forever.
                    raise
                except ServerRefused as exc:
                    self._end_line()
                    self.err.write(f"tailcast watch: {exc}\n")
                    return exc.status
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    self._end_line()
                    self.err.write(
                        f"tailcast watch: {type(exc).__name__}: {exc}; retrying in {delay:g}s\n"
                    )
                self.err.flush()
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def _connect(self, session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(
            self.url, protocols=(wire.SUBPROTOCOL,), heartbeat=30, max_msg_size=0, autoping=True
        ) as ws:
            got_hello = False
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                kind = frame.get("type")
                if kind == "hello":
                    got_hello = True
                    await ws.send_str(json.dumps(self._subscription(frame["streams"])))
                elif kind == "lines":
                    self._lines(frame["stream"], frame["lines"])
                elif kind == "gap":
                    self._end_line()
                    self.err.write(
                        f"tailcast watch: {frame['stream']}: lines "
                        f"{frame['from']}..{frame['to']} skipped\n"
                    )
                    self.positions[frame["stream"]] = max(
                        self.positions.get(frame["stream"], 0), frame["to"]
                    )
                elif kind == "status":
                    self._status(frame)
                elif kind == "streams":
                    for info in frame["streams"]:
                        self.epochs.setdefault(info["id"], info["epoch"])
                elif kind == "error":
                    self.err.write(f"tailcast watch: server says: {frame.get('message')}\n")
                self.out.flush()
            code = ws.close_code
            if code == wire.CLOSE_NOT_AUTHENTICATED:
                raise ServerRefused("not authenticated (set TAILCAST_TOKEN or --token)", 3)
            if code == wire.CLOSE_UNKNOWN_STREAM:
                reason = ws.extra.get("reason") if hasattr(ws, "extra") else None
                raise ServerRefused(f"unknown stream ({reason or 'check --stream'})", 2)
            if not got_hello and ws.exception() is not None:
                raise aiohttp.ClientError(str(ws.exception()))
            raise aiohttp.ClientError(f"connection closed (code {code})")

    def _subscription(self, infos: list[dict[str, Any]]) -> dict[str, Any]:
        wanted = self.streams or ["*"]
        known = {i["id"]: i for i in infos}
        since: dict[str, int] = {}
        for sid, info in known.items():
            if self.streams and sid not in self.streams:
                continue
            if sid in self.epochs and self.epochs[sid] != info["epoch"]:
                self._end_line()
                self.err.write(
                    f"tailcast watch: {sid}: the server restarted; starting over from its backlog\n"
                )
                self.positions.pop(sid, None)
            self.epochs[sid] = info["epoch"]
            if sid in self.positions:
                since[sid] = self.positions[sid]
        several = len(self.streams) > 1 if self.streams else len(known) != 1
        self._many = self.prefix and several
        frame: dict[str, Any] = {"type": "subscribe", "streams": wanted, "tail": self.tail}
        if since:
            frame["since"] = since
        if self.line_filter:
            frame["filter"] = self.line_filter
        return frame

    def _lines(self, sid: str, lines: list[dict[str, Any]]) -> None:
        pos = self.positions.get(sid, 0)
        for line in lines:
            if line["seq"] <= pos:
                continue  # never print a line twice
            pos = line["seq"]
            if self.as_json:
                self.out.write(json.dumps({"stream": sid, **line}, ensure_ascii=False) + "\n")
                continue
            if line.get("cont") and self._open_line == sid:
                self.out.write(line["text"])
            else:
                self._end_line()
                self.out.write(self._prefix(sid, line.get("fd")) + line["text"])
            self._open_line = sid
        self.positions[sid] = pos
        # End the line with the batch: a later cont piece (a partial line
        # flushed by the server) starts a new output line rather than holding
        # this one back from a pipe.
        self._end_line()

    def _prefix(self, sid: str, fd: str | None) -> str:
        if fd == "err":
            return f"[{sid}:err] " if self._many else "[err] "
        return f"[{sid}] " if self._many else ""

    def _status(self, frame: dict[str, Any]) -> None:
        state = frame.get("state")
        detail = ""
        if frame.get("event"):
            detail = f" ({frame['event']})"
        elif state == "exited" and "exit_code" in frame:
            detail = f" (exit code {frame['exit_code']})"
        elif state == "error" and frame.get("message"):
            detail = f": {frame['message']}"
        self._end_line()
        self.err.write(f"tailcast watch: {frame.get('stream')} is {state}{detail}\n")
        self.err.flush()

    def _end_line(self) -> None:
        if self._open_line is not None:
            self.out.write("\n")
            self.out.flush()
            self._open_line = None


def watch_main(ns: argparse.Namespace) -> int:
    try:
        tail = int(ns.tail)
        if tail < 0:
            raise ValueError
    except ValueError:
        print(
            f"tailcast: --tail: expected a whole number of 0 or more, got {ns.tail!r}",
            file=sys.stderr,
        )
        return 2
    try:
        url = ws_url(ns.url)
    except ConfigError as exc:
        print(f"tailcast: {exc}", file=sys.stderr)
        return 2
    token = ns.token or os.environ.get("TAILCAST_TOKEN") or None
    try:
        line_filter = _filter_of(ns)
    except BadFilter as exc:
        print(f"tailcast: {exc}", file=sys.stderr)
        return 2
    watcher = Watcher(url, ns.stream, tail, token=token, prefix=not ns.no_prefix)
    watcher.line_filter = line_filter
    watcher.as_json = bool(getattr(ns, "json", False))
    try:
        return asyncio.run(watcher.run())
    except BrokenPipeError:
        # Whoever read our output has seen enough: that ends the job, like
        # ``head`` ending ``cat``. Status 0, and nothing to say about it.
        _discard_stdout()
        return 0
    except KeyboardInterrupt:
        watcher._end_line()
        return 130


def _filter_of(ns: argparse.Namespace) -> dict[str, Any] | None:
    """``--filter``/``--regex``/``--level`` as subscribe's ``filter``; checked here first
    (a bad pattern or level exits 2 with one line, before connecting)."""
    text = getattr(ns, "filter", None) or ""
    levels = [lv.strip() for item in getattr(ns, "level", None) or [] for lv in item.split(",")]
    if getattr(ns, "regex", False) and not text:
        raise BadFilter("--regex needs --filter PATTERN")
    if not text and not levels:
        return None
    obj: dict[str, Any] = {"text": text, "regex": bool(getattr(ns, "regex", False))}
    if levels:
        obj["levels"] = [lv for lv in levels if lv]
    try:
        compile_filter(parse_filter(obj))
    except BadFilter as exc:
        what = "--level" if "level" in str(exc) and "pattern" not in str(exc) else "--filter"
        raise BadFilter(f"{what}: {exc}") from None
    return obj


def _discard_stdout() -> None:
    """Point fd 1 at /dev/null: what is still buffered can then be flushed at exit.

    Without it the interpreter's final flush fails again and prints "Exception
    ignored ... BrokenPipeError" on stderr (and exits 120).
    """
    # No usable fd 1 (replaced, closed): then there is no flush to fail either.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
