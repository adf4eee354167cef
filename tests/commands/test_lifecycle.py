"""What the commands share: the two-step signal handling and the ``serving`` line.

The handlers are driven by hand through a loop stand-in (a real signal to the
test process would reach pytest too); a second signal must kill the command
groups through :mod:`tailcast.sources.process.spawn` and exit at once.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from typing import Any

import pytest

from tailcast.commands import lifecycle
from tailcast.server import Server
from tailcast.sources.process import spawn
from tests.harness import make_config
from tests.helpers import SERVING_RE


class _Exited(Exception):
    """Raised by the stand-in for ``os._exit``: the test goes on, the process does not end."""


class _Loop:
    """Records ``add_signal_handler`` calls instead of installing them."""

    def __init__(self) -> None:
        self.handlers: dict[int, tuple[Callable[..., None], tuple[Any, ...]]] = {}

    def add_signal_handler(self, sig: int, callback: Callable[..., None], *args: Any) -> None:
        self.handlers[sig] = (callback, args)

    def fire(self, sig: int) -> None:
        callback, args = self.handlers[sig]
        callback(*args)


def test_first_signal_stops_the_second_kills_the_groups_and_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    killed: list[bool] = []
    exits: list[int] = []

    def fake_exit(status: int) -> None:
        exits.append(status)
        raise _Exited

    monkeypatch.setattr(spawn, "kill_all_groups", lambda: killed.append(True))
    monkeypatch.setattr("tailcast.commands.lifecycle.os._exit", fake_exit)
    loop = _Loop()
    stops: list[bool] = []
    lifecycle.install_signals(loop, lambda: stops.append(True))  # type: ignore[arg-type]
    assert set(loop.handlers) == {signal.SIGINT, signal.SIGTERM}

    loop.fire(signal.SIGTERM)
    assert (stops, killed, exits) == ([True], [], [])
    with pytest.raises(_Exited):
        loop.fire(signal.SIGINT)
    assert (stops, killed, exits) == ([True], [True], [130])
    assert capsys.readouterr().err == "tailcast: second SIGINT, exiting now\n"


async def test_start_and_announce_prints_the_serving_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = Server(make_config(), sources=[])
    try:
        assert await lifecycle.start_and_announce(server)
        line = capsys.readouterr().err
        match = SERVING_RE.match(line.rstrip("\n"))
        assert match, line
        assert match.group(1) == "0"
        assert match.group(2) == server.url
    finally:
        await server.stop()


async def test_start_and_announce_names_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(make_config(port=port), sources=[])
        assert not await lifecycle.start_and_announce(server)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"tailcast: --host/--port: cannot listen on 127.0.0.1:{port}: ")
