"""The process source with real subprocesses: labels, order, exit codes and signals,
unbuffered children, progress output, process groups, pty, restart and control.

Children that must be caught mid-run wait for a *gate* file that the test
creates once it has seen what it wanted: no sleeps as synchronisation.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import stat
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tailcast.config import SourceSpec, build_config
from tailcast.hub import Hub, Stream, decode_line
from tailcast.server import Server
from tailcast.sources.process.source import ProcessSource
from tests.harness import make_config
from tests.helpers import apoll, ws_connect

# Prepended to every child: gate(path) waits (bounded) for the test's go-ahead.
# A child's line is one print() of one string: unbuffered, print("a", b) is a
# write() per part, and a child paused between them past --flush-delay shows
# its line as two pieces.
PRELUDE = """\
import os, signal, subprocess, sys, time
def gate(path):
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit(99)
        time.sleep(0.005)
"""


def child(code: str, name: str = "job", **kw: Any) -> SourceSpec:
    """A ``cmd:`` spec running ``code`` in a fresh Python."""
    argv = (sys.executable, "-c", PRELUDE + textwrap.dedent(code))
    return SourceSpec(f"cmd:{shlex.join(argv)}", "process", name, argv=argv, **kw)


@dataclass
class Launched:
    server: Server
    sources: list[ProcessSource]

    @property
    def hub(self) -> Hub:
        return self.server.hub

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "ws"

    def stream(self, index: int = 0) -> Stream:
        return self.sources[index].stream


@pytest_asyncio.fixture
async def launch() -> AsyncIterator[Callable[..., Awaitable[Launched]]]:
    """``await launch(spec, ..., grace=, backoff=, **config)``: a started server."""
    servers: list[Server] = []

    async def start(
        *specs: SourceSpec, grace: float = 5.0, backoff: float = 0.05, **overrides: Any
    ) -> Launched:
        config = make_config(**{"flush_delay": 0.05, **overrides})
        config = dataclasses.replace(config, sources=specs)
        server = Server(config, sources=[])
        sources = []
        for spec in specs:
            source = ProcessSource(spec, server.hub, config)
            source.grace = grace
            source.backoff_min = backoff
            source.backoff_max = backoff * 4
            sources.append(source)
        server.sources.extend(sources)
        await server.start()
        servers.append(server)
        return Launched(server, sources)

    yield start
    for server in servers:
        await server.stop()


def lines_of(stream: Stream) -> list[dict[str, Any]]:
    _, encoded = stream.lines_after(0)
    return [decode_line(b) for b in encoded]


async def wait_state(stream: Stream, state: str) -> dict[str, Any]:
    await apoll(lambda: stream.state == state)
    return dict(stream.state_extra)


def gone(pid: int) -> bool:
    """Not in the process table at all (a zombie still counts as there)."""
    return not os.path.exists(f"/proc/{pid}")


def dead(pid: int) -> bool:
    """Gone, or a zombie that is not ours: killed, waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    state, ppid = stat[stat.rfind(")") + 2 :].split()[:2]
    return state == "Z" and int(ppid) != os.getpid()


