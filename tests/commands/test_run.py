"""``tailcast run -- COMMAND``: the URL first, the terminal echo, the exit status,
``--linger``, signals, and commands that cannot start — as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.helpers import SERVING_RE, poll, run_tailcast, tailcast_cmd, ws_connect

PY = sys.executable
TIMEOUT = 30


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        tailcast_cmd("run", "--port", "0", *args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_echoes_both_streams_and_exits_with_the_status() -> None:
    code = "import sys; print('to out'); print('to err', file=sys.stderr); sys.exit(7)"
    done = run("--", PY, "-c", code)
    assert done.returncode == 7
    assert done.stdout == b"to out\n"
    err = done.stderr.decode().splitlines()
    match = SERVING_RE.match(err[0])
    assert match, err
    assert match.group(1) == "1"
    assert match.group(2).startswith("http://127.0.0.1:")
    assert err[1:] == ["to err"]


def test_a_signal_exits_with_128_plus_n() -> None:
    done = run("--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert done.returncode == 128 + signal.SIGTERM


def test_a_missing_command_exits_2_with_the_os_message() -> None:
    done = run("--", "/nonexistent/tailcast-test-cmd")
    assert done.returncode == 2
    err = done.stderr.decode().splitlines()
    assert SERVING_RE.match(err[0])
    assert err[1:] == [
        "tailcast: cannot run '/nonexistent/tailcast-test-cmd': No such file or directory"
    ]


def test_no_command_is_a_usage_error() -> None:
    done = run("--")
    assert done.returncode == 2
    assert done.stderr.decode().startswith("tailcast: run: no COMMAND given")


def test_pty_keeps_colours_in_the_echo() -> None:
    code = "import sys; print('\\x1b[32mok\\x1b[0m' if sys.stdout.isatty() else 'no tty')"
    done = run("--pty", "--", PY, "-c", code)
    assert done.returncode == 0
    # The terminal's own line ending, passed through as the program wrote it.
    assert done.stdout == b"\x1b[32mok\x1b[0m\r\n"


async def test_lines_stream_live_and_linger_keeps_serving(tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "print('compiling', flush=False)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.005)\n"
        "print('failed', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    with run_tailcast(
        "run", "--port", "0", "--linger", "60", "--name", "build", "--", PY, "-c", code
    ) as proc:
        assert proc.popen.stdout is not None
        async with aiohttp.ClientSession() as session:
            client = await ws_connect(session, proc.ws_url + "?streams=*&tail=100")
            hello = await client.recv()
            assert [s["id"] for s in hello["streams"]] == ["build"]
            first = await client.wait_lines("build", 1)
            assert (first[0]["text"], first[0]["fd"]) == ("compiling", "out")
            # Echoed to the terminal while the command still runs.
            echoed = await asyncio.to_thread(proc.popen.stdout.readline)
            assert echoed == b"compiling\n"
            go.touch()
            while (status := await client.recv_type("status"))["state"] != "exited":
                pass
            assert status["exit_code"] == 3
            lines = await client.wait_lines("build", 2)
            assert (lines[1]["text"], lines[1]["fd"]) == ("failed", "err")
            # Lingering: still serving after the command ended.
            assert proc.popen.poll() is None
            async with session.get(proc.url + "api/streams/build/lines?format=text") as resp:
                assert await resp.text() == "compiling\nfailed\n"
            await client.ws.close()
        assert proc.stop() == 3


def test_sigterm_ends_the_command_and_its_group(tmp_path: Path) -> None:
    code = (
        "import os, subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(os.getpid(), g.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with run_tailcast("run", "--port", "0", "--", PY, "-c", code) as proc:
        assert proc.popen.stdout is not None
        pids = [int(p) for p in proc.popen.stdout.readline().split()]
        assert all(os.path.exists(f"/proc/{p}") for p in pids)
        assert proc.stop(signal.SIGTERM) == 128 + signal.SIGTERM
        poll(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids))


async def test_a_slow_terminal_holds_the_command_back_but_not_the_server() -> None:
    lines = 2_000_000  # 20 MB: far more than the pipes and the echo queue hold
    code = (
        "import sys\n"
        f"for start in range(0, {lines}, 10000):\n"
        "    batch = range(start, start + 10000)\n"
        "    sys.stdout.buffer.write(b''.join(b'%09d\\n' % i for i in batch))\n"
    )
    with run_tailcast("run", "--port", "0", "--name", "big", "--", PY, "-c", code) as proc:
        assert proc.popen.stdout is not None
        async with aiohttp.ClientSession() as session:
            # Nobody reads our stdout yet: the command must wait, the server must not.
            async with session.get(proc.url + "healthz") as resp:
                assert resp.status == 200
            async with session.get(proc.url + "api/streams") as resp:
                info = (await resp.json())["streams"][0]
            assert info["state"] == "live"
            assert info["last_seq"] < lines
        echoed = await asyncio.to_thread(proc.popen.stdout.read)
        assert proc.popen.wait(TIMEOUT) == 0
    assert echoed == b"".join(b"%09d\n" % i for i in range(lines))


def test_with_redaction_the_echo_shows_the_redacted_text() -> None:
    """The terminal gets what the server kept: no secret, line breaks where they were."""
    code = (
        "import sys, time\n"
        "print('login user=bob password=hunter2-xyz ok')\n"
        "sys.stdout.write('token=ab'); sys.stdout.flush(); time.sleep(0.3)\n"  # a pause mid-secret
        "print('cdef123 done')\n"
        "print('Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543', file=sys.stderr)\n"
        "print('plain')\n"
    )
    done = run("--redact-secrets", "--flush-delay", "0.05", "--", PY, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == (
        "login user=bob password=[REDACTED] ok\ntoken=[REDACTED] done\nplain\n"
    )
    err = done.stderr.decode()
    assert err.splitlines()[1:] == ["Authorization: [REDACTED]"]
    for secret in (b"hunter2", b"cdef123", b"8f14e45f"):
        assert secret not in done.stdout + done.stderr


async def test_with_redaction_a_secret_in_the_command_line_is_shown_nowhere() -> None:
    """``tailcast run --redact-secrets -- cmd https://u:PW@host``: PW in no answer or log."""
    code = "print('fetching')"
    url = "https://deploy:s3cr3tPW@git.example.com/r.git"
    args = ("run", "--port", "0", "-v", "--linger", "60", "--redact-secrets", "--")
    with run_tailcast(*args, PY, "-c", code, url) as proc:
        async with aiohttp.ClientSession() as session:
            client = await ws_connect(session, proc.ws_url + "?streams=*&tail=100")
            hello = await client.recv()
            await client.wait_lines(hello["streams"][0]["id"], 1)
            state = hello["streams"][0]["state"]
            while state != "exited":  # lingering after the command's exit: its status is 0
                state = (await client.recv_type("status"))["state"]
            async with session.get(proc.url + "api/streams") as resp:
                streams = await resp.text()
            await client.ws.close()
        assert "s3cr3tPW" not in str(hello) and "s3cr3tPW" not in streams
        assert "https://deploy:[REDACTED]@git.example.com/r.git" in streams
        assert proc.stop() == 0
        assert proc.popen.stderr is not None
        logged = "\n".join(proc.stderr_lines) + proc.popen.stderr.read().decode()
        assert "started, pid" in logged  # -v logs the command: redacted
        assert "s3cr3tPW" not in logged
