"""The issue's headline: `echo hi | tailcast -` serves `hi`."""

from __future__ import annotations

import subprocess
from pathlib import Path

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


@pytest.mark.parametrize("source", ["/dev/null", "regular"])
async def test_stdin_that_epoll_cannot_watch_is_read_to_its_end(
    source: str, tmp_path: Path
) -> None:
    """`tailcast - < /dev/null` and `< file`: read in a thread, the stream then `exited`."""
    path = tmp_path / "in.log"
    path.write_bytes(b"one\ntwo\n")
    with (
        open("/dev/null" if source == "/dev/null" else path, "rb") as stdin,  # noqa: ASYNC230
        run_tailcast("-", "--port", "0", stdin=stdin) as proc,
    ):
        async with aiohttp.ClientSession() as session:
            client = await ws_connect(session, proc.ws_url + "?streams=*&tail=10")
            hello = await client.recv()
            info = hello["streams"][0]
            while info["state"] != "exited":
                frame = await client.recv()
                if frame["type"] == "status":
                    info = {**info, "state": frame["state"]}
            expected = [] if source == "/dev/null" else ["one", "two"]
            async with session.get(proc.url + "api/streams/stdin/lines") as resp:
                body = await resp.json()
            assert [line["text"] for line in body["lines"]] == expected
            await client.ws.close()
        assert proc.stop() == 0
