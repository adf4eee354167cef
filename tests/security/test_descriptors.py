"""Descriptors: the open-files limit raised at start, the clients' cap fitted to
it, descriptors back near the baseline once an attacker goes, and ``accept()``
out of descriptors costing nobody their connection.

The servers run under ``prlimit --nofile=SOFT:HARD``; the fault "descriptors
ran out underneath" is made for real by lowering a running server's soft
limit with ``prlimit(2)`` (root), below what it planned for.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import DEADLINE, apoll, poll
from tests.security.limited import (
    BEARER,
    Follower,
    close_all,
    fd_count,
    half_open,
    limited_server,
    raise_own_limit,
    soft_limit,
    timed,
)

PARTIAL = b"GET /healthz HTTP/1.1\r\nHo"
# Descriptors a server may hold above its baseline once the attack is over
# (a keep-alive connection or two of the test's own clients, a history read).
NEAR = 8


def test_soft_limit_raised_at_start_and_said_with_v(tmp_path: Path) -> None:
    with limited_server(tmp_path, "-v", nofile=(1024, 4096)) as srv:
        assert soft_limit(srv.pid) == (4096, 4096)
        # Said right after the serving line (which must come first): poll for it.
        poll(lambda: any("open-files limit raised from 1024 to 4096" in ln for ln in srv.stderr))
        # 4 096 hold the default --max-clients: nothing lowered.
        assert not any("--max-clients lowered" in line for line in srv.stderr)


def test_a_limit_that_leaves_no_client_exits_2_with_one_line(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    cmd = ["prlimit", "--nofile=200:200", "--", sys.executable, "-m", "tailcast"]
    done = subprocess.run(
        [*cmd, "--port", "0", str(log)], capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 2, done
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("tailcast: --max-clients: the open-files limit (200)")


async def _healthz(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url + "healthz") as response:
        await response.read()
        return response.status


def _spread(port: int, total: int, addresses: int) -> list[socket.socket]:
    """``total`` half-open connections from ``addresses`` loopback addresses,
    each under the per-address cap: only the total cap holds them back."""
    socks: list[socket.socket] = []
    for n in range(addresses):
        socks += half_open(port, total // addresses, f"127.0.1.{n + 1}", PARTIAL)
    return socks


@pytest.mark.asyncio
async def test_descriptors_back_near_baseline_once_the_attacker_goes(tmp_path: Path) -> None:
    raise_own_limit()
    with limited_server(tmp_path, "--header-timeout", "3") as srv:
        async with aiohttp.ClientSession() as session:
            follower = await Follower.connect(session, srv.ws_url)
            assert await _healthz(session, srv.url) == 200
            baseline = fd_count(srv.pid)
            # 1 100 from 40 addresses (27 each, under the cap of 32): the total
            # cap of waiting connections holds them back, the oldest go.
            socks = await asyncio.to_thread(_spread, srv.port, 1100, 40)
            peak = fd_count(srv.pid)
            assert peak < 1024, (baseline, peak)
            # An answer, not a speed: the attack's backlog is accepted first.
            status, _ = await timed(_healthz(session, srv.url), DEADLINE)
            assert status == 200
            close_all(socks)
            await apoll(lambda: fd_count(srv.pid) <= baseline + NEAR, 10)
            # Held this time, never closed by the attacker: the header
            # timeout (3 s) frees them.
            socks = await asyncio.to_thread(_spread, srv.port, 1100, 40)
            try:
                await apoll(lambda: fd_count(srv.pid) <= baseline + NEAR, 15)
            finally:
                close_all(socks)
            srv.append(1, 3)
            await follower.wait_seq(3, 10)
            assert follower.seqs == [1, 2, 3]
            await follower.ws.close()
        assert srv.errors() == []


@pytest.mark.asyncio
async def test_accept_out_of_descriptors_then_accepting_again(tmp_path: Path) -> None:
    raise_own_limit()
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 1024:
        pytest.skip("needs 1 024 open files")
    with limited_server(tmp_path) as srv:
        async with aiohttp.ClientSession() as session:
            follower = await Follower.connect(session, srv.ws_url)
            srv.append(1, 2)
            await follower.wait_seq(2, 10)
            # Room for 16 more descriptors only, far below what the server
            # planned for: accept() itself runs out.
            resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (fd_count(srv.pid) + 16, 1024))
            socks = await asyncio.to_thread(_spread, srv.port, 100, 10)
            try:
                await apoll(lambda: any("out of system resource" in e for e in srv.stderr), 10)
                # The existing client is served all along.
                srv.append(3, 2)
                await follower.wait_seq(4, 10)
                # A newcomer waits in the kernel's queue meanwhile ...
                waiting = asyncio.ensure_future(_healthz(session, srv.url))
                await asyncio.sleep(0.5)  # a chance to be wrongly answered, not a sync
                assert not waiting.done()
            finally:
                close_all(socks)
            # ... and is answered once descriptors are free again (asyncio
            # retries accept() after 1 s).
            assert await asyncio.wait_for(waiting, 10) == 200
            status, _ = await timed(_healthz(session, srv.url), DEADLINE)
            assert status == 200
            srv.append(5, 2)
            await follower.wait_seq(6, 10)
            assert follower.seqs == list(range(1, 7))
            async with session.get(srv.url + "api/streams", headers=BEARER) as response:
                assert response.status == 200
            await follower.ws.close()
