"""The inotify backend on its own: a client hears of changes in its directories only."""

from __future__ import annotations

from pathlib import Path

import pytest
from watchfiles import Change

from tailcast.sources.file.watch import inotify
from tailcast.sources.file.watch.inotify import InotifyBackend
from tests.helpers import apoll
from tests.sources.file.harness import RecordingClient, watching

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def made_dirs(root: Path, *names: str) -> list[Path]:
    dirs = [root / name for name in names]
    for d in dirs:
        d.mkdir()
    return dirs


async def test_changes_reach_the_client_of_their_directory_only(tmp_path: Path) -> None:
    mine, other = made_dirs(tmp_path, "mine", "other")
    client, bystander = RecordingClient({str(mine)}), RecordingClient({str(other)})
    async with watching(InotifyBackend(), client, bystander) as backend:
        assert backend.is_watched(str(mine))
        assert client.batches == [None]  # a new watch: look at everything once
        log = mine / "app.log"
        log.write_bytes(b"x\n")
        await apoll(lambda: (Change.added, str(log)) in client.changes())
        append(log, b"y\n")
        await apoll(lambda: (Change.modified, str(log)) in client.changes())
        log.unlink()
        await apoll(lambda: (Change.deleted, str(log)) in client.changes())
        assert bystander.changes() == set()
    assert backend.fd == -1


async def test_a_deleted_directory_leaves_the_watch_set(tmp_path: Path) -> None:
    (sub,) = made_dirs(tmp_path, "sub")
    async with watching(InotifyBackend(), RecordingClient({str(sub)})) as backend:
        assert backend.is_watched(str(sub))
        sub.rmdir()
        await apoll(lambda: not backend.is_watched(str(sub)))
        assert backend.could_watch(str(sub))  # if it comes back, a refresh watches it


async def test_records_are_read_no_more_often_than_the_clients_step(tmp_path: Path) -> None:
    # A line-at-a-time writer gives a record per write: the backend reads them
    # once per step of its clients (here 1 s), the first at once.
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    client = RecordingClient({str(tmp_path)})
    client.min_step = 1.0
    async with watching(InotifyBackend(), client) as backend:
        seen = len(client.batches)
        append(log, b"x\n")
        await apoll(lambda: len(client.batches) > seen)
        seen = len(client.batches)
        for _ in range(50):
            append(log, b"y\n")
        await apoll(lambda: len(client.batches) > seen)
        # Nothing was read during the pause (a timer never fires early), then
        # the 50 records came as one change.
        assert client.times[-1] - client.times[-2] >= 0.95
        assert client.batches[-1] == [(Change.modified, str(log))]
    assert backend.fd == -1


async def test_a_quiet_client_is_not_held_back_by_a_paced_one(tmp_path: Path) -> None:
    # Two clients paced alike (an agent following two files): one has just been
    # handed a change, the other not for long. A change for the quiet one is
    # handed over at once, not when the busy one may step again. The pacing is an
    # hour, so that no wait of this test can pass for it.
    busy_dir, quiet_dir = made_dirs(tmp_path, "busy", "quiet")
    busy, quiet = RecordingClient({str(busy_dir)}), RecordingClient({str(quiet_dir)})
    busy.min_step = quiet.min_step = 3600.0
    async with watching(InotifyBackend(), busy, quiet):
        quiet.times[-1] -= 7200  # its last batch (the first look) long ago: it is ready
        append(busy_dir / "a.log", b"x\n")
        await apoll(lambda: len(busy.batches) == 2)
        append(quiet_dir / "b.log", b"y\n")
        await apoll(lambda: len(quiet.batches) == 2)  # within the deadline: not an hour later
        assert len(busy.batches) == 2
