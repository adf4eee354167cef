"""Recovery at open: damaged tails are cut back to whole records, never a crash."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailcast.history.log import StreamLog
from tailcast.history.records import checkpoint_record
from tests.history.support import BIG, all_seqs, fill, lines, open_log

ROOT = Path(__file__).resolve().parents[2]


def last_file(folder: Path) -> Path:
    return folder / sorted(n for n in os.listdir(folder) if n.endswith(".log"))[-1]


def written(tmp_path: Path, count: int = 20, checkpoint: bool = True) -> Path:
    folder = tmp_path / "s"
    log = open_log(folder)
    log.append(1, lines(1, count), {"pos": count} if checkpoint else None)
    log.close()
    return folder


def reopened_after(folder: Path, garbage: bytes) -> StreamLog:
    with last_file(folder).open("ab") as file:
        file.write(garbage)
    return open_log(folder)


def test_a_write_cut_between_two_of_its_lines_is_dropped_with_its_checkpoint(
    tmp_path: Path,
) -> None:
    # SIGKILL can stop a write of several pages at a page boundary, which may
    # fall right after a newline (seen on CI): the lines kept must not outrun
    # their checkpoint, or a restarted file source would read them again.
    folder = tmp_path / "s"
    log = open_log(folder)
    log.append(1, lines(1, 5), {"last": 5})
    log.append(6, lines(6, 5), {"last": 10})
    log.close()
    path = last_file(folder)
    data = path.read_bytes()
    cut = data.index(lines(8, 1)[0]) + len(lines(8, 1)[0]) + 1  # after line 8's newline
    path.write_bytes(data[:cut])
    log = open_log(folder)
    assert (log.last_seq, log.checkpoint, log.checkpoint_seq) == (5, {"last": 5}, 5)
    assert all_seqs(log) == [1, 2, 3, 4, 5]
    log.append(6, lines(6, 2), {"last": 7})  # numbering goes on from the whole write
    log.close()
    assert all_seqs(open_log(folder)) == list(range(1, 8))


def test_a_torn_last_record_is_cut(tmp_path: Path) -> None:
    folder = written(tmp_path, checkpoint=False)
    path = last_file(folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])  # mid-record 20
    log = open_log(folder)
    assert log.last_seq == 19 and all_seqs(log) == list(range(1, 20))
    assert path.read_bytes() == data[: data.rfind(b"\n", 0, len(data) - 1) + 1]
    log.append(20, lines(20, 3))
    log.close()
    assert all_seqs(open_log(folder)) == list(range(1, 23))


def test_garbage_is_cut_off(tmp_path: Path) -> None:
    rng = random.Random(12)
    cases = [
        bytes(rng.randrange(256) for _ in range(300)),
        b'{"seq":',
        b'{"seq":21,"ts":1.0,"te',
        b'{"seq":99,"ts":1.0,"text":"wrong seq"}\n',
        b'{"seq":21,"ts":1.0,"text":"no brace"\n',
        b"\0" * 4096,
        b'{"seq":21,"ts":1.0,"text":"a"}' + b"\0" * 100 + b"\n",
        b"#not a checkpoint\n",
        b"\n\n\n",
    ]
    for number, garbage in enumerate(cases):
        folder = written(tmp_path / str(number))
        size = last_file(folder).stat().st_size
        log = reopened_after(folder, garbage)
        assert (log.last_seq, log.cut_bytes) == (20, len(garbage)), garbage
        assert all_seqs(log) == list(range(1, 21))
        assert log.checkpoint == {"pos": 20}
        assert last_file(folder).stat().st_size == size
        log.append(21, lines(21, 1))
        assert log.read_after(20, max_bytes=BIG) == (21, lines(21, 1))


def test_nul_bytes_in_place_of_the_last_records(tmp_path: Path) -> None:
    folder = written(tmp_path, checkpoint=False)
    path = last_file(folder)
    data = bytearray(path.read_bytes())
    cut = data.index(b'{"seq":15,')
    data[cut:] = b"\0" * (len(data) - cut)  # the size grew, the data never reached the disk
    path.write_bytes(bytes(data))
    log = open_log(folder)
    assert all_seqs(log) == list(range(1, 15)) and path.stat().st_size == cut


def test_an_empty_segment_is_removed(tmp_path: Path) -> None:
    folder = written(tmp_path)
    (folder / "00000000000000000021.log").write_bytes(b"")
    (folder / "00000000000000000050.log").write_bytes(b"")
    log = open_log(folder)
    assert sorted(os.listdir(folder)) == ["00000000000000000001.log"]
    assert log.last_seq == 20


def test_a_last_segment_of_only_damage_goes_and_the_one_before_counts(tmp_path: Path) -> None:
    folder = written(tmp_path)
    (folder / "00000000000000000021.log").write_bytes(b'{"seq":21,"ts":1.0,"te')
    (folder / "00000000000000000040.log").write_bytes(b"junk junk")
    log = open_log(folder)
    assert sorted(os.listdir(folder)) == ["00000000000000000001.log"]
    assert (log.last_seq, log.checkpoint) == (20, {"pos": 20})


def test_a_checkpoint_as_the_last_record_is_kept(tmp_path: Path) -> None:
    log = open_log(written(tmp_path))
    assert (log.checkpoint, log.checkpoint_seq, log.cut_bytes) == ({"pos": 20}, 20, 0)


def test_a_checkpoint_followed_by_a_torn_record(tmp_path: Path) -> None:
    folder = written(tmp_path)
    torn = b"\n".join([*lines(21, 3), checkpoint_record(23, {"pos": 23})])[:-30]
    log = reopened_after(folder, torn)
    # The next batch's whole lines stay; its checkpoint is torn, so the old one counts.
    assert log.last_seq == 23
    assert (log.checkpoint, log.checkpoint_seq) == ({"pos": 20}, 20)


def test_a_torn_checkpoint_leaves_the_one_before(tmp_path: Path) -> None:
    folder = written(tmp_path)
    log = reopened_after(folder, checkpoint_record(20, {"pos": 99})[:-3])
    assert (log.checkpoint, log.last_seq) == ({"pos": 20}, 20)


def test_a_damaged_older_segment_is_cut_too(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    log = open_log(folder)
    log.append(1, lines(1, 10))
    log.append(20, lines(20, 10))  # a hole: a second segment
    log.close()
    with (folder / "00000000000000000001.log").open("ab") as file:
        file.write(b'{"seq":11,"ts":1.0,"te')  # a short write not cut back before the hole
    log = open_log(folder)
    assert all_seqs(log) == [*range(1, 11), *range(20, 30)]


def test_limits_lowered_since_the_last_run_apply_at_open(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    log = open_log(folder, segment_bytes=4096)
    fill(log, 1, 2000)
    log.close()
    log = open_log(folder, segment_bytes=4096, max_lines=500)
    assert log.lines <= 500 and log.last_seq == 2000


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 3), st.booleans()), min_size=1, max_size=12
    ),
    cut=st.floats(0, 1),
    garbage=st.binary(max_size=40),
)
def test_any_truncation_recovers_a_prefix(
    batches: list[tuple[int, int, bool]], cut: float, garbage: bytes
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "s"
        log = open_log(folder, segment_bytes=1024)
        appended: list[int] = []
        seq = 1
        for count, hole, with_checkpoint in batches:
            seq += hole if count else 0
            log.append(seq, lines(seq, count), {"to": seq + count - 1} if with_checkpoint else None)
            appended.extend(range(seq, seq + count))
            seq += count
        log.close()
        path = last_file(folder) if os.listdir(folder) else None
        if path is not None:
            data = path.read_bytes()
            path.write_bytes(data[: int(len(data) * cut)] + garbage)
        recovered = open_log(folder, segment_bytes=1024)
        kept = all_seqs(recovered)
        assert kept == appended[: len(kept)]
        # A segment cut back to its carried checkpoint still holds its first seq - 1.
        assert (kept[-1] if kept else 0) <= recovered.last_seq <= seq - 1
        if recovered.checkpoint is not None:
            assert recovered.checkpoint_seq <= recovered.last_seq
        nxt = recovered.last_seq + 1
        recovered.append(nxt, lines(nxt, 3))
        assert recovered.read_after(nxt - 1, max_bytes=BIG) == (nxt, lines(nxt, 3))
        assert all_seqs(recovered) == [*kept, nxt, nxt + 1, nxt + 2]


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tailcast.history.log import StreamLog

    log = StreamLog.open(Path(sys.argv[1]), max_lines=10**9, max_bytes=10**12,
                         segment_bytes=64 * 1024)
    seq, batch = log.last_seq + 1, 0
    while True:
        n = 1 + batch % 40
        lines = [b'{"seq":%d,"ts":1.5,"text":"%s"}' % (s, b"x" * (s % 90))
                 for s in range(seq, seq + n)]
        log.append(seq, lines, {"last": seq + n - 1})
        seq, batch = seq + n, batch + 1
        sys.stdout.write(f"{seq - 1}\\n")
        sys.stdout.flush()
    """
)


def test_sigkill_at_a_random_moment_loses_nothing_acknowledged(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    rng = random.Random()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _round in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None
        printed = [int(child.stdout.readline()) for _ in range(rng.randrange(20, 800))]
        os.kill(child.pid, signal.SIGKILL)
        printed += [int(line) for line in child.stdout.read().split()]
        child.wait(timeout=30)
        child.stdout.close()
        log = open_log(folder)
        kept = all_seqs(log)
        assert kept == list(range(1, log.last_seq + 1))
        assert printed[-1] <= log.last_seq
        # The last kept write is whole: its lines and its checkpoint together.
        assert (log.checkpoint, log.checkpoint_seq) == ({"last": log.last_seq}, log.last_seq)
        log.close()
