"""tailcast.history.kept: StreamHistory, the memory ring over a stream's disk log.

The disk faults here are injected: the log's open segment is swapped (``dup2``)
for ``/dev/full``, so its next write fails with a real ``ENOSPC``, and swapped
back to heal it. Only this unit test does that, because a real full disk
cannot be produced and cleared on demand per call; the end-to-end disk-full
test (``tests/history/test_faults.py``) fills a real tmpfs instead.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailcast.history.kept import RETRY_SECONDS, StreamHistory
from tailcast.history.log import StreamLog
from tests.history.support import lines, seqs


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FullDisk:
    """Makes a log's open segment fail with ENOSPC (it becomes /dev/full) until healed."""

    def __init__(self, log: StreamLog) -> None:
        assert log._fd is not None, "the log has no open segment to break"
        self.log = log
        self.fd = log._fd
        self.saved = os.dup(self.fd)
        full = os.open("/dev/full", os.O_WRONLY | os.O_CLOEXEC)
        os.dup2(full, self.fd)
        os.close(full)

    def heal(self) -> None:
        if self.saved >= 0:
            os.dup2(self.saved, self.fd)
            os.close(self.saved)
            self.saved = -1


def open_log(folder: Path, max_lines: int = 1_000_000) -> StreamLog:
    return StreamLog.open(folder, max_lines=max_lines, max_bytes=1 << 30)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[StreamLog]:
    opened = open_log(tmp_path / "app")
    yield opened
    opened.close()


def append_lines(history: StreamHistory, count: int, batch: int = 1) -> None:
    seq = history.last_seq + 1
    end = seq + count
    while seq < end:
        n = min(batch, end - seq)
        history.append(seq, lines(seq, n))
        seq += n


def read_all_after(history: StreamHistory, seq: int, max_bytes: int) -> list[int]:
    """Every seq ``read_after`` gives from ``seq`` on, following jumps."""
    out: list[int] = []
    while seq < history.last_seq:
        first, got = history.read_after(seq, max_bytes)
        assert got, f"nothing after {seq}"
        numbers = seqs(got)
        assert numbers[0] == first
        out.extend(numbers)
        seq = numbers[-1]
    return out


# -- the ring ------------------------------------------------------------------


def test_the_ring_is_bounded_by_lines(log: StreamLog) -> None:
    history = StreamHistory(log, max_lines=1000, memory_lines=5)
    append_lines(history, 12, batch=3)
    assert len(history.ring) == 5
    assert (history.ring_first, history.last_seq, history.first_seq) == (8, 12, 1)
    assert seqs(history.ring) == [8, 9, 10, 11, 12]
    assert history.ring_bytes == sum(map(len, history.ring))
    assert log.lines == 12  # the disk has them all


def test_a_batch_bigger_than_the_ring_keeps_its_newest_lines(log: StreamLog) -> None:
    history = StreamHistory(log, max_lines=1000, memory_lines=5)
    history.append(1, lines(1, 40))
    assert seqs(history.ring) == [36, 37, 38, 39, 40]
    assert history.ring_bytes == sum(map(len, history.ring))


def test_the_ring_is_bounded_by_bytes(log: StreamLog) -> None:
    line_size = len(lines(1, 1)[0])
    budget = line_size * 4
    history = StreamHistory(log, max_lines=1000, memory_lines=100, memory_bytes=budget)
    append_lines(history, 30, batch=7)
    assert history.ring_bytes <= budget
    assert history.ring_bytes == sum(map(len, history.ring))
    assert seqs(history.ring)[-1] == 30
    assert history.ring_first == 30 - len(history.ring) + 1
    assert history.first_seq == 1  # the rest is on disk
    # One line bigger than the budget is still kept (the newest is always in memory).
    big = StreamHistory(None, max_lines=10, memory_bytes=10)
    big.append(1, lines(1, 3))
    assert seqs(big.ring) == [3]


