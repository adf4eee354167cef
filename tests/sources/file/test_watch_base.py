"""WatchBackend's shared bookkeeping: who wants which directory, and where a batch goes."""

from __future__ import annotations

import os
from pathlib import Path

from watchfiles import Change

from tailcast.sources.file.watch.base import WatchBackend, WatchClient
from tests.sources.file.harness import RecordingClient


class StubBackend(WatchBackend):
    """Only the shared part: nothing is really watched."""

    def __init__(self) -> None:
        super().__init__()
        self.refreshes = 0

    def add(self, client: WatchClient) -> None:
        self.clients.add(client)

    def remove(self, client: WatchClient) -> None:
        self.clients.discard(client)

    def refresh(self) -> None:
        self.refreshes += 1

    async def wait_stopped(self) -> None:
        pass


def test_a_batch_goes_to_the_clients_of_each_changed_directory(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    backend = StubBackend()
    only_a = RecordingClient({str(a)})
    both = RecordingClient({str(a), str(b)})
    backend.add(only_a)
    backend.add(both)
    backend.watched = backend._wanted()
    assert backend.watched == {str(a), str(b)}
    in_a, in_b = (Change.modified, str(a / "x.log")), (Change.added, str(b / "y.log"))
    backend._dispatch([in_a, in_b])
    assert only_a.batches == [[in_a]]
    assert both.changes() == {in_a, in_b}
    assert backend.batches == 1
    assert backend.refreshes == 0
    # A watched directory deleted: the watch set is recomputed.
    backend._dispatch([(Change.deleted, str(b))])
    assert backend.refreshes == 1


def test_missing_and_network_directories_are_not_wanted(tmp_path: Path) -> None:
    real = os.path.realpath(tmp_path)
    local, remote = os.path.join(real, "local"), os.path.join(real, "remote")
    os.mkdir(local)
    os.mkdir(remote)
    backend = StubBackend()
    backend._mounts = [(remote, "nfs4"), ("/", "ext4")]
    backend.add(RecordingClient({local, remote, os.path.join(real, "missing")}))
    assert backend._wanted() == {local}
    assert backend.statistics()["polled_dirs"] == 1
    backend.watched = frozenset({local})
    assert not backend.could_watch(local)  # already watched
    assert not backend.could_watch(remote)  # polled for good
    assert backend.could_watch(os.path.join(real, "missing"))
    backend.failed = "inotify limits"
    assert backend._wanted() == frozenset()
    assert not backend.could_watch(os.path.join(real, "missing"))
