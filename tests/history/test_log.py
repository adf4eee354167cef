"""StreamLog: appending, reading forwards and backwards, segments, limits, holes, disk full."""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailcast.protocol.wire import encode_line
from tests.history.disks import mounted_tmpfs
from tests.history.support import BIG, all_seqs, fill, lines, open_log, seqs


def test_an_empty_log(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s")
    assert (log.first_seq, log.last_seq, log.lines, log.nbytes) == (1, 0, 0, 0)
    assert log.read_after(0, max_bytes=1000) == (1, [])
    assert log.read_before(1, 10) == (1, [])
    assert list(log.iter_chunks()) == []
    assert log.checkpoint is None
    assert log.statistics() == {
        "lines": 0,
        "bytes": 0,
        "segments": 0,
        "first_seq": 1,
        "last_seq": 0,
    }


def test_appended_lines_read_back_byte_for_byte(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s")
    batch = lines(1, 50)
    log.append(1, batch)
    assert log.read_after(0, max_bytes=BIG) == (1, batch)
    assert log.read_after(20, max_bytes=BIG) == (21, batch[20:])
    assert log.read_after(50, max_bytes=BIG) == (51, [])
    assert log.read_after(0, max_bytes=BIG, max_lines=5) == (1, batch[:5])
    # Always at least one whole line, however small the byte budget.
    assert log.read_after(9, max_bytes=1) == (10, [batch[9]])
    files = sorted(os.listdir(tmp_path / "s"))
    assert files == ["00000000000000000001.log"]
    assert (tmp_path / "s" / files[0]).read_bytes() == b"".join(b + b"\n" for b in batch)
    assert (log.first_seq, log.last_seq, log.lines) == (1, 50, 50)


def test_read_after_from_every_position_across_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s", segment_bytes=4096)
    fill(log, 1, 2000, batch=37)
    assert log.statistics()["segments"] > 10
    for seq in range(2001):
        first, got = log.read_after(seq, max_bytes=600)
        assert first == seq + 1
        if seq < 2000:
            assert got and seqs(got) == list(range(seq + 1, seq + 1 + len(got)))
        else:
            assert got == []


def test_read_after_continues_into_the_next_segment(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s", segment_bytes=4096)
    fill(log, 1, 500, batch=10)
    first, got = log.read_after(0, max_bytes=BIG)
    assert first == 1 and seqs(got) == list(range(1, 501))


def test_read_before_pages_backwards_over_the_whole_history(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s", segment_bytes=4096)
    fill(log, 1, 1000, batch=33)
    assert log.read_before(11, 5) == (6, lines(6, 5))
    assert log.read_before(3, 10) == (1, lines(1, 2))
    assert log.read_before(10_000, 3) == (998, lines(998, 3))
    pages: list[int] = []
    before = log.last_seq + 1
    while True:
        first, got = log.read_before(before, 64)
        if not got:
            break
        assert seqs(got) == list(range(first, before))
        pages = seqs(got) + pages
        before = first
    assert pages == list(range(1, 1001))


def test_iter_chunks_yields_the_whole_history_in_chunks(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s", segment_bytes=8192)
    fill(log, 1, 3000)
    chunks = list(log.iter_chunks(chunk_bytes=5000))
    assert len(chunks) > 10
    assert all(sum(len(r) + 1 for r in c) <= 5000 for c in chunks)
    assert [s for c in chunks for s in seqs(c)] == list(range(1, 3001))


def test_iter_chunks_is_a_snapshot(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s", segment_bytes=4096, max_lines=400)
    fill(log, 1, 400)
    chunks: Iterator[list[bytes]] = log.iter_chunks(1024)
    first = next(chunks)
    fill(log, 401, 2000)  # trims every segment the download had opened
    got = seqs(first) + [s for c in chunks for s in seqs(c)]
    assert got[0] <= 400 and got == list(range(got[0], 401))


def test_segments_rotate_at_call_boundaries_with_sorting_names(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    log = open_log(folder, segment_bytes=2048)
    fill(log, 1, 500, batch=25)
    names = sorted(os.listdir(folder))
    assert len(names) > 5
    firsts = [int(n.removesuffix(".log")) for n in names]
    assert firsts[0] == 1 and all((f - 1) % 25 == 0 for f in firsts)  # never mid-batch
    for name in names:
        data = (folder / name).read_bytes()
        assert data.endswith(b"\n")
        assert seqs(data.split(b"\n")[:-1])[0] == int(name.removesuffix(".log"))


def test_trimming_by_lines_removes_whole_oldest_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s", max_lines=1600)
    fill(log, 1, 10_000, batch=50)
    segment_lines = 1600 // 16
    assert 1600 - segment_lines - 50 <= log.lines <= 1600
    assert log.last_seq == 10_000 and log.first_seq == 10_001 - log.lines
    assert all_seqs(log) == list(range(log.first_seq, 10_001))
    assert log.read_after(0, max_bytes=200)[0] == log.first_seq


def test_trimming_by_bytes(tmp_path: Path) -> None:
    limit = 160 * 1024
    log = open_log(tmp_path / "s", max_bytes=limit)
    fill(log, 1, 20_000, batch=40)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "s").iterdir())
    assert on_disk == log.nbytes
    assert limit - limit // 16 - 8192 <= log.nbytes <= limit
    assert all_seqs(log) == list(range(log.first_seq, 20_001))


def test_a_hole_starts_a_segment_and_reads_stop_at_it(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s")
    log.append(1, lines(1, 10))
    log.append(20, lines(20, 11))
    assert log.statistics()["segments"] == 2
    assert log.lines == 21 and log.last_seq == 30
    assert log.read_after(0, max_bytes=BIG) == (1, lines(1, 10))
    assert log.read_after(10, max_bytes=BIG) == (20, lines(20, 11))
    assert log.read_after(14, max_bytes=BIG) == (20, lines(20, 11))
    assert log.read_before(25, 10) == (20, lines(20, 5))
    assert log.read_before(20, 3) == (8, lines(8, 3))
    assert log.read_before(15, 3) == (8, lines(8, 3))
    assert all_seqs(log) == [*range(1, 11), *range(20, 31)]
    log.close()
    again = open_log(tmp_path / "s")
    assert all_seqs(again) == [*range(1, 11), *range(20, 31)]


def test_a_seq_already_used_is_a_caller_bug(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s")
    log.append(1, lines(1, 5))
    with pytest.raises(ValueError, match="not after"):
        log.append(5, lines(5, 1))
    with pytest.raises(ValueError):
        log.append(1, lines(1, 1))
    log.append(6, lines(6, 1))
    assert all_seqs(log) == [1, 2, 3, 4, 5, 6]


def test_checkpoints_are_kept_and_skipped_by_readers(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    log = open_log(folder)
    log.append(1, lines(1, 3), {"pos": 300, "inode": 7})
    log.append(4, [], {"pos": 333})  # a position alone (e.g. skipped bytes)
    log.append(4, lines(4, 2))
    assert log.read_after(0, max_bytes=BIG) == (1, lines(1, 5))
    assert log.read_before(6, 10) == (1, lines(1, 5))
    assert all_seqs(log) == [1, 2, 3, 4, 5]
    assert (log.checkpoint, log.checkpoint_seq) == ({"pos": 333}, 3)
    text = (folder / "00000000000000000001.log").read_text()
    assert '#{"after":3,"checkpoint":{"pos":300,"inode":7}}\n' in text
    log.close()
    again = open_log(folder)
    assert (again.checkpoint, again.checkpoint_seq) == ({"pos": 333}, 3)
    assert again.last_seq == 5


def test_the_checkpoint_survives_rotation_and_trimming(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    log = open_log(folder, segment_bytes=4096, max_lines=400)
    log.append(1, lines(1, 10), {"pos": 10})
    fill(log, 11, 2000, batch=20)  # no checkpoint: the first segment is long gone
    assert log.first_seq > 10
    log.close()
    again = open_log(folder, segment_bytes=4096, max_lines=400)
    assert (again.checkpoint, again.checkpoint_seq) == ({"pos": 10}, 10)


def test_a_checkpoint_alone_keeps_the_numbering(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    log = open_log(folder)
    log.append(1, [], {"pos": 0})
    assert (log.first_seq, log.last_seq, log.lines) == (1, 0, 0)
    log.close()
    again = open_log(folder)
    assert again.checkpoint == {"pos": 0}
    again.append(1, lines(1, 2))
    assert all_seqs(again) == [1, 2]


def test_drop_oldest_keeps_the_last_segment(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s", segment_bytes=4096)
    fill(log, 1, 1000)
    segments = log.statistics()["segments"]
    before = log.nbytes
    freed = log.drop_oldest(1)
    assert freed > 0 and log.nbytes == before - freed
    assert log.statistics()["segments"] == segments - 1
    log.drop_oldest(BIG)
    assert log.statistics()["segments"] == 1 and log.last_seq == 1000
    assert all_seqs(log) == list(range(log.first_seq, 1001))


def test_remove_deletes_the_folder(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s")
    fill(log, 1, 10)
    log.remove()
    assert not (tmp_path / "s").exists()
    assert log.nbytes == 0


def test_reads_in_another_thread_while_appending_and_trimming(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s", segment_bytes=4096, max_lines=800)
    fill(log, 1, 100)
    errors: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            first, got = log.read_after(0, max_bytes=20_000)
            if got and seqs(got) != list(range(first, first + len(got))):
                errors.append(f"not contiguous from {first}")
            first, got = log.read_before(log.last_seq + 1, 50)
            if got and seqs(got) != list(range(first, first + len(got))):
                errors.append(f"not contiguous before, from {first}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        fill(log, 101, 20_000, batch=10)
    finally:
        done.set()
        thread.join()
    assert errors == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (we run as root); unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "small", "size=1m") as mount_point:
        yield mount_point


def test_disk_full_raises_keeps_a_valid_prefix_and_resumes(small_disk: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"f" * 256 * 1024)
    folder = small_disk / "s"
    log = open_log(folder)
    seq = 1
    with pytest.raises(OSError) as caught:
        while True:
            log.append(seq, lines(seq, 100), {"pos": seq + 99})
            seq += 100
    assert caught.value.errno == errno.ENOSPC
    kept = seq - 1
    assert log.last_seq == kept
    assert sum(p.stat().st_size for p in folder.iterdir()) == log.nbytes  # short write undone
    reopened = open_log(folder)
    assert reopened.cut_bytes == 0 and reopened.last_seq == kept
    assert all_seqs(reopened) == list(range(1, kept + 1))
    assert reopened.checkpoint == {"pos": kept}
    reopened.close()
    filler.unlink()
    # The lines that met the full disk are gone from it: the next ones follow a hole.
    log.append(seq + 100, lines(seq + 100, 10), {"pos": -1})
    log.close()
    again = open_log(folder)
    assert all_seqs(again) == [*range(1, kept + 1), *range(seq + 100, seq + 110)]
    assert again.checkpoint == {"pos": -1}
    body = b"".join((folder / n).read_bytes() for n in sorted(os.listdir(folder)))
    assert all(json.loads(r[1:] if r.startswith(b"#") else r) for r in body.split(b"\n")[:-1])


def test_seeking_in_a_segment_of_very_uneven_lines(tmp_path: Path) -> None:
    # Long lines then short ones: the proportional guess misses, the bisection finds it.
    log = open_log(tmp_path / "s")
    long_lines = [encode_line(s, 1.0, "L" * 3000) for s in range(1, 301)]
    short_lines = [encode_line(s, 1.0, "s") for s in range(301, 3301)]
    log.append(1, long_lines)
    log.append(301, short_lines)
    assert log.statistics()["segments"] == 1 and log.nbytes > 900_000
    every = long_lines + short_lines
    for seq in [*range(0, 3301, 7), 299, 300, 301, 3299]:
        assert log.read_after(seq, max_bytes=100, max_lines=1) == (seq + 1, every[seq : seq + 1])
        assert log.read_before(seq + 1, 3) == (max(1, seq - 2), every[max(0, seq - 3) : seq])


def test_a_hash_inside_a_line_is_not_a_checkpoint(tmp_path: Path) -> None:
    log = open_log(tmp_path / "s")
    texts = ["# a comment", "a#b", "#", "##{}", 'x\n#{"after":1}']
    encoded = [encode_line(s, 1.0, t) for s, t in enumerate(texts, start=1)]
    log.append(1, encoded[:2], {"pos": 2})
    log.append(3, encoded[2:], {"pos": 5})
    assert log.read_after(0, max_bytes=BIG) == (1, encoded)
    assert log.read_before(6, 10) == (1, encoded)
    assert [line for chunk in log.iter_chunks() for line in chunk] == encoded