def test_without_a_log_the_ring_is_the_history(tmp_path: Path) -> None:
    history = StreamHistory(None, max_lines=10)
    assert history.mode == "memory"
    append_lines(history, 25, batch=4)
    assert (history.first_seq, history.last_seq) == (16, 25)
    assert read_all_after(history, 0, 1 << 20) == list(range(16, 26))
    assert history.statistics()["lines"] == 10


def test_reads_from_anywhere_in_the_ring_match_its_contents() -> None:
    # The ring is walked from whichever end is nearer: every start, every
    # limit, both halves, the same lines as a plain slice.
    history = StreamHistory(None, max_lines=50)
    append_lines(history, 70, batch=9)  # full: 21..70
    kept = list(history.ring)
    for seq in range(15, 75):
        for limit in (1, 3, 50):
            first, got = history.read_after(seq, 1 << 20, limit)
            start = max(seq + 1, 21)
            assert first == start
            assert got == kept[start - 21 : start - 21 + limit]
        # Bounded by bytes: the line that crosses the budget is the last one.
        budget = 2 * len(kept[-1])
        first, got = history.read_after(seq, budget)
        assert got or seq >= 70
        assert sum(map(len, got[:-1])) < budget
        assert got == kept[first - 21 : first - 21 + len(got)]
    assert history.ring_bytes == sum(map(len, history.ring))


# -- reading across the disk / memory boundary ------------------------------------


def test_read_after_across_the_boundary(log: StreamLog) -> None:
    history = StreamHistory(log, max_lines=1000, memory_lines=5)
    append_lines(history, 20, batch=3)
    assert history.ring_first == 16
    first, got = history.read_after(3, 1 << 20)
    assert (first, seqs(got)) == (4, list(range(4, 21)))
    assert history.lines_from_disk == 17
    # Small reads, one step at a time, cross from disk into the ring without a gap.
    assert read_all_after(history, 0, 200) == list(range(1, 21))
    before = history.lines_from_disk
    first, got = history.read_after(16, 1 << 20)
    assert (first, seqs(got)) == (17, [17, 18, 19, 20])
    assert history.lines_from_disk == before  # served from memory
    assert history.read_after(20, 1 << 20) == (21, [])
    first, got = history.read_after(0, 1 << 20, max_lines=2)
    assert (first, seqs(got)) == (1, [1, 2])


def test_read_before_across_the_boundary(log: StreamLog) -> None:
    history = StreamHistory(log, max_lines=1000, memory_lines=5)
    append_lines(history, 20, batch=3)
    first, got = history.read_before(21, 3)
    assert (first, seqs(got)) == (18, [18, 19, 20])
    first, got = history.read_before(21, 10)
    assert (first, seqs(got)) == (11, list(range(11, 21)))
    first, got = history.read_before(18, 6)
    assert (first, seqs(got)) == (12, list(range(12, 18)))
    first, got = history.read_before(8, 5)
    assert (first, seqs(got)) == (3, [3, 4, 5, 6, 7])
    first, got = history.read_before(3, 100)
    assert (first, seqs(got)) == (1, [1, 2])
    assert history.read_before(1, 10) == (1, [])
    first, got = history.read_before(10**9, 2)  # past the end: the newest
    assert (first, seqs(got)) == (19, [19, 20])


def test_first_seq_is_capped_to_max_lines(log: StreamLog) -> None:
    history = StreamHistory(log, max_lines=10)
    # One append of 30 lines is one segment the log cannot cut: it keeps them all.
    history.append(1, lines(1, 30))
    assert log.first_seq == 1
    assert (history.first_seq, history.last_seq) == (21, 30)
    assert read_all_after(history, 0, 1 << 20) == list(range(21, 31))
    first, got = history.read_before(31, 100)
    assert (first, seqs(got)) == (21, list(range(21, 31)))
    assert [s for chunk in history.iter_all(100) for s in seqs(chunk)] == list(range(21, 31))
    assert history.statistics()["lines"] == 10


def test_iter_all_is_every_kept_line_in_order(log: StreamLog) -> None:
    history = StreamHistory(log, max_lines=1000, memory_lines=7)
    append_lines(history, 50, batch=6)
    chunks = list(history.iter_all(300))
    assert len(chunks) > 1
    assert [s for chunk in chunks for s in seqs(chunk)] == list(range(1, 51))
    assert list(StreamHistory(None, max_lines=5).iter_all()) == []


