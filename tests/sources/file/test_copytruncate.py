"""copytruncate: the unread rest read from logrotate's copy, and only from a true copy.

The follower is polled by hand (no source, no watcher): the copy is looked
for when it notices the truncation.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tailcast.sources.file.copytruncate import read_copy_rest
from tailcast.sources.file.ops import Data, FileEvent
from tailcast.sources.file.tail import FileFollower


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def poll_text(follower: FileFollower) -> tuple[bytes, list[str]]:
    ops, more = follower.poll()
    assert not more
    data = b"".join(op.data for op in ops if isinstance(op, Data))
    return data, [op.name for op in ops if isinstance(op, FileEvent)]


def test_copytruncate_reads_the_unread_rest_from_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"first line of the file\n")
    follower = FileFollower(str(log), backlog_lines=10, max_line=1024)
    try:
        assert poll_text(follower) == (b"first line of the file\n", [])
        append(log, b"unread before the copy\n")
        shutil.copyfile(log, tmp_path / "app.log-20240101")  # logrotate copytruncate
        append(log, b"between copy and truncate: in no file\n")
        os.truncate(log, 0)
        append(log, b"after\n")
        assert poll_text(follower) == (b"unread before the copy\nafter\n", ["truncated"])
        assert follower.statistics()["recovered_bytes"] == len(b"unread before the copy\n")
    finally:
        follower.close()


def test_a_sibling_that_is_not_the_copy_is_not_read(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"first line of the file\nsecond\n")
    follower = FileFollower(str(log), backlog_lines=10, max_line=1024)
    try:
        poll_text(follower)
        # Same length and same start, different bytes before our offset.
        (tmp_path / "app.log.1").write_bytes(b"first line of the file\nSECOND\nmore\n")
        os.truncate(log, 0)
        append(log, b"after\n")
        assert poll_text(follower) == (b"after\n", ["truncated"])
        assert follower.statistics()["recovered_bytes"] == 0
    finally:
        follower.close()


def test_read_copy_rest_emits_what_the_copy_holds_past_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    (tmp_path / "app.log.1").write_bytes(b"head of file\nread\nunread\n")
    (tmp_path / "other.log").write_bytes(b"head of file\nread\nnot this name\n")
    chunks: list[bytes] = []
    offset = len(b"head of file\nread\n")
    got = read_copy_rest(str(log), b"head of file\n", b"read\n", offset, chunks.append)
    assert (got, b"".join(chunks)) == (len(b"unread\n"), b"unread\n")
    # Knowing nothing of what we read, no sibling can be recognised as the copy.
    assert read_copy_rest(str(log), b"", b"read\n", offset, chunks.append) == 0
    assert read_copy_rest(str(log), b"head of file\n", b"", offset, chunks.append) == 0
    assert b"".join(chunks) == b"unread\n"
