"""Rotation under a steady writer: every line counted, none lost, none twice.

A writer thread appends numbered lines at a steady rate while the file is
rotated the three ways logrotate does it:

- rename, and the writer reopens at once;
- rename, and the writer keeps appending to the renamed file for 200 ms before
  it reopens (a SIGHUP handler, ``postrotate``): the lines every peer loses;
- copytruncate: a copy, then truncation in place, by another thread while the
  writer goes on. What we had not read yet is read from the copy; the lines
  written between the copy and the truncation are in neither file: that
  window, and nothing else, may be missing.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from tests.sources.file.harness import (
    COUNT,
    RATE,
    SteadyWriter,
    following,
    line_text,
    numbers,
    rename_hook,
    run_writer,
)


async def test_rename_and_immediate_reopen_loses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    writer = SteadyWriter(log, COUNT, RATE, {500: rename_hook(0), 1000: rename_hook(0)})
    async with following(log, quiet=1.0, lines=0, flush_delay=30.0) as f:
        got = await run_writer(f, writer, "app.log")
        assert got == list(range(1, COUNT + 1))
        assert f.file_events("app.log").count("rotated") == 2
        assert f.file(log)["rotations"] == 2


async def test_rename_and_late_reopen_loses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    late = int(RATE * 0.2)  # the writer goes on in the renamed file for 200 ms
    writer = SteadyWriter(log, COUNT, RATE, {500: rename_hook(late)})
    async with following(log, quiet=1.0, lines=0, flush_delay=30.0) as f:
        got = await run_writer(f, writer, "app.log")
        assert got == list(range(1, COUNT + 1))
        assert f.file_events("app.log") == ["rotated"]
        # The renamed file really did get the late lines.
        old = numbers((tmp_path / "app.log.1").read_text().splitlines())
        assert old == list(range(1, 500 + late))


async def test_rename_into_another_directory_loses_nothing(tmp_path: Path) -> None:
    # logrotate's `olddir`: the old file leaves the watched directory.
    (tmp_path / "old").mkdir()
    log = tmp_path / "app.log"
    log.write_bytes(b"")

    def hook(w: SteadyWriter) -> None:
        os.rename(w.path, tmp_path / "old" / "app.log.1")
        w.hooks[w.written + 1 + 100] = lambda w2: w2.reopen()

    writer = SteadyWriter(log, COUNT, RATE, {700: hook})
    async with following(log, quiet=1.0, lines=0, flush_delay=30.0) as f:
        got = await run_writer(f, writer, "app.log")
        assert got == list(range(1, COUNT + 1))


async def test_copytruncate_loses_only_the_unrecoverable_window(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    copy = tmp_path / "app.log.1"
    go = threading.Event()
    done = threading.Event()

    def rotator() -> None:
        go.wait(30)
        shutil.copyfile(log, copy)
        os.truncate(log, 0)
        done.set()

    rot = threading.Thread(target=rotator, daemon=True)
    rot.start()
    writer = SteadyWriter(log, COUNT, RATE, {700: lambda w: go.set()})
    async with following(log, quiet=1.0, lines=0, flush_delay=30.0) as f:
        got = await run_writer(f, writer, "app.log")
    rot.join(30)
    assert done.is_set()
    # In order, nothing twice.
    assert got == sorted(set(got))
    missing = set(range(1, COUNT + 1)) - set(got)
    in_copy = set(numbers(copy.read_text().splitlines()))
    in_file = set(numbers(log.read_text().splitlines()))
    # What was not read before the truncation was read from the copy; only
    # the lines written between the copy and the truncation, in neither file,
    # may be missing: no reader can recover those.
    assert max(in_copy) < min(in_file)
    assert missing <= set(range(max(in_copy) + 1, min(in_file))), sorted(missing)
    assert in_copy <= set(got)
    assert in_file <= set(got)
    assert "truncated" in f.file_events("app.log")


def test_line_text_is_fixed_width() -> None:
    assert len(line_text(1)) == len(line_text(999_999))
