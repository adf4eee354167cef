"""Servers under test as process groups: start, measure (RSS, CPU) from /proc, stop.

A server under test may be several processes (tailcast fed by ``tail``;
websocketd and one ``tail`` per client), so each one runs in a process group
of its own, and its memory and CPU are the sums over that group. Only these
groups are ever signalled: nothing is killed by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Group", "group_pids", "proc_cpu", "proc_rss", "websocketd_argv"]

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_AGE = 0.05  # seconds: one look at /proc serves every group sampled in a round


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


class _Scan:
    """The last look at /proc: when, and each process group's live processes."""

    at = -1.0
    groups: dict[int, list[int]] = {}


def group_pids(pgid: int, max_age: float = 0.0) -> list[int]:
    """Every live process whose process group is ``pgid``.

    ``max_age``: a look at /proc at most this old will do. Sampling every
    group of a run (the multi-host bench has eight) looked at every process
    of the machine eight times a round: bursts of a fifth of a core, taken
    from the processes measured. One look serves them all.
    """
    now = time.monotonic()
    if now - _Scan.at > max_age:
        found: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            fields = _stat_fields(int(name))
            # fields[0] is the state (field 3); the process group is field 5.
            if fields is not None and fields[0] != "Z":
                found.setdefault(int(fields[2]), []).append(int(name))
        _Scan.at, _Scan.groups = now, found
    return list(_Scan.groups.get(pgid, []))


def proc_rss(pid: int) -> int:
    """Resident set size in bytes (0 if the process is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # utime, stime are fields 14 and 15 (1-based) -> 11, 12 after the split.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Group:
    """One server under test: a process group we started, and what it used."""

    name: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pgid: int = 0
    main_pid: int = 0  # the server process proper (tailcast / websocketd)
    peak_rss: int = 0
    peak_main_rss: int = 0
    peak_procs: int = 0

    @classmethod
    def start_pipeline(
        cls, name: str, commands: Sequence[Sequence[str]], main: int, log: str
    ) -> Group:
        """Start ``commands`` as a shell-less pipeline in a new process group.

        Standard error of every process goes to the file ``log``.
        """
        group = cls(name)
        prev_out: int | None = None
        with open(log, "ab") as err:
            for i, argv in enumerate(commands):
                last = i == len(commands) - 1
                proc = subprocess.Popen(
                    argv,
                    stdin=prev_out if prev_out is not None else subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL if last else subprocess.PIPE,
                    stderr=err,
                    process_group=0 if i == 0 else group.pgid,
                )
                group._added(proc, i == 0)
                if prev_out is not None:
                    os.close(prev_out)
                    prev_out = None
                if proc.stdout is not None:
                    prev_out = os.dup(proc.stdout.fileno())
                    proc.stdout.close()
        group.main_pid = group.procs[main].pid
        return group

    def _added(self, proc: subprocess.Popen[bytes], leader: bool) -> None:
        if leader:
            self.pgid = proc.pid
        self.procs.append(proc)

    def pids(self, max_age: float = 0.0) -> list[int]:
        return group_pids(self.pgid, max_age) if self.pgid else []

    def sample(self) -> tuple[int, int]:
        """Current (group RSS, main process RSS); updates the peaks."""
        pids = self.pids(SAMPLE_AGE)
        total = sum(proc_rss(p) for p in pids)
        main = proc_rss(self.main_pid)
        self.peak_rss = max(self.peak_rss, total)
        self.peak_main_rss = max(self.peak_main_rss, main)
        self.peak_procs = max(self.peak_procs, len(pids))
        return total, main

    def reset_peaks(self) -> None:
        self.peak_rss = self.peak_main_rss = self.peak_procs = 0

    def cpu(self) -> float:
        return sum(proc_cpu(p) for p in self.pids(SAMPLE_AGE))

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM the group, wait a bounded time, then SIGKILL what is left."""
        if not self.pgid:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self.pids():
                for p in self.procs:
                    p.poll()
                time.sleep(0.02)
            if not self.pids():
                break
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=grace)
            if p.stderr is not None:
                p.stderr.close()
        self.pgid = 0


def websocketd_argv(websocketd: str, port: int, path: str) -> list[str]:
    """The peer as the notes measured it: one ``tail -n0 -F FILE`` per client."""
    return [
        websocketd,
        "--address=127.0.0.1",
        f"--port={port}",
        "--loglevel=error",
        "tail",
        "-n0",
        "-F",
        path,
    ]
