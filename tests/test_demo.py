"""The built-in demo: its sample logs, its writer, its fake build, and the
whole demo end to end (live lines over a real WebSocket, then one SIGINT
stops the server, the build and the writer, and removes the temp folder).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest

from tailcast.demo.__main__ import write_samples
from tailcast.demo.writer import ACCESS_LOG, APP_LOG, BUILD_LOG, NEW_LOG, Writer
from tests.helpers import DEADLINE, end_process, poll, ws_connect

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
ACCESS_RE = re.compile(
    r"^[\d.]+ - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "
    r'"(GET|POST|PUT|DELETE) \S+ HTTP/1\.1" \d{3} \d+ "[^"]*" "[^"]*"$'
)
ANSI = "\x1b["
DEMO = (sys.executable, "-m", "tailcast.demo", "run")


def _check_access(lines: list[str]) -> None:
    bad = [line for line in lines if not ACCESS_RE.match(line)]
    assert not bad, bad[:3]


def _check_json(lines: list[str]) -> None:
    for line in lines:
        record = json.loads(line)
        assert {"ts", "level", "msg", "service"} <= record.keys(), record


def test_sample_logs_are_realistic_and_a_few_hundred_lines_each() -> None:
    access = (SAMPLES / ACCESS_LOG).read_text().splitlines()
    app = (SAMPLES / APP_LOG).read_text().splitlines()
    build = (SAMPLES / BUILD_LOG).read_text().splitlines()
    for lines in (access, app, build):
        assert 200 <= len(lines) <= 1000, len(lines)
    _check_access(access)
    _check_json(app)
    assert sum(ANSI in line for line in build) > 100
    assert any("warning:" in line for line in build)
    assert any("[100%]" in line for line in build)


def test_sample_logs_are_what_the_generator_makes(tmp_path: Path) -> None:
    # The committed files can be regenerated exactly (seed 1).
    write_samples(tmp_path, 1)
    for name in (ACCESS_LOG, APP_LOG, BUILD_LOG):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name


def test_writer_rotates_instead_of_growing_without_bound(tmp_path: Path) -> None:
    writer = Writer(tmp_path, seed=3, speed=1e6, new_file_after=0.0, max_bytes=8192)
    writer.start()
    poll(lambda: writer.step() >= 0 and (tmp_path / f"{ACCESS_LOG}.1").exists())
    assert (tmp_path / ACCESS_LOG).stat().st_size < 8192 + 4096
    rotated = (tmp_path / f"{ACCESS_LOG}.1").read_text().splitlines()
    _check_access(rotated)
    poll(lambda: writer.step() >= 0 and (tmp_path / NEW_LOG).exists())
    assert writer.lines > 0


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_writer_appends_live_and_stops_on_sigterm(tmp_path: Path) -> None:
    for name in (ACCESS_LOG, APP_LOG, BUILD_LOG):
        (tmp_path / name).write_text("")
    cmd = [sys.executable, "-m", "tailcast.demo", "write", str(tmp_path)]
    proc = subprocess.Popen([*cmd, "--speed", "20", "--new-file-after", "0.5", "--seed", "1"])
    try:

        def grown() -> bool:
            return all(
                (tmp_path / name).exists() and (tmp_path / name).stat().st_size > 0
                for name in (ACCESS_LOG, APP_LOG, BUILD_LOG, NEW_LOG)
            )

        poll(grown)
        assert poll(lambda: ANSI in (tmp_path / BUILD_LOG).read_text())
    finally:
        proc.terminate()
        try:
            assert proc.wait(DEADLINE) == 0
        finally:
            end_process(proc)  # if it ignored SIGTERM: not left writing for ever
    _check_access((tmp_path / ACCESS_LOG).read_text().splitlines())
    _check_json((tmp_path / APP_LOG).read_text().splitlines())
    _check_json((tmp_path / NEW_LOG).read_text().splitlines())


def test_writer_stops_when_its_parent_is_gone(tmp_path: Path) -> None:
    # A parent that starts the writer with --parent and exits at once.
    code = (
        "import os, subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'tailcast.demo', 'write', sys.argv[1],"
        " '--parent', str(os.getpid())])\n"
        "print(p.pid, flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=True,
    )
    pid = int(result.stdout)
    try:
        poll(lambda: not _alive(pid))
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_fake_build_prints_colours_progress_and_its_status() -> None:
    cmd = [sys.executable, "-m", "tailcast.demo", "build", "--once", "--speed", "100"]
    for seed in ("1", "2"):
        result = subprocess.run(
            [*cmd, "--seed", seed], capture_output=True, text=True, timeout=60, check=False
        )
        assert ANSI in result.stdout
        assert "[100%]" in result.stdout
        assert "PASSED" in result.stdout
        failed = "failed" in result.stdout + result.stderr
        assert result.returncode == (1 if failed else 0), result.stderr


class _LineReader:
    """Lines of a pipe, read by a thread, taken with a deadline."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output

    def next(self) -> str:
        try:
            line = self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"no output within {DEADLINE}s") from None
        assert line is not None, "the demo exited early (its error is in the captured stderr)"
        return line


