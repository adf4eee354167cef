"""The journal source's throughput: a real journal file read from its start.

1. ``systemd-journal-remote`` writes ``--entries`` entries (default 500 000)
   into a journal file in a temporary folder;
2. ``journalctl -o json --all -D DIR`` alone reads it to ``/dev/null``: its
   wall time and CPU;
3. a :class:`~tailcast.sources.journal.source.JournalSource` (``--journal-dir
   DIR``, ``--lines`` = all of them) on a hub with a history on disk reads it
   from the start: wall time until the last entry is numbered and kept, and
   the CPU of journalctl (its child) and of tailcast's own process;
4. "the usual per-line cost": the same messages, one per line in a plain
   file, read from its start by a :class:`~tailcast.sources.file.source.FileSource`
   into the same kind of hub (history on disk): tailcast's CPU per line.

Prints entries/s and the CPU per entry of each, and journalctl + the
per-line cost beside the journal source's total (the issue's target: no
more than that). Run::

    python bench/journal.py [--entries 500000] [--redact-secrets]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tailcast.config import Config, parse_source
from tailcast.history.store import HistoryStore
from tailcast.hub import Hub
from tailcast.protocol.redact import Redactor
from tailcast.sources.file.source import FileSource
from tailcast.sources.journal.entry import journalctl_argv
from tailcast.sources.journal.source import JournalSource, grow_pipe

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
BOOT_ID = "0123456789abcdef0123456789abcdef"


def message(n: int) -> str:
    """The ``n``-th entry's MESSAGE (a busy web service's access line)."""
    return f"GET /api/v1/items/{n} 200 {n % 997} bytes in {n % 50} ms user=u{n % 100} req=r{n:08x}"


def write_journal(directory: Path, count: int) -> float:
    """``count`` entries like a busy web service's; seconds it took."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [JOURNAL_REMOTE, "-o", str(directory / "bench.journal"), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    base = int(time.time() * 1e6) - count
    chunk: list[bytes] = []
    for n in range(count):
        chunk.append(
            f"__REALTIME_TIMESTAMP={base + n}\n__MONOTONIC_TIMESTAMP={n + 1}\n"
            f"_BOOT_ID={BOOT_ID}\nPRIORITY={n % 8}\n_SYSTEMD_UNIT=web.service\n"
            f"SYSLOG_IDENTIFIER=web\n_PID=4242\n"
            f"MESSAGE={message(n)}\n\n".encode()
        )
        if len(chunk) == 5000:
            proc.stdin.write(b"".join(chunk))
            chunk.clear()
    proc.stdin.write(b"".join(chunk))
    proc.stdin.close()
    proc.wait()
    return time.monotonic() - start


class Done:
    """A hub listener that says when the stream has ``count`` lines (no client is served)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.event = asyncio.Event()

    def on_lines(self, stream: Any, first_seq: int, lines: Any) -> None:
        if stream.last_seq >= self.count:
            self.event.set()

    def on_status(self, stream: Any, frame: bytes) -> None:
        pass

    def on_streams(self, added: Any, removed: Any) -> None:
        pass


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def journalctl_alone(directory: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``journalctl -o json --all -D DIR > /dev/null``."""
    cpu0, start = children_cpu(), time.monotonic()
    with open(os.devnull, "wb") as null:
        subprocess.run(
            ["journalctl", "-o", "json", "--all", "--no-pager", f"--directory={directory}"],
            stdout=null,
            check=True,
        )
    return time.monotonic() - start, children_cpu() - cpu0


def journalctl_follow(directory: Path, count: int) -> tuple[float, float]:
    """Wall and CPU seconds of the very command a ``journal:`` source runs
    (``journalctl --follow --output=json ...``, :func:`journalctl_argv`), its
    output drained by a reader that only counts lines, until ``count`` entries
    came; then it is stopped. The issue's yardstick: "``journalctl -f -o json``
    itself"."""
    argv = journalctl_argv(
        "journalctl", match="", directory=str(directory), cursor=None, lines=count
    )
    cpu0, start = children_cpu(), time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    grow_pipe(proc.stdout.fileno())  # the pipe the source gives it
    seen = 0
    while seen < count:
        chunk = proc.stdout.read1(1 << 20)
        if not chunk:
            break
        seen += chunk.count(b"\n")
    wall = time.monotonic() - start
    proc.terminate()
    proc.wait()
    return wall, children_cpu() - cpu0


