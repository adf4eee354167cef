"""One followed file: start position, line splitting, truncation, deletion, symlinks, --poll.

Real files in ``tmp_path``, the real shared watcher; the lines are read back
from the hub's history (see :mod:`tests.sources.file.harness`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tailcast.sources.file import source
from tailcast.sources.file.tail import DEFAULT_BUDGET
from tailcast.sources.file.watch.factory import shared_backend
from tests.helpers import apoll
from tests.sources.file.harness import RecordingClient, following


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def rewrite(path: Path, data: bytes) -> None:
    """Truncate in place and write ``data``, in one go (no poll can see it empty)."""
    with open(path, "r+b") as fh:
        fh.truncate(0)
        fh.write(data)


def numbered(start: int, stop: int) -> bytes:
    return b"".join(b"n%d\n" % i for i in range(start, stop))


# -- start position ------------------------------------------------------------------


async def test_the_last_lines_go_into_history_then_new_lines_follow(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(numbered(0, 500))
    async with following(log, lines=3) as f:
        await f.wait_lines("app.log", ["n497", "n498", "n499"])
        assert f.states("app.log") == ["live"]
        append(log, b"n500\n")
        await f.wait_lines("app.log", ["n497", "n498", "n499", "n500"])
        assert f.file_events("app.log") == []
        assert f.hub.streams["app.log"].detail == {"path": str(log)}


async def test_lines_zero_starts_at_the_end(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(numbered(0, 10))
    async with following(log, lines=0) as f:
        await f.wait_read(log, log.stat().st_size)
        append(log, b"fresh\n")
        await f.wait_lines("app.log", ["fresh"])


async def test_a_file_that_appears_later_is_read_from_its_beginning(tmp_path: Path) -> None:
    log = tmp_path / "late.log"
    async with following(log, lines=1) as f:
        await apoll(lambda: f.hub.streams["late.log"].state == "waiting")
        log.write_bytes(numbered(0, 5))  # more than --lines: all of it is new
        await f.wait_lines("late.log", ["n0", "n1", "n2", "n3", "n4"])
        assert f.states("late.log") == ["live"]
        assert f.file_events("late.log") == []


async def test_a_missing_directory_is_waited_for(tmp_path: Path) -> None:
    log = tmp_path / "later" / "deeper" / "app.log"
    async with following(log, poll_interval=0.05) as f:
        await apoll(lambda: f.file(log)["state"] == "waiting")
        log.parent.mkdir(parents=True)
        log.write_bytes(b"first\n")
        await f.wait_lines("app.log", ["first"])
        # Once the directory exists the watcher takes it over from polling.
        await apoll(lambda: not f.source.statistics()["polled"])
        append(log, b"second\n")
        await f.wait_lines("app.log", ["first", "second"])


async def test_a_sparse_1gb_file_tail_is_read_without_reading_it_whole(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_bytes(b"")
    os.truncate(log, 1 << 30)  # 1 GiB of holes: reads would return NULs
    append(log, b"\n" + numbered(0, 300))
    async with following(log, lines=100) as f:
        await f.wait_lines("big.log", [f"n{i}" for i in range(200, 300)])
        stats = f.file(log)
        assert stats["offset"] == log.stat().st_size
        assert stats["backlog_bytes_scanned"] + stats["bytes_read"] < 256 * 1024


# -- what goes into a line -----------------------------------------------------------


async def test_a_partial_line_is_shown_after_the_flush_delay_then_continued(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with following(log, flush_delay=0.05) as f:
        await apoll(lambda: f.states("app.log") == ["live"])
        append(log, b"abc")
        await apoll(lambda: [p["text"] for p in f.pieces("app.log")] == ["abc"])
        append(log, b"def\nnext\n")
        await f.wait_lines("app.log", ["abcdef", "next"])
        assert [p.get("cont", False) for p in f.pieces("app.log")] == [False, True, False]


async def test_a_multibyte_character_split_across_reads_stays_whole(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with following(log, flush_delay=30.0) as f:
        await apoll(lambda: f.states("app.log") == ["live"])
        append(log, "x€".encode()[:-1])  # the euro sign's last byte is missing
        await f.wait_read(log, 3)
        append(log, "€".encode()[-1:] + b"y\n")
        await f.wait_lines("app.log", ["x€y"])


async def test_invalid_bytes_crlf_and_very_long_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    long = "é" * 3000  # 6000 bytes, split into 1024-byte pieces on character boundaries
    async with following(log, max_line=1024) as f:
        await apoll(lambda: f.states("app.log") == ["live"])
        append(log, b"bad \xff\xfe byte\r\nwindows\r\n" + long.encode() + b"\nend\n")
        await f.wait_lines("app.log", ["bad \ufffd\ufffd byte", "windows", long, "end"])
        pieces = f.pieces("app.log")
        assert len(pieces) == 2 + 6 + 1
        assert all(len(p["text"].encode()) <= 1024 for p in pieces)


# -- truncation, deletion, symlinks -------------------------------------------------


async def test_truncation_reads_again_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(numbered(0, 3))
    async with following(log) as f:
        await f.wait_lines("app.log", ["n0", "n1", "n2"])
        os.truncate(log, 0)  # ": > app.log"
        await apoll(lambda: f.file_events("app.log") == ["truncated"])
        append(log, b"after\n")
        await f.wait_lines("app.log", ["n0", "n1", "n2", "after"])


async def test_truncate_and_rewrite_past_the_offset_is_still_noticed(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"short\n")
    async with following(log, flush_delay=30.0) as f:
        await f.wait_lines("app.log", ["short"])
        # Between two looks the file is emptied and refilled beyond our offset:
        # the size never goes down, the bytes before the offset change.
        tmp = tmp_path / "new"
        tmp.write_bytes(b"a completely different first line\nsecond\n")
        os.replace(tmp, log)  # a new inode: that would be a rotation, so ...
        await f.wait_lines("app.log", ["short", "a completely different first line", "second"])
        rewrite(log, b"rewritten in place, longer than before\n")  # ... now truly in place
        await f.wait_lines(
            "app.log",
            [
                "short",
                "a completely different first line",
                "second",
                "rewritten in place, longer than before",
            ],
        )
        assert "truncated" in f.file_events("app.log")


async def test_a_deleted_and_recreated_file_is_reattached(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"one\n")
    async with following(log, quiet=0.2) as f:
        await f.wait_lines("app.log", ["one"])
        log.unlink()
        await apoll(lambda: f.hub.streams["app.log"].state == "waiting")
        await apoll(lambda: f.file(log)["old_files"] == 0)  # read out and closed
        await apoll(f.source.followed[str(log)].follower.lost)
        log.write_bytes(b"two\nthree\n")
        await f.wait_lines("app.log", ["one", "two", "three"])
        assert f.file_events("app.log") == ["reattached"]
        assert f.states("app.log") == ["live", "waiting", "live"]


async def test_a_deleted_file_still_being_written_is_read_out(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, b"before\n")
        async with following(log, quiet=2.0) as f:
            await f.wait_lines("app.log", ["before"])
            log.unlink()
            await apoll(lambda: f.file(log)["old_files"] == 1)
            os.write(fd, b"after unlink\n")
            await f.wait_lines("app.log", ["before", "after unlink"])
    finally:
        os.close(fd)


async def test_a_symlink_switch_is_a_rotation(tmp_path: Path) -> None:
    (tmp_path / "app.log.1").write_bytes(b"first file\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "app.log.2").write_bytes(b"")
    link = tmp_path / "current"
    link.symlink_to("app.log.1")
    async with following(link, quiet=0.3) as f:
        await f.wait_lines("current", ["first file"])
        tmp = tmp_path / "current.tmp"
        tmp.symlink_to("sub/app.log.2")
        os.replace(tmp, link)  # like `ln -sfn`
        await apoll(lambda: f.file_events("current") == ["rotated"])
        # Writes to the new target, in a directory of its own, are seen too.
        append(tmp_path / "sub" / "app.log.2", b"second file\n")
        await f.wait_lines("current", ["first file", "second file"])


async def test_poll_mode_follows_without_the_watcher(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a\n")
    async with following(log, poll=True, poll_interval=0.05) as f:
        await f.wait_lines("app.log", ["a"])
        append(log, b"b\n")
        await f.wait_lines("app.log", ["a", "b"])
        stats = f.source.statistics()
        assert stats["polled"] is True
        assert "watcher" not in stats
        assert stats["inline_steps"] == 0  # a polled file may be on a network: never on the loop


async def test_a_line_at_a_time_writer_is_read_on_the_event_loop(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with following(log) as f:
        await f.wait_read(log, 0)
        expected: list[str] = []
        for n in range(5):
            append(log, b"n%d\n" % n)
            expected.append(f"n{n}")
            await f.wait_lines("app.log", expected)
        # After the first (full) look, small reads skip the worker thread.
        assert f.source.statistics()["inline_steps"] >= 3


async def test_a_backlog_is_read_on_without_pausing_between_reads(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    # The least time between two steps' starts: an agent's pacing, stretched so far
    # that no wait of this test could pass for it (a paced read would take an hour).
    step = 3600.0
    reads = 4  # the backlog: four times what one read may take
    count = reads * DEFAULT_BUDGET // 100
    log.write_bytes((b"x" * 99 + b"\n") * count)
    # All of it is the backlog: the first look (never paced) reads the first slice,
    # each later read comes at once, not a step later.
    async with following(log, lines=count + 1, file_step=step) as f:
        stream = f.hub.streams["big.log"]
        # (>=: a line cut by a read's end may be shown in two pieces)
        await apoll(lambda: stream.lines_in >= count)
        assert f.file(log)["offset"] == log.stat().st_size


async def test_a_quiet_file_is_read_at_once_while_another_is_paced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two files paced alike on one watch backend (an agent following both): a line
    # in the quiet one does not wait for the busy one's next step. The pacing is an
    # hour, so that no wait of this test can pass for it.
    monkeypatch.setattr(source, "SAFETY_TICK", 60.0)  # no look meanwhile paces the quiet one
    step = 3600.0
    busy, quiet = tmp_path / "b" / "busy.log", tmp_path / "q" / "quiet.log"
    for path in (busy, quiet):
        path.parent.mkdir()
        path.write_bytes(b"")
    # The directories are watched before the sources come, so neither gets the
    # look a new watch asks for (that look would be paced: an hour after its first).
    backend = shared_backend()
    holder = RecordingClient({str(busy.parent), str(quiet.parent)})
    backend.add(holder)
    async with (
        following(busy, lines=1, file_step=step) as fb,
        following(quiet, lines=1, file_step=step) as fq,
    ):
        backend.remove(holder)  # (its pacing, none, would be the backend's)
        for f in (fb, fq):
            f.source._stepped -= 2 * step  # its last look was long ago (it waits for changes)
        await apoll(lambda: max(fb.source.ready_at(), fq.source.ready_at()) < time.monotonic())
        append(busy, b"b1\n")
        await fb.wait_lines("busy.log", ["b1"])  # the busy file's source is paced from now
        append(quiet, b"q1\n")
        await fq.wait_lines("quiet.log", ["q1"])  # within the deadline: not an hour later
        assert fb.source.ready_at() > time.monotonic()  # the busy one is paced still
