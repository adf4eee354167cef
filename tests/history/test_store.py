"""HistoryStore: the data dir, its lock, stream folders and meta, the disk budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailcast.errors import ConfigError
from tailcast.history.store import HistoryStore, stream_folder_name
from tests.history.disks import mounted_tmpfs
from tests.history.support import all_seqs, fill, lines

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore.open(tmp_path / "data", disk_budget=10**12)
    yield opened
    opened.close()


def test_open_creates_the_dir_and_writes_the_pid_in_the_lock(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b" / "data"
    store = HistoryStore.open(data, disk_budget=10**9)
    try:
        assert (data / "lock").read_text().strip() == str(os.getpid())
        assert (data / "streams").is_dir()
        assert store.statistics()["data_dir"] == str(data)
    finally:
        store.close()
    assert data.exists()  # a real data dir stays


def test_a_second_store_on_the_same_dir_is_refused(store: HistoryStore) -> None:
    with pytest.raises(ConfigError) as caught:
        HistoryStore.open(store.root, disk_budget=10**9)
    message = str(caught.value)
    assert message == f"--data-dir {store.root}: another tailcast (pid {os.getpid()}) uses it"
    assert caught.value.option == "--data-dir"


def test_another_process_holding_the_dir_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from tailcast.history.store import HistoryStore
        store = HistoryStore.open(Path({str(data)!r}), disk_budget=10**9)
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        assert child.stdout.readline() == b"ready\n"
        with pytest.raises(ConfigError, match=rf"another tailcast \(pid {child.pid}\) uses it"):
            HistoryStore.open(data, disk_budget=10**9)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        child.stdout.close()
    HistoryStore.open(data, disk_budget=10**9).close()  # free again once it exits


def test_a_dir_under_a_regular_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"^--data-dir .*file/data: cannot create it: "):
        HistoryStore.open(tmp_path / "file" / "data", disk_budget=10**9)
    with pytest.raises(ConfigError, match=r"^--data-dir .*file: cannot create it: "):
        HistoryStore.open(tmp_path / "file", disk_budget=10**9)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs: it refuses writes even to root (chmod would not)."""
    with mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as mount_point:
        yield mount_point


def test_a_dir_that_cannot_be_written_is_a_config_error(read_only_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--data-dir .*/ro: cannot write in it: Read-only"):
        HistoryStore.open(read_only_dir, disk_budget=10**9)
    with pytest.raises(ConfigError, match=r"^--data-dir .*/ro/sub: cannot create it: Read-only"):
        HistoryStore.open(read_only_dir / "sub", disk_budget=10**9)


def test_without_a_data_dir_a_private_dir_goes_at_close() -> None:
    store = HistoryStore.open(None, disk_budget=10**9)
    root = store.root
    log, _ = store.stream_log("app", "file", "/var/log/app.log")
    fill(log, 1, 10)
    assert store.private and root.is_dir() and not str(root).startswith("/dev/shm")
    store.close()
    assert not root.exists()


def test_a_restart_with_the_same_source_keeps_epoch_and_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = HistoryStore.open(data, disk_budget=10**9)
    log, meta = store.stream_log("app", "file", "/var/log/app.log")
    assert meta.epoch is None
    meta.epoch = "e-123"
    store.save_meta(meta)
    log.append(1, lines(1, 5), {"pos": 500})
    store.close()

    store = HistoryStore.open(data, disk_budget=10**9)
    log, meta = store.stream_log("app", "file", "/var/log/app.log")
    assert meta.epoch == "e-123" and log.last_seq == 5 and log.checkpoint == {"pos": 500}
    assert store.stream_log("app", "file", "/var/log/app.log")[0] is log  # opened once
    store.close()


def test_a_different_source_under_the_same_id_starts_afresh(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = HistoryStore.open(data, disk_budget=10**9)
    log, meta = store.stream_log("app", "file", "/var/log/app.log")
    meta.epoch = "old"
    store.save_meta(meta)
    fill(log, 1, 5)
    store.close()
    store = HistoryStore.open(data, disk_budget=10**9)
    log, meta = store.stream_log("app", "process", "make build")
    assert (meta.epoch, log.last_seq, meta.source_key) == (None, 0, "make build")
    store.close()


def test_a_damaged_meta_starts_afresh(store: HistoryStore) -> None:
    log, meta = store.stream_log("app", "file", "x")
    fill(log, 1, 5)
    folder = store.root / "streams" / "app"
    store.close()
    (folder / "meta.json").write_text('{"stream_id": 3')
    again = HistoryStore.open(store.root, disk_budget=10**9)
    log, meta = again.stream_log("app", "file", "x")
    assert log.last_seq == 0 and meta.epoch is None
    assert json.loads((folder / "meta.json").read_text())["source_key"] == "x"
    again.close()


def test_folder_names_never_leave_the_streams_dir(store: HistoryStore) -> None:
    assert stream_folder_name("app.log-1") == "app.log-1"
    for odd in ["..", "../../etc", "/abs", "a/b", "", "Upper", "x" * 300, "nul\0"]:
        name = stream_folder_name(odd)
        assert "/" not in name and name not in {".", ".."} and name.startswith("_")
        assert len(name) < 100
    log, _ = store.stream_log("../../escape", "file", "k")
    fill(log, 1, 3)
    assert log.folder.parent == store.root / "streams"
    assert not (store.root.parent / "escape").exists()


def test_the_disk_budget_cuts_the_largest_stream_first(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "data", disk_budget=400_000, segment_bytes=16 * 1024)
    big, _ = store.stream_log("big", "file", "b")
    small, _ = store.stream_log("small", "file", "s")
    fill(small, 1, 500)
    small_bytes = small.nbytes
    seq = 1
    for _ in range(40):
        seq = fill(big, seq, 250)
        store.enforce_budget()
        assert store.bytes_used <= 400_000
    assert small.nbytes == small_bytes and small.first_seq == 1
    assert big.first_seq > 1 and all_seqs(big) == list(range(big.first_seq, seq))
    stats = store.statistics()
    assert stats["bytes"] == big.nbytes + small.nbytes and stats["budget"] == 400_000
    assert stats["streams"]["big"]["last_seq"] == seq - 1
    assert store.enforce_budget() == 0
    store.close()


def test_streams_not_opened_this_run_count_and_go_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = HistoryStore.open(data, disk_budget=10**9, segment_bytes=16 * 1024)
    fill(store.stream_log("gone", "file", "g")[0], 1, 2000)
    store.close()
    store = HistoryStore.open(data, disk_budget=100_000, segment_bytes=16 * 1024)
    assert store.statistics()["stale_bytes"] > 100_000
    kept, _ = store.stream_log("kept", "file", "k")
    fill(kept, 1, 300)
    kept_bytes = kept.nbytes
    assert store.enforce_budget() > 0
    assert not (data / "streams" / "gone").exists()
    assert kept.nbytes == kept_bytes and store.bytes_used == kept_bytes
    store.close()


def test_remove_stream_deletes_its_folder(store: HistoryStore) -> None:
    log, _ = store.stream_log("app", "file", "x")
    fill(log, 1, 10)
    store.remove_stream("app")
    assert not (store.root / "streams" / "app").exists()
    assert store.bytes_used == 0
