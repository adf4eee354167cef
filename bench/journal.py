"""The journal source's throughput and CPU: a real journal file read from its start.

``systemd-journal-remote`` writes ``--entries`` entries (default 500 000) into
a journal file in a temporary folder once; then ``--rounds`` rounds (default
3) each measure, in turn (every other round in the reverse order, so a drift
of the machine's speed does not favour one):

- **the yardstick**: the very command a ``journal:`` source runs
  (:func:`~tailcast.sources.journal.entry.journalctl_argv`: ``journalctl
  --follow --output=json --output-fields=MESSAGE,PRIORITY --all ...``), its
  output into the same 1 MiB pipe, drained by a reader that only counts
  lines: journalctl's CPU;
- **the source**: a :class:`~tailcast.sources.journal.source.JournalSource`
  (``--journal-dir DIR``, ``--lines`` = all of them) on a hub with a history
  on disk: the CPU of journalctl (its child) and of tailcast's own process
  until the last entry is numbered and kept, and entries/s;
- **the usual per-line cost**: the same messages, one per line in a plain
  file, read by a :class:`~tailcast.sources.file.source.FileSource` into the
  same kind of hub: tailcast's CPU per line;
- **the literal yardstick** of the issue, ``journalctl -f -o json`` with all
  fields (what a user would type), output only counted: the issue's target
  is the source's total within it + the per-line cost (the first yardstick is
  the stricter comparison: the source's ``--output-fields`` makes journalctl
  itself cheaper).

CPU is ``getrusage`` (children's for journalctl, self for tailcast), never
wall time: the machine may be shared. Each round prints all of them; the
summary compares medians (source total, journalctl + tailcast, against each
yardstick + the per-line cost) and says in how many rounds each held. Run::

    python bench/journal.py [--entries 500000] [--rounds 3] [--redact-secrets]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import statistics
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


def count_output(argv: list[str], count: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``argv`` until it wrote ``count`` lines; then it is stopped.

    Its output goes into a pipe as big as a source's (:func:`grow_pipe`),
    drained by a reader that only counts lines.
    """
    cpu0, start = children_cpu(), time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    grow_pipe(proc.stdout.fileno())
    seen = 0
    while seen < count:
        chunk = os.read(proc.stdout.fileno(), 1 << 20)  # what is there, up to 1 MB
        if not chunk:
            break
        seen += chunk.count(b"\n")
    wall = time.monotonic() - start
    proc.terminate()
    proc.wait()
    return wall, children_cpu() - cpu0


def yardstick(directory: Path, count: int) -> tuple[float, float]:
    """The very command a ``journal:`` source runs (:func:`journalctl_argv`)."""
    argv = journalctl_argv(
        "journalctl", match="", directory=str(directory), cursor=None, lines=count
    )
    return count_output(argv, count)


def literal_yardstick(directory: Path, count: int) -> tuple[float, float]:
    """``journalctl -f -o json``, every field, as a user would run it (on ``directory``)."""
    argv = ["journalctl", "-f", "-o", "json", "-D", str(directory), "-n", str(count)]
    return count_output(argv, count)


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


def one_round(directory: Path, n: int, redact: bool, reverse: bool) -> dict[str, float]:
    """One of each measure (in turn, or in the reverse order): CPU µs per entry, entries/s."""

    def source() -> dict[str, float]:
        wall, child, own = asyncio.run(tailcast_reads(directory, n, redact))
        return {"rate": n / wall, "child": child / n * 1e6, "own": own / n * 1e6}

    def plain() -> dict[str, float]:
        return {"plain": asyncio.run(plain_lines(n, redact))[1] / n * 1e6}

    def yard() -> dict[str, float]:
        return {"yard": yardstick(directory, n)[1] / n * 1e6}

    def literal() -> dict[str, float]:
        return {"literal": literal_yardstick(directory, n)[1] / n * 1e6}

    out: dict[str, float] = {}
    for measure in (yard, source, plain, literal)[:: -1 if reverse else 1]:
        out.update(measure())
    out["total"] = out["child"] + out["own"]
    out["target"] = out["yard"] + out["plain"]
    return out


def show_round(k: int, r: dict[str, float]) -> None:
    verdict = "within" if r["total"] <= r["target"] else "over"
    print(
        f"round {k}: source {r['rate']:,.0f} entries/s, CPU journalctl {r['child']:.2f} + "
        f"tailcast {r['own']:.2f} = {r['total']:.2f} us/entry; yardstick {r['yard']:.2f} + "
        f"per-line {r['plain']:.2f} = {r['target']:.2f} ({verdict}); "
        f"literal journalctl -f -o json {r['literal']:.2f}"
    )


def summary(rounds: list[dict[str, float]], redact: bool) -> None:
    m = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    held = sum(r["total"] <= r["target"] for r in rounds)
    tag = " (--redact-secrets)" if redact else ""
    print(f"medians of {len(rounds)} rounds{tag}, CPU per entry:")
    print(f"  journal: source                    {m['rate']:,.0f} entries/s")
    print(f"  journalctl under the source        {m['child']:6.2f} us")
    print(f"  tailcast's own (journal source)    {m['own']:6.2f} us")
    print(f"  the usual per-line cost (file)     {m['plain']:6.2f} us")
    print(f"  yardstick: the source's argv alone {m['yard']:6.2f} us")
    print(
        f"  literal `journalctl -f -o json`    {m['literal']:6.2f} us  (all fields; for comparison)"
    )
    literal = m["literal"] + m["plain"]
    verdict = "within" if m["total"] <= literal else "over"
    held_literal = sum(r["total"] <= r["literal"] + r["plain"] for r in rounds)
    print(
        f"  the issue's target: source total {m['total']:.2f} vs `journalctl -f -o json` + "
        f"per-line {literal:.2f} us: {verdict}; held in {held_literal} of {len(rounds)} rounds"
    )
    target = m["yard"] + m["plain"]
    verdict = "within" if m["total"] <= target else "over"
    print(
        f"  stricter (the same argv): source total {m['total']:.2f} vs yardstick + per-line "
        f"{target:.2f} us: {verdict}; held in {held} of {len(rounds)} rounds"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redact-secrets", action="store_true")
    args = parser.parse_args()
    if not Path(JOURNAL_REMOTE).exists() or shutil.which("journalctl") is None:
        sys.exit("needs journalctl and systemd-journal-remote (Debian: systemd-journal-remote)")
    print(f"Python {sys.version.split()[0]} ({sys.executable}); {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        took = write_journal(directory, args.entries)
        size = sum(p.stat().st_size for p in directory.iterdir())
        print(f"journal file: {args.entries} entries, {size / 1e6:.0f} MB, written in {took:.1f}s")
        rounds = []
        for k in range(args.rounds):
            rounds.append(one_round(directory, args.entries, args.redact_secrets, k % 2 == 1))
            show_round(k + 1, rounds[-1])
        summary(rounds, args.redact_secrets)


if __name__ == "__main__":
    main()