class _Demo:
    """The demo runner, its output, and the PIDs of its children once known."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [*DEMO, "--port", "0", "--new-file-after", "1", "--speed", "4"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.reader = _LineReader(self.proc.stdout)
        self.children: list[int] = []


@pytest.fixture
def demo() -> Iterator[_Demo]:
    d = _Demo()
    try:
        yield d
    finally:
        # As a user would: Ctrl+C first; only a runner that ignores it is killed,
        # and then its children too, by the PIDs it printed.
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGINT)
            try:
                d.proc.wait(30)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait(DEADLINE)
        for pid in d.children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _stream(streams: list[dict[str, Any]], filename: str) -> dict[str, Any] | None:
    for info in streams:
        if info.get("name") == filename or str(info.get("path", "")).endswith("/" + filename):
            return info
    return None


async def _check_live(url: str) -> None:
    """Over a real WebSocket: every demo stream, and lines arriving live."""
    async with aiohttp.ClientSession() as session:
        ws_url = url.replace("http://", "ws://") + "ws?streams=*&tail=5"
        client = await ws_connect(session, ws_url)
        hello = await client.recv_type("hello")
        streams: list[dict[str, Any]] = hello["streams"]
        ids = {s["id"] for s in streams}
        assert {"web", "ci", "build"} <= ids, ids
        assert _stream(streams, APP_LOG) is not None, streams
        web_last = next(s["last_seq"] for s in streams if s["id"] == "web")
        assert web_last >= 400  # the copied sample log was read

        # Live lines: the writer's, past what was there at connect time; the
        # build's, with their colours; and the glob's new match.
        def seen(stream: str, pred: Any) -> bool:
            return any(pred(line) for line in client.lines.get(stream, []))

        # The writer makes the new file a second after it starts, whatever the
        # server's and this client's pace: on a loaded machine the server may
        # have matched it before this hello, which then lists it (no "streams"
        # frame will come for it).
        new_match = _stream(streams, NEW_LOG)
        deadline = time.monotonic() + DEADLINE
        while not (
            seen("web", lambda line: line["seq"] > web_last)
            and seen("build", lambda line: ANSI in line["text"])
            and new_match is not None
        ):
            assert time.monotonic() < deadline, ("no live lines or new match", new_match)
            frame = await client.recv()
            if frame["type"] == "streams":
                new_match = new_match or _stream(frame["streams"], NEW_LOG)
        assert all(ACCESS_RE.match(line["text"]) for line in client.lines["web"])
        await client.ws.close()


def test_demo_serves_live_logs_and_build_then_ctrl_c_stops_all(demo: _Demo) -> None:
    proc, reader = demo.proc, demo.reader
    banner = [reader.next(), reader.next(), reader.next()]
    m = re.search(r"sample logs in (\S+) \(writer pid (\d+)\).*server pid (\d+)", banner[0])
    assert m, banner
    folder, writer_pid, server_pid = Path(m.group(1)), int(m.group(2)), int(m.group(3))
    demo.children += [server_pid, writer_pid]
    url_m = re.search(r"open (http://127\.0\.0\.1:\d+/) in a browser", banner[1])
    assert url_m, banner
    assert "Ctrl+C" in banner[2]
    assert folder.is_dir()

    asyncio.run(_check_live(url_m.group(1)))

    # The fake build runs as the server's child.
    builds = [
        pid
        for pid in _children(server_pid)
        if b"tailcast.demo\0build" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert builds, _children(server_pid)
    demo.children += builds

    # Ctrl+C reaches the runner only (its children have sessions of their
    # own): it stops the server, the build with it, the writer, the folder.
    proc.send_signal(signal.SIGINT)
    assert proc.wait(DEADLINE + 15) == 0
    poll(lambda: not any(_alive(pid) for pid in (writer_pid, server_pid, *builds)))
    assert not folder.exists()
