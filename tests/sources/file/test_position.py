"""The file checkpoint: what it covers (not the held-back bytes) and when it is accepted again."""

from __future__ import annotations

import os
from pathlib import Path

from tailcast.sources.file.position import FINGERPRINT, FilePosition, fingerprint, resume_offset


def test_the_checkpoint_ends_before_the_bytes_the_splitter_holds() -> None:
    pos = FilePosition(1, 2, 10, b"0123456789")
    pos.fed(10, b"abc\npartial")
    cp = pos.checkpoint(len(b"partial"), False)
    assert cp == {
        "dev": 1,
        "ino": 2,
        "offset": 14,
        "tail": fingerprint(b"0123456789abc\n"),
        "open": False,
    }
    pos.trim(len(b"partial"))
    assert len(pos.window) <= FINGERPRINT + len(b"partial")
    # Held-back bytes that are not this file's (a copy's rest) never go below 0.
    assert FilePosition(1, 2, 0, b"").checkpoint(5, True)["offset"] == 0


def test_only_the_same_unchanged_file_is_read_on_from_its_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"x" * 500 + b"\nmore\n")
    st = os.stat(log)
    cp = {
        "dev": st.st_dev,
        "ino": st.st_ino,
        "offset": 501,
        "tail": fingerprint((b"x" * 500 + b"\n")[-FINGERPRINT:]),
        "open": False,
    }
    fd = os.open(log, os.O_RDONLY)
    try:
        assert resume_offset(fd, st, cp) == 501
        assert resume_offset(fd, st, {**cp, "ino": st.st_ino + 1}) is None  # another file
        assert resume_offset(fd, st, {**cp, "offset": 10_000}) is None  # shorter now
        assert resume_offset(fd, st, {**cp, "tail": fingerprint(b"other")}) is None
        assert resume_offset(fd, st, {"container_id": "abc"}) is None  # not a file's
    finally:
        os.close(fd)
