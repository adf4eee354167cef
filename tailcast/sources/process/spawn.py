"""Starting a command and ending its whole process group: the OS half of the process source.

- :func:`spawn` starts ``argv`` with :func:`asyncio.create_subprocess_exec`
  (never a shell) as the leader of a new session and process group, stdin on
  ``/dev/null``, stdout and stderr on two pipes — or both on one
  pseudo-terminal with ``pty=True``, so that programs which check ``isatty``
  keep line buffering and colours (the two streams then merge: a terminal has
  one output);
- :func:`child_env` adds the variables that make common runtimes write
  unbuffered into a pipe;
- :func:`end_group` sends SIGTERM to the whole group, waits a grace period,
  then SIGKILL: grandchildren go too, unless they left the group on purpose
  (``setsid``), which no process-group scheme can follow.

Nothing here publishes anything; :mod:`tailcast.sources.process.source` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = [
    "PRIVATE_ENV",
    "PTY_SIZE",
    "UNBUFFERED_ENV",
    "Child",
    "child_env",
    "end_group",
    "exit_status",
    "fd_file",
    "group_alive",
    "signal_group",
    "spawn",
]

# Variables that stop common runtimes from block-buffering into a pipe.
# C stdio has no such switch: --pty (or ``stdbuf -oL``) is the answer there.
UNBUFFERED_ENV: Mapping[str, str] = {
    "PYTHONUNBUFFERED": "1",  # CPython: unbuffered stdout/stderr
    "GIT_FLUSH": "1",  # git: flush after each record
}
# Our variables that a child never sees (a source's own env may still set them).
PRIVATE_ENV = frozenset({"TAILCAST_TOKEN"})
# rows, columns of the pseudo-terminal: wide enough for build tools' progress bars.
PTY_SIZE = (50, 160)
# How often end_group looks whether the group is empty yet.
POLL_INTERVAL = 0.02
# After SIGKILL: how long to wait for the kernel (and init) to clear the group.
KILL_WAIT = 1.0
# Process groups started and not yet seen gone: a forced exit (a second
# Ctrl+C) SIGKILLs them so that no command outlives tailcast.
LIVE_GROUPS: set[int] = set()


@dataclass
class Child:
    """A started command: the asyncio process and the fds to read its output from.

    ``outputs`` pairs a label (``"out"``/``"err"``) with a read fd that the
    caller now owns and must close (handing it to a transport does).
    """

    proc: asyncio.subprocess.Process
    outputs: list[tuple[str, int]] = field(default_factory=list)

    @property
    def pgid(self) -> int:
        # start_new_session makes the child the leader: its group id is its pid.
        return self.proc.pid


def child_env(extra: Mapping[str, str], *, pty: bool) -> dict[str, str]:
    """The child's environment: ours, the unbuffered switches, then the source's own.

    Our own secret is not passed on: a build that prints its environment must
    not publish the token that guards the page it is shown on.
    """
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
    env.update(UNBUFFERED_ENV)
    if pty:
        # A terminal without TERM makes many tools fall back to no colour.
        if env.get("TERM", "dumb") == "dumb":
            env["TERM"] = "xterm-256color"
        env["COLUMNS"], env["LINES"] = str(PTY_SIZE[1]), str(PTY_SIZE[0])
    env.update(extra)
    return env


def _open_pty() -> tuple[int, int]:
    master, slave = os.openpty()
    rows, cols = PTY_SIZE
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


async def spawn(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    pty: bool = False,
) -> Child:
    """Start ``argv`` in its own process group; see the module docstring.

    Raises :class:`OSError` (with the OS message) when the command cannot be
    started: not found, not executable, a bad ``cwd``.
    """
    parent_fds: list[int] = []
    child_fds: list[int] = []
    try:
        if pty:
            master, slave = _open_pty()
            parent_fds.append(master)
            child_fds.append(slave)
            outputs = [("out", master)]
            stdout = stderr = slave
        else:
            out_r, out_w = os.pipe()
            parent_fds.append(out_r)
            child_fds.append(out_w)
            err_r, err_w = os.pipe()
            parent_fds.append(err_r)
            child_fds.append(err_w)
            outputs = [("out", out_r), ("err", err_r)]
            stdout, stderr = out_w, err_w
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except BaseException:
        for fd in parent_fds:
            os.close(fd)
        raise
    finally:
        # The child has its copies; ours must go or we never see end of file.
        for fd in child_fds:
            os.close(fd)
    LIVE_GROUPS.add(proc.pid)
    return Child(proc, outputs)


def fd_file(fd: int) -> BinaryIO:
    """A file object owning ``fd``, for ``connect_read_pipe`` (which closes it)."""
    return open(fd, "rb", buffering=0, closefd=True)


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to every process of the group; False when the group is empty."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone in it changed user; it exists
    return True


def _live_members(pgid: int) -> bool | None:
    """Whether ``/proc`` shows a process of the group that is not a zombie; None without it."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs.

    A zombie does not count: it is dead, and once its parent (us, or init
    for an orphan) has reaped it, it is gone. Where ``/proc`` is missing, any
    member counts.
    """
    if not signal_group(pgid, 0):
        return False
    live = _live_members(pgid)
    return True if live is None else live


async def _wait_gone(proc: asyncio.subprocess.Process, pgid: int, within: float) -> bool:
    """Wait until the leader is reaped and the group is empty; False after ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        # returncode is set once asyncio's child watcher has reaped the leader.
        if proc.returncode is not None and not group_alive(pgid):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL)


async def end_group(proc: asyncio.subprocess.Process, pgid: int, grace: float) -> bool:
    """SIGTERM the group, up to ``grace`` seconds, then SIGKILL. True if all are gone.

    Also used after the leader exited by itself: whatever it left running in
    its group (a background job) would keep our pipes open, and is an orphan.
    """
    if proc.returncode is not None and not group_alive(pgid):
        LIVE_GROUPS.discard(pgid)
        return True
    signal_group(pgid, signal.SIGTERM)
    gone = await _wait_gone(proc, pgid, grace)
    if not gone:
        signal_group(pgid, signal.SIGKILL)
        gone = await _wait_gone(proc, pgid, KILL_WAIT)
    if gone:
        LIVE_GROUPS.discard(pgid)
    return gone


def kill_all_groups() -> None:
    """SIGKILL every process group still alive: the last act of a forced exit."""
    for pgid in list(LIVE_GROUPS):
        signal_group(pgid, signal.SIGKILL)
    LIVE_GROUPS.clear()


def exit_status(returncode: int) -> tuple[int, str | None]:
    """``(exit_code, signal name)``: a signal N is exit code 128+N, like a shell says."""
    if returncode >= 0:
        return returncode, None
    number = -returncode
    with contextlib.suppress(ValueError):
        return 128 + number, signal.Signals(number).name
    return 128 + number, f"SIG{number}"
