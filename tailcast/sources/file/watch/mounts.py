"""Which directories live on a file system where inotify cannot see every write.

inotify reports only the writes made through the local kernel: on NFS, SMB,
9p, Ceph, FUSE... another host's appends go unseen, so such directories are
never watched and their followers poll instead. The mount table is read from
``/proc/self/mounts`` (nothing there, as on macOS: no directory is treated as
remote).
"""

from __future__ import annotations

import os

__all__ = ["NETWORK_FS", "is_network_fs", "mount_types"]

# File systems where inotify misses writes made by other hosts.
NETWORK_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "afs", "gpfs"}
)


def mount_types() -> list[tuple[str, str]]:
    """(mount point, fs type), longest mount point first."""
    mounts: list[tuple[str, str]] = []
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    point = parts[1].replace("\\040", " ")
                    mounts.append((point, parts[2]))
    except OSError:
        return []
    # Longest first: the first mount point that contains a path is its mount.
    mounts.sort(key=lambda m: len(m[0]), reverse=True)
    return mounts


def is_network_fs(directory: str, mounts: list[tuple[str, str]]) -> bool:
    """Whether ``directory`` lives on a file system inotify cannot fully see."""
    real = os.path.realpath(directory)
    for point, fstype in mounts:
        if real == point or real.startswith(point.rstrip("/") + "/"):
            return fstype in NETWORK_FS or fstype.startswith("fuse.")
    return False
