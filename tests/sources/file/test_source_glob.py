"""Globs (one stream per match, matches come and go), hundreds of files at once,
and the file source seen from outside: a WebSocket client, the CLI, and a
permission-denied file.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tailcast.config import parse_source
from tests.harness import make_config
from tests.helpers import SERVING_RE, apoll, run_tailcast, texts, ws_connect
from tests.sources.file.harness import following


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


async def test_a_glob_gains_a_file_and_loses_one(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"a1\na2\n")
    (tmp_path / "ignored.txt").write_bytes(b"no\n")
    async with following(tmp_path / "*.log", lines=1, quiet=0.2, poll_interval=0.05) as f:
        await f.wait_lines("a.log", ["a2"])  # there at start: its last --lines
        assert set(f.hub.streams) == {"a.log"}
        (tmp_path / "b.log").write_bytes(b"b1\nb2\n")  # later: from its beginning
        await f.wait_lines("b.log", ["b1", "b2"])
        assert (["b.log"], []) in f.stream_changes
        assert f.hub.streams["b.log"].detail == {"path": str(tmp_path / "b.log")}
        append(tmp_path / "a.log", b"a3\n")
        await f.wait_lines("a.log", ["a2", "a3"])
        (tmp_path / "b.log").unlink()
        await apoll(lambda: "b.log" not in f.hub.streams)
        assert ([], ["b.log"]) in f.stream_changes
        assert f.states("b.log")[-1] == "exited"
        # The same name again is a new stream, read from its beginning.
        (tmp_path / "b.log").write_bytes(b"again\n")
        await f.wait_lines("b.log", ["again"])


async def test_a_glob_match_rotated_by_rename_stays_one_stream(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    log.write_bytes(b"before\n")
    async with following(tmp_path / "*.log", quiet=0.5) as f:
        await f.wait_lines("web.log", ["before"])
        os.rename(log, tmp_path / "web.log.1")  # no longer matches ...
        log.write_bytes(b"after\n")  # ... and the name is back at once
        await f.wait_lines("web.log", ["before", "after"])
        assert f.file_events("web.log") == ["rotated"]
        assert all(removed == [] for _, removed in f.stream_changes)


async def test_a_glob_over_directories(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "x.log").write_bytes(b"one\n")
    async with following(tmp_path / "*" / "x.log", poll_interval=0.05) as f:
        await f.wait_lines("one-x.log", ["one"])
        (tmp_path / "two").mkdir()
        (tmp_path / "two" / "x.log").write_bytes(b"two\n")
        await f.wait_lines("two-x.log", ["two"])


async def test_hundreds_of_files_share_one_watcher(tmp_path: Path) -> None:
    n = 300
    for i in range(n):
        (tmp_path / f"f{i:03d}.log").write_bytes(b"")
    threads_before = threading.active_count()
    async with following(tmp_path / "*.log") as f:
        assert len(f.hub.streams) == n
        for i in range(n):
            append(tmp_path / f"f{i:03d}.log", b"hello %d\n" % i)
        await apoll(lambda: all(f.lines(f"f{i:03d}.log") == [f"hello {i}"] for i in range(n)))
        stats = f.source.statistics()
        assert stats["watcher"]["watched_dirs"] == 1
        assert stats["polled"] is False
        # One watcher thread and a few pool threads, not one per file.
        assert threading.active_count() - threads_before < 16


async def test_a_websocket_client_sees_file_lines_and_the_path(
    tmp_path: Path, start_server: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"old1\nold2\nold3\n")
    h = await start_server(make_config(lines=2), specs=(parse_source(str(log)),))
    client = await ws_connect(session, h.ws_url + "?streams=*&tail=10")
    hello = await client.recv_type("hello")
    (info,) = hello["streams"]
    assert info["id"] == "app.log"
    assert info["kind"] == "file"
    assert info["path"] == str(log)
    assert texts(await client.wait_lines("app.log", 2)) == ["old2", "old3"]
    await apoll(lambda: h.hub.streams["app.log"].state == "live")
    # Wait until the watcher covers the directory before appending.
    watcher_ready = h.server.sources[0].statistics
    await apoll(lambda: watcher_ready()["watcher"]["watched_dirs"] == 1)
    append(log, b"new\n")
    assert texts(await client.wait_lines("app.log", 3)) == ["old2", "old3", "new"]
    os.truncate(log, 0)
    frame = await client.recv_type("status")
    while frame.get("event") != "truncated":
        frame = await client.recv_type("status")
    assert frame["stream"] == "app.log"
    await client.ws.close()


async def test_the_cli_follows_a_glob(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"hello from a\n")
    with run_tailcast(str(tmp_path / "*.log"), "--port", "0", "--lines", "5") as proc:
        assert proc.streams == 1
        async with aiohttp.ClientSession() as session:
            url = proc.url + "api/streams/a.log/lines"

            async def fetch() -> list[str]:
                async with session.get(url) as resp:
                    body = await resp.json()
                    return [line["text"] for line in body["lines"]]

            deadline = asyncio.get_running_loop().time() + 15
            while await fetch() != ["hello from a"]:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
        assert proc.stop() == 0


# A tailcast server that cannot bypass file permissions even when run as root:
# it drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH before anything starts.
_NO_DAC = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
class Hdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Caps(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]
hdr, caps = Hdr(0x20080522, 0), (Caps * 2)()
if libc.capget(ctypes.byref(hdr), caps) == 0:
    keep = ~((1 << 1) | (1 << 2)) & 0xFFFFFFFF
    caps[0].effective &= keep
    caps[0].permitted &= keep
    libc.capset(ctypes.byref(hdr), caps)
from tailcast.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start_without_dac_override(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _NO_DAC, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=os.getcwd(),
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="capabilities are Linux")
async def test_permission_denied_is_an_error_state_and_retried(tmp_path: Path) -> None:
    log = tmp_path / "secret.log"
    log.write_bytes(b"classified\n")
    log.chmod(0)
    popen = start_without_dac_override(str(log), "--port", "0", "--poll-interval", "0.05")
    try:
        assert popen.stderr is not None
        first = popen.stderr.readline().decode()
        m = SERVING_RE.match(first.rstrip("\n"))
        assert m, first
        url = m.group(2)
        async with aiohttp.ClientSession() as session:

            async def info() -> dict[str, object]:
                async with session.get(url + "api/streams") as resp:
                    streams: list[dict[str, object]] = (await resp.json())["streams"]
                    return streams[0]

            deadline = asyncio.get_running_loop().time() + 15
            while (await info())["state"] != "error":
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
            stream = await info()
            assert stream["message"] == f"{log}: Permission denied"
            log.chmod(0o644)
            while (await info())["state"] != "live":
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
            async with session.get(url + "api/streams/secret.log/lines") as resp:
                body = await resp.json()
            assert [line["text"] for line in body["lines"]] == ["classified"]
    finally:
        popen.terminate()
        popen.wait(10)
        if popen.stderr is not None:
            popen.stderr.close()
