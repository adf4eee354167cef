"""Shutdown of a real ``tailcast -`` process: clients get 1001, a second signal forces exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import aiohttp

from tests.helpers import Proc, apoll, run_tailcast, ws_connect

EXIT_WITHIN = 8.0


async def wait_exit(proc: Proc, within: float = EXIT_WITHIN) -> int:
    """The exit status, waiting without blocking the event loop (bounded)."""
    deadline = time.monotonic() + within
    while (status := proc.popen.poll()) is None:
        assert time.monotonic() < deadline, f"still running {within}s after the signal"
        await asyncio.sleep(0.02)
    return status


async def test_sigterm_closes_clients_1001_and_exits_0() -> None:
    with run_tailcast("-", "--port", "0", stdin=subprocess.PIPE) as proc:
        assert proc.popen.stdin is not None
        proc.popen.stdin.write(b"before\n")
        proc.popen.stdin.flush()
        async with aiohttp.ClientSession() as session:
            client = await ws_connect(session, proc.ws_url + "?streams=*&tail=10")
            await client.recv_type("hello")
            assert (await client.wait_lines("stdin", 1))[0]["text"] == "before"
            proc.popen.send_signal(signal.SIGTERM)
            assert await client.wait_closed() == 1001
        assert await wait_exit(proc) == 0
        assert proc.popen.stderr is not None
        assert "Traceback" not in proc.popen.stderr.read().decode()


CHILD_IGNORING_SIGTERM = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print(os.getpid(), flush=True); time.sleep(60)"
)


async def test_second_sigint_forces_exit() -> None:
    # A child that ignores SIGTERM holds the orderly shutdown in its grace
    # period (SIGTERM, wait, SIGKILL); the second Ctrl+C must not wait for it.
    source = f"stubborn=cmd:{sys.executable} -c {CHILD_IGNORING_SIGTERM!r}"
    with run_tailcast("--port", "0", source) as proc:
        child_pid = 0
        try:
            async with aiohttp.ClientSession() as session:
                client = await ws_connect(session, proc.ws_url + "?streams=*&tail=10")
                await client.recv_type("hello")
                child_pid = int((await client.wait_lines("stubborn", 1))[0]["text"])
                proc.popen.send_signal(signal.SIGINT)
                assert await client.wait_closed() == 1001  # the first one was handled
            assert proc.popen.poll() is None  # ... and shutdown is waiting for the child
            proc.popen.send_signal(signal.SIGINT)
            status = await wait_exit(proc)
            assert status == 130
            assert proc.popen.stderr is not None
            assert "second SIGINT" in proc.popen.stderr.read().decode()
            # The forced exit took the stubborn child with it (no orphan).
            await apoll(lambda: not _alive(child_pid))
        finally:
            if child_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running or stopped, but not a zombie waiting for init."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
