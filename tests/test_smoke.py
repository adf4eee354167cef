"""The issue's headline: `echo hi | tailcast -` serves `hi`."""

from __future__ import annotations

import subprocess

import aiohttp
import pytest

from tests.helpers import run_tailcast, ws_connect


@pytest.mark.asyncio
async def test_echo_hi_reaches_a_websocket_client() -> None:
    with run_tailcast("-", "--port", "0", stdin=subprocess.PIPE) as proc:
        assert proc.popen.stdin is not None
        proc.popen.stdin.write(b"hi\n")
        proc.popen.stdin.flush()
        async with aiohttp.ClientSession() as session:
            client = await ws_connect(session, proc.ws_url + "?streams=*&tail=10")
            hello = await client.recv()
            assert hello["type"] == "hello"
            assert [s["id"] for s in hello["streams"]] == ["stdin"]
            lines = await client.wait_lines("stdin", 1)
            assert lines[0]["text"] == "hi"
            assert lines[0]["seq"] == 1
            await client.ws.close()
        assert proc.stop() == 0
