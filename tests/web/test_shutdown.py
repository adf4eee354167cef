"""Shutdown of a real ``tailcast -`` process: clients get 1001, a second signal forces exit."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from urllib.parse import urlsplit

import aiohttp

from tests.helpers import Proc, run_tailcast, ws_connect

EXIT_WITHIN = 8.0


async def wait_exit(proc: Proc, within: float = EXIT_WITHIN) -> int:
    """The exit status, waiting without blocking the event loop (bounded)."""
    deadline = time.monotonic() + within
    while (status := proc.popen.poll()) is None:
        assert time.monotonic() < deadline, f"still running {within}s after the signal"
        await asyncio.sleep(0.02)
    return status


async def stalled_client(url: str) -> asyncio.StreamWriter:
    """A WebSocket client that upgrades and then never reads nor answers a close."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        b"GET /ws?streams=*&tail=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 101")
    return writer


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


async def test_second_sigint_forces_exit() -> None:
    with run_tailcast("-", "--port", "0", stdin=subprocess.PIPE) as proc:
        # A client that never answers the close holds the orderly shutdown
        # in its bounded wait; the second Ctrl+C must not wait for it.
        stalled = await stalled_client(proc.url)
        try:
            async with aiohttp.ClientSession() as session:
                client = await ws_connect(session, proc.ws_url)
                await client.recv_type("hello")
                proc.popen.send_signal(signal.SIGINT)
                assert await client.wait_closed() == 1001  # the first one was handled
                assert proc.popen.poll() is None
                proc.popen.send_signal(signal.SIGINT)
                status = await wait_exit(proc)
        finally:
            stalled.close()
        assert status == 130
        assert proc.popen.stderr is not None
        err = proc.popen.stderr.read().decode()
        assert "second SIGINT" in err
