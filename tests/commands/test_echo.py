"""The terminal echo of ``tailcast run`` in-process: order, back-pressure, a reader gone.

(The whole of it with a real slow pipe is in tests/commands/test_run.py.)
"""

from __future__ import annotations

import asyncio
import io
import threading

from tailcast.commands.echo import ECHO_HIGH, TerminalEcho
from tests.helpers import DEADLINE, apoll


class _GatedFile(io.BytesIO):
    """A terminal that takes nothing until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        assert self.gate.wait(DEADLINE)
        return super().write(data)


class _GoneFile(io.BytesIO):
    """A pipe whose reader went away (``| head``)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.attempts += 1
        raise BrokenPipeError(32, "Broken pipe")


async def test_each_stream_gets_its_bytes_in_order() -> None:
    out, err = io.BytesIO(), io.BytesIO()
    echo = TerminalEcho(out, err, asyncio.get_running_loop(), lambda paused: None)
    for n in range(100):
        echo.write("out", b"o%d\n" % n)
        echo.write("err", b"e%d\n" % n)
    await asyncio.to_thread(echo.close)
    assert out.getvalue() == b"".join(b"o%d\n" % n for n in range(100))
    assert err.getvalue() == b"".join(b"e%d\n" % n for n in range(100))


async def test_a_full_queue_holds_the_child_back_until_it_drains() -> None:
    out = _GatedFile()
    pressure: list[bool] = []
    echo = TerminalEcho(out, io.BytesIO(), asyncio.get_running_loop(), pressure.append)
    chunk = b"x" * (64 * 1024)
    sent = 0
    while not pressure:  # said at once, on the loop, by the write that passes HIGH
        echo.write("out", chunk)
        sent += len(chunk)
    assert pressure == [True]
    assert ECHO_HIGH < sent <= ECHO_HIGH + len(chunk)
    out.gate.set()
    await apoll(lambda: pressure == [True, False])  # back under LOW: go on
    await asyncio.to_thread(echo.close)
    assert len(out.getvalue()) == sent


async def test_a_reader_gone_ends_that_echo_only() -> None:
    out, err = _GoneFile(), io.BytesIO()
    echo = TerminalEcho(out, err, asyncio.get_running_loop(), lambda paused: None)
    echo.write("out", b"lost\n")
    echo.write("out", b"not tried\n")
    echo.write("err", b"still here\n")
    await asyncio.to_thread(echo.close)
    assert out.attempts == 1
    assert err.getvalue() == b"still here\n"