def test_a_restart_warms_the_ring_from_disk(tmp_path: Path) -> None:
    log = open_log(tmp_path / "app")
    history = StreamHistory(log, max_lines=1000, memory_lines=5)
    append_lines(history, 12, batch=5)
    log.close()
    again = open_log(tmp_path / "app")
    try:
        warm = StreamHistory(again, max_lines=1000, memory_lines=5)
        assert (warm.first_seq, warm.last_seq, warm.mode) == (1, 12, "disk")
        assert seqs(warm.ring) == [8, 9, 10, 11, 12]
        warm.append(13, lines(13, 1))
        assert read_all_after(warm, 0, 1 << 20) == list(range(1, 14))
    finally:
        again.close()


# -- disk faults -----------------------------------------------------------------


def test_a_fault_keeps_history_in_memory_and_the_retry_writes_the_missing_lines(
    log: StreamLog,
) -> None:
    clock = Clock()
    changes: list[tuple[str, str | None]] = []
    history = StreamHistory(
        log,
        max_lines=1000,
        memory_lines=50,
        clock=clock,
        on_fault=lambda h: changes.append((h.mode, h.reason)),
    )
    append_lines(history, 10, batch=5)
    full = FullDisk(log)
    try:
        history.append(11, lines(11, 5))
        assert history.mode == "memory"
        assert history.reason == f"history on disk failed: {os.strerror(errno.ENOSPC)}"
        assert changes == [("memory", history.reason)]
        assert log.last_seq == 10  # nothing of the failed write is kept on disk
        # Live lines go on: the history answers from memory.
        history.append(16, lines(16, 5), {"offset": 160})
        assert history.last_seq == 20
        assert read_all_after(history, 0, 1 << 20) == list(range(1, 21))
        assert history.statistics()["mode"] == "memory"
        # No retry before RETRY_SECONDS: the disk is not touched.
        clock.now += RETRY_SECONDS / 2
        history.append(21, lines(21, 1))
        assert (history.mode, log.last_seq) == ("memory", 10)
        # A retry on a disk that still fails stays in memory and waits again.
        clock.now += RETRY_SECONDS
        history.append(22, lines(22, 1))
        assert (history.mode, log.last_seq, len(changes)) == ("memory", 10, 2)
        full.heal()
        clock.now += RETRY_SECONDS / 2
        history.append(23, lines(23, 1))
        assert history.mode == "memory"  # the failed retry moved the next one on
    finally:
        full.heal()
    clock.now += RETRY_SECONDS
    history.append(24, lines(24, 1), {"offset": 240})
    assert history.mode == "disk"
    assert history.reason is None
    assert changes[-1] == ("disk", None)
    # The ring's lines the disk missed were written first, then the new one: no hole.
    assert log.last_seq == 24
    first, got = log.read_after(0, max_bytes=1 << 20)
    assert (first, seqs(got)) == (1, list(range(1, 25)))
    assert log.checkpoint == {"offset": 240}
    history.append(25, lines(25, 1))
    assert log.last_seq == 25


