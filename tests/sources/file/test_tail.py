"""FileFollower polled by hand: start position, rotation order, retiring, truncation, slices.

No source and no watcher: each :meth:`FileFollower.poll` is one look, and its
operations are compared whole. A fake clock drives the quiet window.
"""

from __future__ import annotations

import os
from pathlib import Path

from tailcast.sources.file.ops import Data, Ended, FileEvent, Op, Opened, State
from tailcast.sources.file.tail import FileFollower


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def opened(path: Path, file: int, at: int = 0, before: bytes = b"") -> Opened:
    """The operation for the file now at ``path`` being read from ``at``."""
    st = os.stat(path)
    return Opened(file, st.st_dev, st.st_ino, at, before)


def data_of(ops: list[Op]) -> bytes:
    return b"".join(op.data for op in ops if isinstance(op, Data))


def test_a_file_there_at_start_begins_at_its_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a\nb\nc\n")
    follower = FileFollower(str(log), backlog_lines=2, max_line=1024)
    try:
        start = opened(log, 1, 2, b"a\n")
        assert follower.poll() == ([start, State("live"), Data(1, b"b\nc\n", 2)], False)
        append(log, b"d\n")
        assert follower.poll() == ([Data(1, b"d\n", 6)], False)
    finally:
        follower.close()


def test_a_file_that_appears_later_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    follower = FileFollower(str(log), backlog_lines=1, max_line=1024)
    try:
        assert follower.poll() == ([], False)  # still "waiting": no change to report
        log.write_bytes(b"a\nb\n")
        ops = [opened(log, 1), State("live"), Data(1, b"a\nb\n", 0)]
        assert follower.poll() == (ops, False)
    finally:
        follower.close()


def test_a_rename_reads_the_old_file_first_then_retires_it_when_quiet(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"one\n")
    clock = FakeClock()
    follower = FileFollower(str(log), backlog_lines=10, max_line=1024, quiet=5.0, clock=clock)
    try:
        follower.poll()
        os.rename(log, tmp_path / "app.log.1")
        append(tmp_path / "app.log.1", b"late\n")  # the writer has not reopened yet
        log.write_bytes(b"new\n")
        ops, _ = follower.poll()
        assert ops == [
            Data(1, b"late\n", 4),
            opened(log, 2),
            FileEvent("rotated"),
            Data(2, b"new\n", 0),
        ]
        assert follower.next_deadline() == 5.0
        clock.now = 5.0
        assert follower.poll() == ([Ended(1)], False)
        assert follower.statistics()["old_files"] == 0
        assert follower.statistics()["rotations"] == 1
    finally:
        follower.close()


def test_a_deleted_file_back_after_the_quiet_window_is_reattached(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"one\n")
    clock = FakeClock()
    follower = FileFollower(str(log), backlog_lines=10, max_line=1024, quiet=1.0, clock=clock)
    try:
        follower.poll()
        log.unlink()
        assert follower.poll() == ([State("waiting")], False)
        clock.now = 2.0
        assert follower.poll() == ([Ended(1)], False)
        assert follower.lost()
        log.write_bytes(b"two\n")
        ops, _ = follower.poll()
        assert ops == [opened(log, 2), State("live"), FileEvent("reattached"), Data(2, b"two\n", 0)]
    finally:
        follower.close()


def test_truncation_ends_the_partial_line_and_reads_from_zero(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a long first line\npartial")
    follower = FileFollower(str(log), backlog_lines=10, max_line=1024)
    try:
        follower.poll()
        os.truncate(log, 0)
        append(log, b"b\n")
        ops, _ = follower.poll()
        assert ops == [opened(log, 1), Ended(1), FileEvent("truncated"), Data(1, b"b\n", 0)]
        assert follower.statistics()["truncations"] == 1
    finally:
        follower.close()


def test_a_large_file_is_read_in_budget_sized_slices(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"x" * 1000)
    follower = FileFollower(str(log), backlog_lines=None, max_line=1024, budget=300)
    try:
        slices = [follower.poll() for _ in range(4)]
        assert [len(data_of(ops)) for ops, _ in slices] == [300, 300, 300, 100]
        assert [more for _, more in slices] == [True, True, True, False]
    finally:
        follower.close()


def test_a_directory_at_the_path_is_an_error(tmp_path: Path) -> None:
    follower = FileFollower(str(tmp_path), backlog_lines=None, max_line=1024)
    try:
        assert follower.poll() == ([State("error", f"{tmp_path}: is a directory")], False)
        assert str(tmp_path.parent) in follower.dirs()
    finally:
        follower.close()
