"""The demo runner: sample logs in a temp folder, a writer, a server, one Ctrl+C.

What it starts, and who stops what:

- a temp folder holding copies of ``sample_logs/`` (the repository's files are
  never written to);
- the writer (:mod:`tailcast.demo.writer`), appending to those copies;
- a ``tailcast`` server following them (``NAME=PATH`` files and a ``'GLOB'``)
  plus the fake build (:mod:`tailcast.demo.build`) as a ``cmd:`` source.

Both children run in sessions of their own, so a terminal's Ctrl+C reaches
only this runner, which then stops each child once, by its PID, in order:
the server first (it stops the build it runs), then the writer; then the
folder is removed. A server that will not stop in time is killed. Had the
runner itself been killed, the writer notices its parent is gone and exits.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import IO

from tailcast.demo.writer import ACCESS_LOG, APP_LOG, BUILD_LOG

__all__ = ["find_samples", "run_demo"]

DEFAULT_PORT = 8080
STOP_TIMEOUT = 15.0
DEMO_BACKLOG = 1000
SAMPLES = (ACCESS_LOG, BUILD_LOG, APP_LOG)


def find_samples(explicit: str | None = None) -> Path:
    """``sample_logs/`` of the source tree (or the folder given)."""
    candidates = [Path(explicit)] if explicit else []
    candidates += [
        Path(__file__).resolve().parents[2] / "sample_logs",
        Path.cwd() / "sample_logs",
    ]
    for folder in candidates:
        if all((folder / name).is_file() for name in SAMPLES):
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no sample logs ({', '.join(SAMPLES)}) in {tried}; run the demo from a "
        "clone of the repository, or pass --samples DIR"
    )


def _stop(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Signal ``proc`` once, wait up to ``timeout``, then kill it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _copy_lines(src: IO[bytes], dst: IO[str]) -> None:
    """Pass the server's later log lines through (and keep its pipe drained)."""
    for raw in iter(src.readline, b""):
        dst.write(raw.decode(errors="replace"))
        dst.flush()


class _Interrupted(Exception):
    """SIGINT or SIGTERM reached the runner."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signal.Signals(signum).name)


def demo_sources(folder: Path) -> list[str]:
    """The server's sources: two named files, a glob, and the fake build."""
    build = shlex.join([sys.executable, "-m", "tailcast.demo", "build"])
    return [
        f"web={folder / ACCESS_LOG}",
        f"ci={folder / BUILD_LOG}",
        str(folder / "*.jsonl"),
        f"build=cmd:{build}",
    ]


def _start_server(
    folder: Path, host: str, port: int, extra: list[str], started: list[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], str | None, str]:
    """Start the server; return it with its URL once serving, or None and what it said.

    The process goes into ``started`` at once, so that an interrupt while it
    starts up still stops it.
    """
    argv = [
        sys.executable,
        "-m",
        "tailcast",
        *demo_sources(folder),
        "--host",
        host,
        "--port",
        str(port),
        # The whole sample files, not only their last 100 lines.
        "--lines",
        str(DEMO_BACKLOG),
        *extra,
    ]
    server = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # it writes to stderr; and it must not hold our stdout
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    started.append(server)
    assert server.stderr is not None
    first = server.stderr.readline().decode(errors="replace").strip()
    prefix = "tailcast: serving "
    if first.startswith(prefix) and " on " in first:
        return server, first.rsplit(" on ", 1)[1], first
    rest = server.stderr.read().decode(errors="replace").strip()
    server.wait()
    return server, None, "\n".join(x for x in (first, rest) if x)


def _start_writer(folder: Path, *, new_file_after: float, speed: float) -> subprocess.Popen[bytes]:
    """The writer appending to the copies in ``folder``; it exits once we are gone."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tailcast.demo",
            "write",
            str(folder),
            "--parent",
            str(os.getpid()),
            "--new-file-after",
            str(new_file_after),
            "--speed",
            str(speed),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def _serve(
    folder: Path,
    host: str,
    port: int | None,
    extra: list[str],
    servers: list[subprocess.Popen[bytes]],
    writer: subprocess.Popen[bytes],
) -> int:
    """Start the server, say where it is, wait for it; the demo's exit status."""
    # The default port may be taken: then let the system pick a free one.
    server, url, said = _start_server(
        folder, host, DEFAULT_PORT if port is None else port, extra, servers
    )
    if url is None and port is None and "cannot listen" in said:
        print(f"{said}\ntailcast demo: trying a free port instead", file=sys.stderr)
        server, url, said = _start_server(folder, host, 0, extra, servers)
    if url is None:
        print(said or "tailcast demo: the server did not start", file=sys.stderr)
        return 2
    assert server.stderr is not None
    threading.Thread(target=_copy_lines, args=(server.stderr, sys.stderr), daemon=True).start()
    print(
        f"tailcast demo: sample logs in {folder} (writer pid {writer.pid}), "
        f"a fake build, server pid {server.pid}\n"
        f"tailcast demo: open {url} in a browser  (or: tailcast watch {url})\n"
        "tailcast demo: Ctrl+C stops everything",
        flush=True,
    )
    status = server.wait()
    print(f"tailcast demo: the server exited with status {status}", file=sys.stderr)
    return status or 1


def _clean_up(
    servers: list[subprocess.Popen[bytes]],
    writer: subprocess.Popen[bytes] | None,
    folder: Path,
) -> None:
    """Stop each child once, by PID: server (and the build it runs), then writer."""
    for server in servers:
        _stop(server, signal.SIGINT, STOP_TIMEOUT)
    if writer is not None:
        _stop(writer, signal.SIGTERM, 5.0)
    shutil.rmtree(folder, ignore_errors=True)


def run_demo(
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    samples: str | None = None,
    new_file_after: float = 15.0,
    speed: float = 1.0,
    extra: list[str] | None = None,
) -> int:
    """Run the demo until Ctrl+C (or SIGTERM); return the exit status."""
    try:
        sample_dir = find_samples(samples)
    except FileNotFoundError as exc:
        print(f"tailcast demo: {exc}", file=sys.stderr)
        return 2
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    folder = Path(tempfile.mkdtemp(prefix="tailcast-demo-"))
    # Servers first, then the writer: the stop order of the clean-up.
    servers: list[subprocess.Popen[bytes]] = []
    writer: subprocess.Popen[bytes] | None = None
    try:
        for name in SAMPLES:
            shutil.copyfile(sample_dir / name, folder / name)
        writer = _start_writer(folder, new_file_after=new_file_after, speed=speed)
        return _serve(folder, host, port, extra or [], servers, writer)
    except _Interrupted:
        return 0
    finally:
        # Further signals would interrupt the clean-up; it is bounded anyway.
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        _clean_up(servers, writer, folder)
        for s, handler in old.items():
            signal.signal(s, handler)
