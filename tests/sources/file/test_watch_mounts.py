"""Network and FUSE file systems: found from the mount table, longest mount point first."""

from __future__ import annotations

import os
from pathlib import Path

from tailcast.sources.file.watch.mounts import is_network_fs, mount_types


def test_a_directory_below_a_network_mount_is_network(tmp_path: Path) -> None:
    real = os.path.realpath(tmp_path)
    nfs, fuse = os.path.join(real, "nfs"), os.path.join(real, "fuse")
    mounts = [(nfs, "nfs4"), (fuse, "fuse.sshfs"), ("/", "ext4")]
    assert is_network_fs(nfs, mounts)
    assert is_network_fs(os.path.join(nfs, "logs"), mounts)
    assert is_network_fs(os.path.join(fuse, "logs"), mounts)
    # A name that merely starts like the mount point is not below it.
    assert not is_network_fs(nfs + "-local", mounts)
    assert not is_network_fs(real, mounts)
    assert not is_network_fs(real, [])


def test_the_mount_table_is_longest_mount_point_first() -> None:
    points = [point for point, _ in mount_types()]
    assert [len(p) for p in points] == sorted((len(p) for p in points), reverse=True)
