"""The OS half of the process source: exit statuses, the child's environment,
and process groups that end whole (a grandchild included), with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tailcast.sources.process import spawn
from tests.helpers import apoll

# A child that starts a grandchild in its group, prints both pids, then waits.
FAMILY = (
    "import os, subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(os.getpid(), g.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def test_exit_status_and_child_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert spawn.exit_status(0) == (0, None)
    assert spawn.exit_status(3) == (3, None)
    assert spawn.exit_status(-signal.SIGKILL) == (137, "SIGKILL")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("TAILCAST_TOKEN", "s3cret")
    monkeypatch.setenv("PYTHONUNBUFFERED", "")
    env = spawn.child_env({"GREETING": "hi"}, pty=True)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["TERM"] == "xterm-256color"
    assert env["GREETING"] == "hi"
    assert "TAILCAST_TOKEN" not in env
    # The source's own env wins over everything.
    assert spawn.child_env({"PYTHONUNBUFFERED": "0"}, pty=False)["PYTHONUNBUFFERED"] == "0"
    assert spawn.child_env({}, pty=False)["TERM"] == "dumb"


async def _family() -> tuple[spawn.Child, list[int]]:
    """Spawn :data:`FAMILY`; the child and the two pids it printed."""
    child = await spawn.spawn([sys.executable, "-c", FAMILY])
    out = dict(child.outputs)
    for label, fd in child.outputs:
        if label != "out":
            os.close(fd)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), spawn.fd_file(out["out"])
    )
    try:
        line = await asyncio.wait_for(reader.readline(), 15)
    finally:
        transport.close()
    return child, [int(p) for p in line.split()]


async def test_end_group_ends_the_grandchildren_too() -> None:
    child, pids = await _family()
    assert child.pgid in spawn.LIVE_GROUPS
    assert [os.getpgid(p) for p in pids] == [child.pgid, child.pgid]  # one group, ours
    assert spawn.group_alive(child.pgid)
    assert await spawn.end_group(child.proc, child.pgid, grace=5.0)
    assert child.proc.returncode == -signal.SIGTERM
    assert not spawn.group_alive(child.pgid)
    assert child.pgid not in spawn.LIVE_GROUPS  # a zombie grandchild does not count


async def test_kill_all_groups_kills_every_live_group() -> None:
    child, _ = await _family()
    spawn.kill_all_groups()
    assert not spawn.LIVE_GROUPS
    assert await asyncio.wait_for(child.proc.wait(), 15) == -signal.SIGKILL
    await apoll(lambda: not spawn.group_alive(child.pgid))


async def test_a_command_that_cannot_start_is_an_oserror_and_leaks_no_fd() -> None:
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        await spawn.spawn(["/nonexistent/tailcast-test-cmd"])
    assert set(os.listdir("/proc/self/fd")) <= before
