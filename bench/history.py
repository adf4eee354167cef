"""Benchmark the on-disk history engine (tailcast.history, issue 12).

Usage::

    PYTHONPATH=. python bench/history.py            # ~1 minute, needs ~600 MiB in /var/tmp
    PYTHONPATH=. python bench/history.py --dir DIR --lines 1000000

Prints, without asserting anything:

- append throughput: lines/s and ns/line for 100-byte lines in batches of 1000
  (with a checkpoint per batch, as a followed file writes them);
- read_after of 1 MiB from random positions in a log of ``--lines`` lines (ms);
- read_before of 1000 lines from random positions (ms);
- iter_chunks over the whole log (MB/s);
- open() (recovery) of a 256 MiB log (ms).

Reads are from the page cache (the log was just written): the figures are
the engine's CPU cost, not the disk's.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tailcast.history.log import StreamLog
from tailcast.protocol.wire import encode_line

BATCH = 1000
MIB = 1024 * 1024


def make_batch(first: int) -> list[bytes]:
    # ~100 bytes each once encoded
    return [
        encode_line(s, 1700000000.123456, f"{s:012d} " + "x" * 45)
        for s in range(first, first + BATCH)
    ]


def bench_append(folder: Path, total: int) -> StreamLog:
    log = StreamLog.open(folder, max_lines=10**9, max_bytes=10**12)
    batches = [make_batch(1 + i * BATCH) for i in range(total // BATCH)]
    size = sum(len(line) for line in batches[0]) / BATCH
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        log.append(1 + i * BATCH, batch, {"pos": (i + 1) * BATCH * 100, "inode": 12345})
    elapsed = time.perf_counter() - start
    print(
        f"append: {total} lines of {size:.0f} B in batches of {BATCH}: "
        f"{total / elapsed:,.0f} lines/s, {elapsed / total * 1e9:.0f} ns/line, "
        f"{log.nbytes / elapsed / MIB:.0f} MiB/s ({log.statistics()['segments']} segments)"
    )
    return log


def bench_reads(log: StreamLog, rounds: int) -> None:
    rng = random.Random(1)
    after: list[float] = []
    got = 0
    for _ in range(rounds):
        seq = rng.randrange(log.first_seq - 1, log.last_seq - 20_000)
        start = time.perf_counter()
        first, lines = log.read_after(seq, max_bytes=MIB)
        after.append(time.perf_counter() - start)
        assert first == seq + 1
        got += len(lines)
    print(
        f"read_after 1 MiB ({got // rounds} lines) from a random seq: "
        f"median {statistics.median(after) * 1e3:.2f} ms, max {max(after) * 1e3:.2f} ms"
    )
    before: list[float] = []
    for _ in range(rounds):
        seq = rng.randrange(log.first_seq + 2000, log.last_seq)
        start = time.perf_counter()
        log.read_before(seq, 1000)
        before.append(time.perf_counter() - start)
    print(
        f"read_before 1000 lines from a random seq: median "
        f"{statistics.median(before) * 1e3:.2f} ms, max {max(before) * 1e3:.2f} ms"
    )
    small: list[float] = []
    for _ in range(rounds):
        seq = rng.randrange(log.first_seq, log.last_seq)
        start = time.perf_counter()
        log.read_after(seq, max_bytes=4096)
        small.append(time.perf_counter() - start)
    print(f"read_after 4 KiB (seek only): median {statistics.median(small) * 1e6:.0f} us")
    start = time.perf_counter()
    count = sum(len(chunk) for chunk in log.iter_chunks())
    elapsed = time.perf_counter() - start
    print(
        f"iter_chunks over {count} lines: {elapsed * 1e3:.0f} ms, "
        f"{log.nbytes / elapsed / MIB:.0f} MiB/s"
    )


def bench_open(folder: Path) -> None:
    log = StreamLog.open(folder, max_lines=10**9, max_bytes=10**12)
    seq = log.last_seq + 1
    while log.nbytes < 256 * MIB:
        log.append(seq, make_batch(seq))
        seq += BATCH
    log.close()
    start = time.perf_counter()
    again = StreamLog.open(folder, max_lines=10**9, max_bytes=10**12)
    elapsed = time.perf_counter() - start
    print(
        f"open (recovery) of {again.nbytes / MIB:.0f} MiB, {again.lines} lines, "
        f"{again.statistics()['segments']} segments: {elapsed * 1e3:.0f} ms"
    )
    again.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tailcast-bench-history-", dir=args.dir))
    try:
        log = bench_append(root / "append", args.lines)
        bench_reads(log, args.rounds)
        log.remove()
        bench_open(root / "open")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
