"""The history's faults end to end (issue 12): a full disk, damaged files, the lock,
a data dir that cannot be used, a restart.

Each runs a real server: the CLI as a subprocess (``tests/helpers.run_tailcast``),
or, where the test must look inside (the disk-full test reads ``Hub.degraded()``),
an in-process :class:`~tailcast.server.Server` through the ``start_server`` fixture.
The disks that fail are real: tmpfs file systems mounted by the test, which
needs root (CI runs as root; elsewhere these tests are skipped, saying so).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import random
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tailcast.config import parse_source
from tailcast.errors import ConfigError
from tailcast.history.store import HistoryStore
from tests.harness import ServerHarness, make_config
from tests.helpers import (
    DEADLINE,
    Proc,
    assert_contiguous,
    poll,
    run_tailcast,
    tailcast_cmd,
    texts,
    ws_connect,
)
from tests.history.disks import mounted_tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: small enough to fill in a test."""
    with mounted_tmpfs(tmp_path / "disk", "size=2m") as mount_point:
        yield mount_point


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as mount_point:
        yield mount_point


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=DEADLINE) as response:
        assert response.status == 200
        return json.loads(response.read())


def stream_info(proc_or_url: Proc | str, stream_id: str) -> dict[str, Any]:
    url = proc_or_url if isinstance(proc_or_url, str) else proc_or_url.url
    infos = {s["id"]: s for s in get_json(url + "api/streams")["streams"]}
    info: dict[str, Any] = infos[stream_id]
    return info


def kept_lines(url: str, stream_id: str, limit: int = 10_000) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = get_json(
        f"{url}api/streams/{stream_id}/lines?since=0&limit={limit}"
    )["lines"]
    return lines


def stderr_of(proc: Proc) -> str:
    """Everything the process wrote on stderr (after it ended)."""
    assert proc.popen.stderr is not None
    return "\n".join(proc.stderr_lines) + proc.popen.stderr.read().decode(errors="replace")


def assert_no_errors(stderr: str) -> None:
    assert "ERROR" not in stderr and "Traceback" not in stderr, stderr