async def test_stdout_and_stderr_are_labelled_in_read_order(
    launch: Callable[..., Awaitable[Launched]], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    spec = child(f"""
        print("one")
        gate({str(a)!r})
        print("two", file=sys.stderr)
        gate({str(b)!r})
        print("three")
        sys.exit(3)
    """)
    h = await launch(spec)
    client = await ws_connect(session, h.ws_url + "?streams=*&tail=100")
    hello = await client.recv()
    info = hello["streams"][0]
    assert info["kind"] == "process"
    assert info["argv"] == list(spec.argv)
    first = await client.wait_lines("job", 1)
    assert (first[0]["text"], first[0]["fd"]) == ("one", "out")
    a.touch()
    await client.wait_lines("job", 2)
    b.touch()
    lines = await client.wait_lines("job", 3)
    assert [(x["text"], x["fd"], x["seq"]) for x in lines] == [
        ("one", "out", 1),
        ("two", "err", 2),
        ("three", "out", 3),
    ]
    while True:
        status = await client.recv_type("status")
        if status["state"] == "exited":
            break
    assert status["exit_code"] == 3
    assert "signal" not in status
    await client.ws.close()


async def test_unflushed_python_lines_arrive_before_the_child_exits(
    launch: Callable[..., Awaitable[Launched]], tmp_path: Path
) -> None:
    go = tmp_path / "go"
    # print() into a pipe is block-buffered unless we say otherwise: without
    # PYTHONUNBUFFERED this line would only appear at exit.
    h = await launch(child(f"print('early bird'); gate({str(go)!r})"))
    stream = h.stream()
    # (The line may be read before the second pipe is attached and the state set.)
    await apoll(lambda: lines_of(stream) and stream.state == "live")
    assert lines_of(stream)[0]["text"] == "early bird"
    assert h.sources[0].statistics()["pid"] is not None  # still running
    go.touch()
    assert await wait_state(stream, "exited") == {"exit_code": 0}


async def test_a_signal_gives_128_plus_n_and_the_signal_name(
    launch: Callable[..., Awaitable[Launched]],
) -> None:
    h = await launch(child("print('bye'); os.kill(os.getpid(), signal.SIGKILL)"))
    extra = await wait_state(h.stream(), "exited")
    assert extra == {"exit_code": 128 + signal.SIGKILL, "signal": "SIGKILL"}
    assert h.sources[0].exit_status == 137
    assert [x["text"] for x in lines_of(h.stream())] == ["bye"]


async def test_progress_output_reaches_clients_as_written(
    launch: Callable[..., Awaitable[Launched]], tmp_path: Path
) -> None:
    go = tmp_path / "go"
    h = await launch(
        child(f"""
        sys.stdout.write("10%\\r20%\\r30%\\n")
        sys.stdout.write("50%")
        gate({str(go)!r})
        sys.stdout.write("\\r100%\\n")
    """)
    )
    stream = h.stream()
    # The partial line shows while the child still runs (after --flush-delay).
    await apoll(lambda: len(lines_of(stream)) >= 2)
    assert stream.state == "live"
    go.touch()
    await wait_state(stream, "exited")
    got = [(x["text"], x.get("cont", False)) for x in lines_of(stream)]
    assert got == [("10%\r20%\r30%", False), ("50%", False), ("\r100%", True)]


async def test_grandchildren_are_gone_after_shutdown(
    launch: Callable[..., Awaitable[Launched]],
) -> None:
    # The grandchild ignores SIGTERM: only the SIGKILL after the grace period ends it.
    h = await launch(
        child("""
        g = subprocess.Popen([sys.executable, "-c",
            "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "sys.stdout.write('ready\\\\n'); time.sleep(60)"])
        sys.stdout.write(f"grandchild {g.pid}\\n")
        time.sleep(60)
    """),
        grace=0.3,
    )
    stream = h.stream()
    # The two lines come from two processes: in either order.
    await apoll(
        lambda: {"ready", "grandchild"} <= {x["text"].partition(" ")[0] for x in lines_of(stream)}
    )
    texts = [x["text"] for x in lines_of(stream)]
    grandchild = int(next(t for t in texts if t.startswith("grandchild")).split()[1])
    leader = h.sources[0].statistics()["pid"]
    assert not gone(grandchild) and not gone(leader)
    await h.server.stop()
    assert gone(leader)  # reaped: no zombie of ours
    assert dead(grandchild)  # killed; an orphan, so init reaps it...
    await apoll(lambda: gone(grandchild))  # ...and then it is gone too
    assert stream.state == "exited"
    assert stream.state_extra == {"exit_code": 128 + signal.SIGTERM, "signal": "SIGTERM"}


async def test_a_background_job_left_behind_is_ended_with_its_command(
    launch: Callable[..., Awaitable[Launched]],
) -> None:
    # The leftover holds our stdout pipe open: the stream can only reach
    # "exited" because its group was ended too.
    h = await launch(
        child("""
        g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(f"grandchild {g.pid}")
        sys.exit(0)
    """)
    )
    stream = h.stream()
    assert await wait_state(stream, "exited") == {"exit_code": 0}
    grandchild = int(lines_of(stream)[0]["text"].split()[1])
    assert dead(grandchild)
    await apoll(lambda: gone(grandchild))


async def test_missing_or_not_executable_command_is_an_error_and_others_keep_serving(
    launch: Callable[..., Awaitable[Launched]], tmp_path: Path
) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    missing = ("/nonexistent/tailcast-test-cmd",)
    h = await launch(
        SourceSpec("cmd:/nonexistent/tailcast-test-cmd", "process", "missing", argv=missing),
        SourceSpec(f"cmd:{script}", "process", "noexec", argv=(str(script),)),
        child("print('fine')", name="fine"),
    )
    assert (await wait_state(h.stream(0), "error"))["message"] == (
        "cannot run '/nonexistent/tailcast-test-cmd': No such file or directory"
    )
    assert "Permission denied" in (await wait_state(h.stream(1), "error"))["message"]
    await wait_state(h.stream(2), "exited")
    assert [x["text"] for x in lines_of(h.stream(2))] == ["fine"]
    assert h.sources[0].exit_status == 2
    async with aiohttp.ClientSession() as s, s.get(h.url + "healthz") as resp:
        assert resp.status == 200


async def test_cwd_and_env_from_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    # The server's own secret stays with the server.
    monkeypatch.setenv("TAILCAST_TOKEN", "s3cret")
    code = (
        "import os; print(os.getcwd()); print(os.environ['GREETING'])\n"
        "print(os.environ.get('TAILCAST_TOKEN', 'no token') + ' ' + os.environ['PYTHONUNBUFFERED'])"
    )
    toml = tmp_path / "tailcast.toml"
    toml.write_text(
        "[[source]]\n"
        f"name = 'build'\ncmd = [{sys.executable!r}, '-c', {code!r}]\n"
        f"cwd = {str(workdir)!r}\nenv = {{ GREETING = 'hello' }}\n"
    )
    config = build_config({"host": "127.0.0.1", "port": 0}, [], config_file=str(toml), environ={})
    server = Server(config)  # the ordinary path: build_source picks ProcessSource
    await server.start()
    try:
        stream = server.hub.get("build")
        await wait_state(stream, "exited")
        assert [x["text"] for x in lines_of(stream)] == [str(workdir), "hello", "no token 1"]
    finally:
        await server.stop()


async def test_pty_keeps_colours_and_merges_stderr(
    launch: Callable[..., Awaitable[Launched]],
) -> None:
    h = await launch(
        child("""
        if sys.stdout.isatty():
            term = os.environ.get("TERM") not in (None, "dumb")
            print(f"\\x1b[31mred\\x1b[0m, TERM set: {term}")
        else:
            print("plain")
        print("to stderr", file=sys.stderr)
    """),
        pty=True,
    )
    stream = h.stream()
    assert await wait_state(stream, "exited") == {"exit_code": 0}
    got = [(x["text"], x["fd"]) for x in lines_of(stream)]
    assert got == [("\x1b[31mred\x1b[0m, TERM set: True", "out"), ("to stderr", "out")]


async def test_restart_on_failure_until_it_succeeds(
    launch: Callable[..., Awaitable[Launched]], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    h = await launch(
        child(f"""
        with open({str(runs)!r}, "a") as f:
            f.write("x")
        n = len(open({str(runs)!r}).read())
        print(f"run {{n}}")
        sys.exit(0 if n == 3 else 1)
    """),
        restart="on-failure",
    )
    source = h.sources[0]
    await apoll(source.finished.is_set)
    assert source.starts == 3
    assert h.stream().state_extra == {"exit_code": 0}
    lines = lines_of(h.stream())
    assert [(x["seq"], x["text"]) for x in lines] == [(1, "run 1"), (2, "run 2"), (3, "run 3")]


async def test_restart_always_until_stopped(launch: Callable[..., Awaitable[Launched]]) -> None:
    h = await launch(child("print('done')"), restart="always")
    source = h.sources[0]
    await apoll(lambda: len(lines_of(h.stream())) >= 3)
    await source.stop()
    await apoll(source.finished.is_set)
    assert h.stream().state == "exited"
    lines = lines_of(h.stream())
    assert {x["text"] for x in lines} == {"done"}
    assert [x["seq"] for x in lines] == list(range(1, len(lines) + 1))
    # One line per finished run; the stop may have caught a run before it printed.
    assert source.starts - len(lines) in (0, 1)


async def test_restart_no_stays_exited(launch: Callable[..., Awaitable[Launched]]) -> None:
    h = await launch(child("sys.exit(4)"))
    source = h.sources[0]
    await apoll(source.finished.is_set)
    assert source.starts == 1
    assert h.stream().state_extra == {"exit_code": 4}


async def _pid_lines(stream: Stream, count: int) -> list[int]:
    await apoll(lambda: len(lines_of(stream)) >= count)
    return [int(x["text"]) for x in lines_of(stream)]


async def test_control_routes_with_permission_and_token(
    launch: Callable[..., Awaitable[Launched]], session: aiohttp.ClientSession
) -> None:
    h = await launch(
        child("print(os.getpid()); time.sleep(60)"), allow_control=True, token="s3cret"
    )
    stream, source = h.stream(), h.sources[0]
    base = h.url + "api/streams/job/"
    auth = {"Authorization": "Bearer s3cret"}
    (first,) = await _pid_lines(stream, 1)
    async with session.post(base + "restart") as resp:
        assert resp.status == 401
    assert source.starts == 1
    async with session.post(base + "restart", headers=auth) as resp:
        assert resp.status == 202
    pids = await _pid_lines(stream, 2)
    assert pids[1] != first
    assert gone(first)
    # (The new run's line may be read before its state is set: "exited" until then.)
    await wait_state(stream, "live")
    async with session.post(base + "stop", headers=auth) as resp:
        assert resp.status == 202
    extra = await wait_state(stream, "exited")
    assert extra == {"exit_code": 128 + signal.SIGTERM, "signal": "SIGTERM"}
    await apoll(source.finished.is_set)
    assert gone(pids[1])
    async with session.post(base + "restart", headers=auth) as resp:
        assert resp.status == 202
    pids = await _pid_lines(stream, 3)
    await wait_state(stream, "live")
    assert source.starts == 3


async def test_control_routes_refused_without_allow_control(
    launch: Callable[..., Awaitable[Launched]], session: aiohttp.ClientSession
) -> None:
    h = await launch(child("print(os.getpid()); time.sleep(60)"))
    stream, source = h.stream(), h.sources[0]
    (pid,) = await _pid_lines(stream, 1)
    for action in ("restart", "stop"):
        async with session.post(h.url + f"api/streams/job/{action}") as resp:
            assert resp.status == 403
            assert "allow-control" in (await resp.json())["error"]
    assert stream.state == "live"
    assert source.starts == 1
    assert not gone(pid)


async def test_stop_kills_a_child_that_ignores_sigterm(
    launch: Callable[..., Awaitable[Launched]],
) -> None:
    h = await launch(
        child("""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(os.getpid())
        time.sleep(60)
    """),
        grace=0.2,
    )
    stream, source = h.stream(), h.sources[0]
    (pid,) = await _pid_lines(stream, 1)
    await source.stop()
    extra = await wait_state(stream, "exited")
    assert extra == {"exit_code": 128 + signal.SIGKILL, "signal": "SIGKILL"}
    assert gone(pid)


@pytest.mark.parametrize("pty", [False, True])
async def test_statistics_count_bytes(
    launch: Callable[..., Awaitable[Launched]], pty: bool
) -> None:
    # No partial line may be shown on its own: a terminal hands the output over in
    # pieces, and one that waited past a short flush delay would count as a line.
    h = await launch(child("sys.stdout.write('abc\\n' * 1000)"), pty=pty, flush_delay=30.0)
    await wait_state(h.stream(), "exited")
    stats = h.sources[0].statistics()
    # A terminal turns each \n into \r\n.
    assert stats["bytes_read"] == (5000 if pty else 4000)
    assert stats["starts"] == 1
    assert len(lines_of(h.stream())) == 1000


async def test_stop_during_the_backoff_cancels_the_restart(
    launch: Callable[..., Awaitable[Launched]],
) -> None:
    h = await launch(child("sys.exit(1)"), restart="always", backoff=30.0)
    source = h.sources[0]
    await wait_state(h.stream(), "exited")
    assert not source.finished.is_set()  # waiting out the backoff
    await source.stop()
    await apoll(source.finished.is_set)
    assert source.starts == 1
    await source.restart()  # a control restart starts it at once, backoff or not
    await apoll(lambda: source.starts == 2)