def test_lines_that_left_the_ring_during_a_fault_are_a_jump(log: StreamLog) -> None:
    clock = Clock()
    history = StreamHistory(log, max_lines=1000, memory_lines=5, clock=clock)
    append_lines(history, 10, batch=5)
    full = FullDisk(log)
    try:
        append_lines(history, 20, batch=4)  # 11..30; the ring keeps 26..30
        assert history.mode == "memory"
        assert history.ring_first == 26
        # While in memory: the disk part, then a jump to the ring.
        assert history.read_after(10, 1 << 20) == (26, list(history.ring))
        assert read_all_after(history, 0, 1 << 20) == [*range(1, 11), *range(26, 31)]
        first, got = history.read_before(31, 100)
        assert (first, seqs(got)) == (26, list(range(26, 31)))
        first, got = history.read_before(26, 100)
        assert (first, seqs(got)) == (1, list(range(1, 11)))
    finally:
        full.heal()
    clock.now += RETRY_SECONDS
    history.append(31, lines(31, 1))
    assert history.mode == "disk"
    assert log.last_seq == 31
    # On disk now: 1..10, a hole, then what the ring held when the retry came
    # (27..31: 31 went into the ring first), written before 31 itself.
    first, got = log.read_after(10, max_bytes=1 << 20)
    assert (first, seqs(got)) == (27, list(range(27, 32)))
    append_lines(history, 10)  # 32..41; the ring moves on past 27
    assert history.ring_first == 37
    first, got = history.read_after(5, 1 << 20)
    assert (first, seqs(got)) == (6, [6, 7, 8, 9, 10])
    first, got = history.read_after(10, 1 << 20)
    assert (first, seqs(got)) == (27, list(range(27, 42)))
    assert [s for c in history.iter_all(200) for s in seqs(c)] == [*range(1, 11), *range(27, 42)]
    first, got = history.read_before(27, 100)
    assert (first, seqs(got)) == (1, list(range(1, 11)))


def test_a_fault_on_a_stream_with_a_checkpoint_keeps_the_checkpoint_on_disk(
    log: StreamLog,
) -> None:
    clock = Clock()
    history = StreamHistory(log, max_lines=1000, memory_lines=50, clock=clock)
    history.append(1, lines(1, 3), {"offset": 30})
    full = FullDisk(log)
    try:
        history.append(4, lines(4, 3), {"offset": 60})
    finally:
        full.heal()
    # The disk's checkpoint still matches the disk's lines (not the memory ones).
    assert history.checkpoint == {"offset": 30}
    assert log.checkpoint_seq == 3
    clock.now += RETRY_SECONDS
    history.append(7, lines(7, 1), {"offset": 70})
    assert history.checkpoint == {"offset": 70}
    assert log.checkpoint_seq == 7


def test_statistics(log: StreamLog) -> None:
    history = StreamHistory(log, max_lines=1000, memory_lines=4)
    append_lines(history, 9, batch=3)
    history.read_after(0, 1 << 20)
    stats = history.statistics()
    assert stats["mode"] == "disk"
    assert stats["lines"] == 9
    assert stats["bytes"] == log.nbytes
    assert stats["memory_lines"] == 4
    assert stats["memory_bytes"] == history.ring_bytes
    assert stats["lines_from_disk"] == 9
    assert json.dumps(stats)


def test_a_log_that_could_not_be_opened_is_opened_again_later(tmp_path: Path) -> None:
    clock = Clock()
    attempts: list[int] = []

    def reopen() -> StreamLog:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return open_log(tmp_path / "late")

    history = StreamHistory(
        None, max_lines=1000, memory_lines=5, clock=clock, reopen=reopen, reason="it failed"
    )
    assert (history.mode, history.reason, history.ring.maxlen) == ("memory", "it failed", 5)
    append_lines(history, 3)
    assert attempts == []  # not before RETRY_SECONDS
    clock.now += RETRY_SECONDS
    append_lines(history, 3)  # 4..6: the reopen fails, the ring keeps 2..6
    assert (history.mode, len(attempts)) == ("memory", 1)
    assert history.reason == f"history on disk failed: {os.strerror(errno.ENOSPC)}"
    assert history.first_seq == 2
    clock.now += RETRY_SECONDS
    history.append(7, lines(7, 1), {"offset": 7})
    assert (history.mode, len(attempts)) == ("disk", 2)
    assert history.reason is None
    assert history.log is not None
    try:
        # The ring's lines went to the new log first: 3..7 (1 and 2 had left the ring).
        first, got = history.log.read_after(0, max_bytes=1 << 20)
        assert (first, seqs(got)) == (3, [3, 4, 5, 6, 7])
        assert history.checkpoint == {"offset": 7}
        append_lines(history, 10)
        assert read_all_after(history, 2, 1 << 20) == list(range(3, 18))
        assert len(attempts) == 2
    finally:
        history.log.close()