def refused(*args: str) -> subprocess.CompletedProcess[str]:
    """Run tailcast expecting it to refuse to start; its status and output."""
    return subprocess.run(
        tailcast_cmd(*args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def assert_one_line_naming_data_dir(result: subprocess.CompletedProcess[str], why: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tailcast: --data-dir "), lines
    assert why in lines[0], lines
    assert "serving" not in result.stderr


# -- a full disk -------------------------------------------------------------------


def fill_disk(path: Path) -> None:
    """Write ``path`` until the file system is full."""
    chunk = b"\0" * 65536
    with path.open("wb", buffering=0) as filler:
        try:
            while True:
                filler.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    # The last pages: a smaller write may still fit where a 64 KiB one did not.
    with path.open("ab", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 512)


async def test_a_full_disk_keeps_live_lines_flowing_and_writing_resumes(
    small_disk: Path, tmp_path: Path, start_server: Callable[..., Any]
) -> None:
    """Disk full: live delivery goes on, the stream says ``"history":"memory"``,
    ``/healthz`` answers 200, and the history goes back to disk when space returns.

    Why the history is in memory is read from ``Hub.degraded()`` in-process (and from
    ``/healthz``'s ``degraded`` only if that route has it: it is another part's).
    """
    data_dir = small_disk / "data"
    source_file = tmp_path / "app.log"  # not on the small disk: only the history is
    source_file.write_bytes(b"")
    config = make_config(data_dir=str(data_dir), sources=(parse_source(str(source_file)),))
    h: ServerHarness = await start_server(config)
    [stream_id] = h.hub.streams
    stream = h.hub.streams[stream_id]
    written: list[str] = []

    def write(count: int, tag: str) -> None:
        with source_file.open("a") as out:
            for _ in range(count):
                text = f"{tag} {len(written) + 1:06d} " + "y" * 150
                written.append(text)
                out.write(text + "\n")

    async with aiohttp.ClientSession() as session:
        client = await ws_connect(session, h.ws_url)
        await client.recv_type("hello")
        await client.send({"type": "subscribe", "streams": [stream_id], "since": {stream_id: 0}})
        write(50, "disk")
        await client.wait_lines(stream_id, 50)
        assert stream.history.mode == "disk"

        filler = small_disk / "filler"
        fill_disk(filler)
        # The disk is full: the segment's last page fills up, then the next append fails.
        while stream.history.mode == "disk":
            assert len(written) < 50_000, "the history never noticed the full disk"
            write(20, "full")
            await client.wait_lines(stream_id, len(written))
        assert stream.history.reason is not None
        assert "No space left on device" in stream.history.reason

        info = await asyncio.to_thread(stream_info, h.url, stream_id)
        assert info["history"] == "memory"
        # The clients were told: a streams frame with the changed STREAM_INFO.
        announced = [
            s
            for f in client.frames
            if f["type"] == "streams"
            for s in f["streams"]
            if s["id"] == stream_id
        ]
        assert announced and announced[-1]["history"] == "memory"
        async with session.get(h.url + "healthz") as response:
            assert response.status == 200
            health = await response.json()
        if "degraded" in health:
            assert any(stream_id in why for why in health["degraded"]), health
        [why] = h.hub.degraded()
        assert why.startswith(f"{stream_id}: ") and "No space left on device" in why

        # Live lines go on while the disk is full.
        write(100, "memory")
        await client.wait_lines(stream_id, len(written))

        # Space returns: the history goes back to disk on a retry (every 2 s).
        filler.unlink()

        async def back_on_disk() -> bool:
            write(1, "retry")
            await client.wait_lines(stream_id, len(written))
            return stream.history.mode == "disk"

        deadline = asyncio.get_running_loop().time() + DEADLINE
        while not await back_on_disk():
            assert asyncio.get_running_loop().time() < deadline, "writing never resumed"
            await asyncio.sleep(0.02)  # the poll's interval: one line per try, not thousands
        assert "history" not in await asyncio.to_thread(stream_info, h.url, stream_id)
        assert h.hub.degraded() == []
        write(30, "after")
        got = await client.wait_lines(stream_id, len(written))
        assert_contiguous(got, 1)
        assert texts(got) == written
        assert not [f for f in client.frames if f["type"] == "gap"]
        last_announced = [
            s
            for f in client.frames
            if f["type"] == "streams"
            for s in f["streams"]
            if s["id"] == stream_id
        ][-1]
        assert "history" not in last_announced
    await h.stop()

    # What was published after the disk came back is on disk (and so is what the
    # ring held meanwhile): a new server on the same data dir serves all of it.
    # The source file is replaced by an empty one, so that the new server's
    # source publishes nothing (this test is about the history, not resuming files).
    source_file.unlink()
    source_file.write_bytes(b"")
    again: ServerHarness = await start_server(dataclasses.replace(config))
    assert again.hub.streams[stream_id].epoch == stream.epoch
    lines = await asyncio.to_thread(kept_lines, again.url, stream_id)
    assert_contiguous(lines, 1)
    assert texts(lines) == written


async def test_a_stream_begun_on_a_full_disk_goes_to_disk_when_space_returns(
    small_disk: Path, tmp_path: Path, start_server: Callable[..., Any]
) -> None:
    """The disk is full before the stream exists: it starts in memory, says why,
    and its history is made on disk (with the lines memory still holds) later."""
    data_dir = small_disk / "data"
    HistoryStore.open(data_dir).close()  # the data dir and its lock exist: a restart
    filler = small_disk / "filler"
    fill_disk(filler)
    source_file = tmp_path / "app.log"
    source_file.write_bytes(b"")
    config = make_config(data_dir=str(data_dir), sources=(parse_source(str(source_file)),))
    h: ServerHarness = await start_server(config)
    [stream_id] = h.hub.streams
    stream = h.hub.streams[stream_id]
    assert stream.history.mode == "memory"
    [why] = h.hub.degraded()
    assert "No space left on device" in why
    written: list[str] = []

    def write(count: int) -> None:
        with source_file.open("a") as out:
            for _ in range(count):
                written.append(f"line {len(written) + 1}")
                out.write(written[-1] + "\n")

    async with aiohttp.ClientSession() as session:
        client = await ws_connect(session, h.ws_url)
        hello = await client.recv_type("hello")
        assert {s["id"]: s for s in hello["streams"]}[stream_id]["history"] == "memory"
        await client.send({"type": "subscribe", "streams": [stream_id], "since": {stream_id: 0}})
        write(20)
        await client.wait_lines(stream_id, 20)
        filler.unlink()
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while stream.history.mode == "memory":
            assert asyncio.get_running_loop().time() < deadline, "the history never reached disk"
            write(1)
            await client.wait_lines(stream_id, len(written))
            await asyncio.sleep(0.02)  # the poll's interval
        assert h.hub.degraded() == []
        write(5)
        got = await client.wait_lines(stream_id, len(written))
        assert_contiguous(got, 1)
        assert texts(got) == written
    await h.stop()
    source_file.unlink()  # the new server's source publishes nothing (see above)
    source_file.write_bytes(b"")
    again: ServerHarness = await start_server(config)
    assert again.hub.streams[stream_id].epoch == stream.epoch
    lines = await asyncio.to_thread(kept_lines, again.url, stream_id)
    assert_contiguous(lines, 1)
    assert texts(lines) == written


# -- damaged files at start --------------------------------------------------------

RANDOM_BYTES = random.Random(12).randbytes(400)
DAMAGE = {
    "random bytes": RANDOM_BYTES,
    "a torn record": b'{"seq":99',
    "a torn next record": b'{"seq":6,"ts":17000',
    "NULs": b"\0" * 4096,
    "all of them": b'{"seq":99' + RANDOM_BYTES + b"\n\0\0\0" + b'{"seq":7,"ts":1}\n',
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_files_are_cut_back_at_start(tmp_path: Path, damage: bytes) -> None:
    data_dir = tmp_path / "data"
    first_input = tmp_path / "first.txt"
    first_input.write_text("".join(f"good {n}\n" for n in range(1, 6)))
    with (
        first_input.open("rb") as stdin,
        run_tailcast("--port", "0", "--data-dir", str(data_dir), "-", stdin=stdin) as proc,
    ):
        poll(lambda: stream_info(proc, "stdin")["state"] == "exited")
        epoch = stream_info(proc, "stdin")["epoch"]
        assert proc.stop() == 0
        assert_no_errors(stderr_of(proc))
    segments = sorted((data_dir / "streams" / "stdin").glob("*.log"))
    assert segments
    with segments[-1].open("ab") as out:
        out.write(damage)

    second_input = tmp_path / "second.txt"
    second_input.write_text("".join(f"new {n}\n" for n in range(1, 4)))
    with (
        second_input.open("rb") as stdin,
        run_tailcast("--port", "0", "--data-dir", str(data_dir), "-", stdin=stdin) as proc,
    ):
        poll(lambda: stream_info(proc, "stdin")["state"] == "exited")
        info = stream_info(proc, "stdin")
        assert (info["epoch"], info["first_seq"], info["last_seq"]) == (epoch, 1, 8)
        lines = kept_lines(proc.url, "stdin")
        assert_contiguous(lines, 1)
        assert texts(lines) == [f"good {n}" for n in range(1, 6)] + [f"new {n}" for n in (1, 2, 3)]
        assert proc.stop() == 0
        assert_no_errors(stderr_of(proc))


# -- one server per data dir, and data dirs that cannot be used ----------------------


def test_a_second_server_on_the_same_data_dir_exits_2(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    source = tmp_path / "app.log"
    source.write_text("one\n")
    with run_tailcast("--port", "0", "--data-dir", str(data_dir), str(source)) as first:
        result = refused("--port", "0", "--data-dir", str(data_dir), str(source))
        assert_one_line_naming_data_dir(result, f"another tailcast (pid {first.popen.pid})")
        # The first one is not disturbed.
        assert stream_info(first, "app.log")["state"] in ("live", "waiting")
        assert first.popen.poll() is None


def test_a_data_dir_that_cannot_be_created_exits_2(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("not a dir\n")
    result = refused("--port", "0", "--data-dir", str(regular / "data"), "-")
    assert_one_line_naming_data_dir(result, "cannot create it")
    result = refused("--port", "0", "--data-dir", str(regular), "-")
    assert_one_line_naming_data_dir(result, "cannot create it")


def test_a_data_dir_that_cannot_be_written_exits_2(read_only_disk: Path) -> None:
    result = refused("--port", "0", "--data-dir", str(read_only_disk), "-")
    assert_one_line_naming_data_dir(result, "cannot write in it: Read-only file system")
    result = refused("--port", "0", "--data-dir", str(read_only_disk / "sub"), "-")
    assert_one_line_naming_data_dir(result, "cannot create it: Read-only file system")


# -- a restart --------------------------------------------------------------------

PRINT_THREE = "cmd:printf 'one\\ntwo\\nthree\\n'"


async def receive_after(url: str, stream_id: str, since: int, count: int) -> list[dict[str, Any]]:
    """Subscribe from ``since``, receive ``count`` lines; the frames must hold no gap."""
    ws_url = url.replace("http://", "ws://", 1) + "ws"
    async with aiohttp.ClientSession() as session:
        client = await ws_connect(session, ws_url)
        await client.recv_type("hello")
        await client.send(
            {"type": "subscribe", "streams": [stream_id], "since": {stream_id: since}}
        )
        await client.wait_lines(stream_id, count)
        # Then a frame that answers in order (an error for a bad frame): nothing more came.
        await client.send("{}")
        await client.recv_type("error")
    assert not [f for f in client.frames if f["type"] == "gap"]
    return client.lines[stream_id]


def test_a_restart_keeps_epoch_and_numbering_and_resumes_exactly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ("--port", "0", "--data-dir", str(data_dir), PRINT_THREE)
    with run_tailcast(*args) as proc:
        poll(lambda: stream_info(proc, "printf")["state"] == "exited")
        epoch = stream_info(proc, "printf")["epoch"]
        seen = asyncio.run(receive_after(proc.url, "printf", 0, 3))
        assert_contiguous(seen, 1)
        assert texts(seen) == ["one", "two", "three"]
        assert proc.stop() == 0
        assert_no_errors(stderr_of(proc))
    with run_tailcast(*args) as proc:
        poll(lambda: stream_info(proc, "printf")["last_seq"] == 6)
        poll(lambda: stream_info(proc, "printf")["state"] == "exited")
        info = stream_info(proc, "printf")
        assert (info["epoch"], info["first_seq"], info["last_seq"]) == (epoch, 1, 6)
        # The client resumes where it was: exactly the lines it missed.
        missed = asyncio.run(receive_after(proc.url, "printf", seen[-1]["seq"], 3))
        assert_contiguous(missed, 4)
        assert texts(missed) == ["one", "two", "three"]
        lines = kept_lines(proc.url, "printf")
        assert_contiguous(lines, 1)
        assert texts(lines) == ["one", "two", "three"] * 2
        assert proc.stop() == 0
        assert_no_errors(stderr_of(proc))


def test_a_new_data_dir_on_a_full_disk_opens(small_disk: Path) -> None:
    """A data dir made on a disk that is already full: the server must start (its
    history then lives in memory), not exit because the lock's pid cannot be written."""
    fill_disk(small_disk / "filler")
    store = HistoryStore.open(small_disk / "data")
    try:
        assert (small_disk / "data" / "lock").exists()
        with pytest.raises(ConfigError, match="another tailcast"):
            HistoryStore.open(small_disk / "data")  # the lock holds without the pid
    finally:
        store.close()
