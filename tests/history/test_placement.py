"""placement: a private history dir on disk, not in a RAM-backed tmpfs where avoidable."""

from __future__ import annotations

from pathlib import Path

from tailcast.history.placement import filesystem_type, private_dir


def test_the_file_system_type_comes_from_the_longest_mount_point(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw 0 0\n"
        "tmpfs /tmp tmpfs rw 0 0\n"
        "tmpfs /var/tmp\\040x tmpfs rw 0 0\n"
        "bad line\n"
    )
    assert filesystem_type("/tmp/a/b", str(mounts)) == "tmpfs"
    assert filesystem_type("/tmpfoo", str(mounts)) == "ext4"
    assert filesystem_type("/var/tmp x/y", str(mounts)) == "tmpfs"
    assert filesystem_type("/var/tmp", str(mounts)) == "ext4"
    assert filesystem_type("/x", str(tmp_path / "missing")) is None


def test_a_private_dir_is_new_private_and_not_in_ram_here() -> None:
    folder = private_dir()
    try:
        assert folder.is_dir() and (folder.stat().st_mode & 0o777) == 0o700
        if filesystem_type("/var/tmp") not in {"tmpfs", "ramfs"}:
            assert str(folder).startswith("/var/tmp/")
    finally:
        folder.rmdir()