async def _measure(source: Any, hub: Hub, count: int) -> tuple[float, float, float]:
    """Wall seconds, children's CPU and own CPU until ``source`` has kept ``count`` lines."""
    done = Done(count)
    hub.listener = done
    child0, own0, start = children_cpu(), self_cpu(), time.monotonic()
    task = asyncio.create_task(source.run())
    try:
        await done.event.wait()
        wall = time.monotonic() - start
        own = self_cpu() - own0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.close()
    return wall, children_cpu() - child0, own


async def tailcast_reads(directory: Path, count: int, redact: bool) -> tuple[float, float, float]:
    """Wall seconds, journalctl's CPU and tailcast's own CPU for the source to keep them all."""
    with tempfile.TemporaryDirectory() as data:
        store = HistoryStore.open(Path(data))
        hub = Hub(count + 10, store=store, redactor=Redactor(secrets=redact))
        config = Config(journal_dir=str(directory), lines=count, history=count + 10)
        try:
            source = JournalSource(parse_source("journal:"), hub, config)
            return await _measure(source, hub, count)
        finally:
            store.close()


async def plain_lines(count: int, redact: bool) -> tuple[float, float]:
    """Wall and own CPU seconds for a file source to keep the same messages as plain lines."""
    with tempfile.TemporaryDirectory() as data:
        path = Path(data) / "plain.log"
        with path.open("w") as f:
            for start in range(0, count, 5000):
                f.write("".join(message(n) + "\n" for n in range(start, min(start + 5000, count))))
        store = HistoryStore.open(Path(data) / "history")
        hub = Hub(count + 10, store=store, redactor=Redactor(secrets=redact))
        config = Config(lines=count, history=count + 10)
        try:
            source = FileSource(parse_source(str(path)), hub, config)
            wall, _, own = await _measure(source, hub, count)
            return wall, own
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--redact-secrets", action="store_true")
    args = parser.parse_args()
    if not Path(JOURNAL_REMOTE).exists() or shutil.which("journalctl") is None:
        sys.exit("needs journalctl and systemd-journal-remote (Debian: systemd-journal-remote)")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        took = write_journal(directory, args.entries)
        size = sum(p.stat().st_size for p in directory.iterdir())
        print(f"journal file: {args.entries} entries, {size / 1e6:.0f} MB, written in {took:.1f}s")
        jwall, jcpu = journalctl_alone(directory)
        n = args.entries
        print(
            f"journalctl -o json > /dev/null: {n / jwall:,.0f} entries/s, "
            f"CPU {jcpu:.2f}s ({jcpu / n * 1e6:.2f} us/entry)"
        )
        fwall, fcpu = journalctl_follow(directory, n)
        print(
            f"journalctl -f -o json as the source runs it, output only counted: "
            f"{n / fwall:,.0f} entries/s, CPU {fcpu:.2f}s ({fcpu / n * 1e6:.2f} us/entry)"
        )
        wall, child, own = asyncio.run(tailcast_reads(directory, n, args.redact_secrets))
        redact = " with --redact-secrets" if args.redact_secrets else ""
        print(
            f"tailcast journal source{redact}: {n / wall:,.0f} entries/s, "
            f"CPU journalctl {child:.2f}s + tailcast {own:.2f}s "
            f"({child / n * 1e6:.2f} + {own / n * 1e6:.2f} us/entry)"
        )
        pwall, pown = asyncio.run(plain_lines(n, args.redact_secrets))
        print(
            f"the usual per-line cost (same texts, file source){redact}: {n / pwall:,.0f} lines/s, "
            f"CPU tailcast {pown:.2f}s ({pown / n * 1e6:.2f} us/line)"
        )
        target, total = (fcpu + pown) / n * 1e6, (child + own) / n * 1e6
        print(
            f"journal source total {total:.2f} us/entry vs journalctl -f -o json itself + "
            f"per-line {target:.2f} us/entry ({'within' if total <= target else 'over'} the target)"
        )


if __name__ == "__main__":
    main()
