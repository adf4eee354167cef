"""``tailcast agent`` and ``tailcast serve --redis`` as users run them, and their errors."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tailcast.cli import main
from tests.helpers import (
    DEADLINE,
    apoll,
    assert_contiguous,
    end_process,
    run_tailcast,
    tailcast_cmd,
    texts,
)
from tests.helpers import ws_connect as connect_ws
from tests.multihost.conftest import RedisServer, closed_port, web_config

AGENT_RE = re.compile(r"^tailcast: agent publishing (\d+) streams? to (\S+)$")


@contextmanager
def run_agent(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m tailcast agent ARGS``; yields once it says it is publishing."""
    popen = subprocess.Popen(
        tailcast_cmd("agent", *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert popen.stderr is not None
        first = popen.stderr.readline().decode(errors="replace").rstrip("\n")
        assert AGENT_RE.match(first), f"agent did not start: {first!r}"
        yield popen
    finally:
        end_process(popen)


def test_bad_redis_url_exits_2_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--redis", "bad://x", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tailcast: --redis") and err.count("\n") == 1


def test_bad_url_through_the_real_command_line() -> None:
    result = subprocess.run(
        tailcast_cmd("serve", "--redis", "bad://x"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--redis" in result.stderr


def test_unreachable_redis_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with closed_port() as port:
        assert main(["serve", "--redis", f"redis://127.0.0.1:{port}", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "--redis: cannot reach" in err and str(port) in err


def test_agent_needs_redis_and_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "cmd:true"]) == 2
    assert "--redis" in capsys.readouterr().err
    assert main(["agent", "--redis", "redis://127.0.0.1:1"]) == 2
    assert "no SOURCE" in capsys.readouterr().err


def test_wrong_password_is_refused_and_never_printed(
    redis_factory: Callable[..., RedisServer], capsys: pytest.CaptureFixture[str]
) -> None:
    server = redis_factory(password="s3cret-pw")
    wrong = server.url.replace("s3cret-pw", "wrong-pw")
    assert main(["agent", "--redis", wrong, "cmd:true"]) == 2
    err = capsys.readouterr().err
    assert "--redis" in err and "authentication" in err.lower()
    assert "wrong-pw" not in err


async def test_agents_and_web_nodes_as_processes_with_a_password(
    redis_factory: Callable[..., RedisServer], tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """A file on an "agent host" and one on a web node reach clients of both web nodes."""
    redis = redis_factory(password="s3cret-pw")
    remote, own = tmp_path / "remote.log", tmp_path / "own.log"
    remote.write_text("")
    own.write_text("")
    with (
        run_agent("--redis", redis.url, f"remote={remote}", "--lines", "0") as agent,
        run_tailcast("serve", "--redis", redis.url, "--port", "0", f"own={own}") as w1,
        run_tailcast("serve", "--redis", redis.url, "--port", "0") as w2,
    ):
        assert w1.streams == 2  # its own stream comes back through Redis
        assert "s3cret-pw" not in " ".join(w1.stderr_lines)
        assert w2.streams == 2  # what Redis held when it started
        client = await connect_ws(session, w2.ws_url + "?streams=*&tail=0")
        await client.recv_type("hello")
        # The agent's file opened ("live"): a source's first look comes after
        # its process's start line, and with ``--lines 0`` it begins at the end
        # of the file as it finds it (lines written before would be skipped).
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while {s["id"]: s["state"] for s in await _streams(session, w2.url)}["remote"] != "live":
            assert asyncio.get_running_loop().time() < deadline, "remote.log was never opened"
            await asyncio.sleep(0.05)
        with remote.open("a") as f:
            f.writelines(f"remote {i}\n" for i in range(1, 201))
        with own.open("a") as f:
            f.writelines(f"own {i}\n" for i in range(1, 51))
        assert texts(await client.wait_lines("remote", 200)) == [
            f"remote {i}" for i in range(1, 201)
        ]
        assert texts(await client.wait_lines("own", 50)) == [f"own {i}" for i in range(1, 51)]
        assert_contiguous(client.lines["remote"], 1)

        agent.terminate()  # a clean stop: its stream stays, marked stopped
        assert agent.wait(10) == 0
        status = await client.recv_type("status")
        assert status["stream"] == "remote" and status["state"] == "error"
        assert "stopped" in status["message"]
        infos = {s["id"]: s for s in await _streams(session, w2.url)}
        assert infos["remote"]["last_seq"] == 200 and infos["own"]["state"] == "live"


async def _streams(session: aiohttp.ClientSession, url: str) -> list[dict[str, object]]:
    async with session.get(url + "api/streams") as resp:
        body = await resp.json()
    streams: list[dict[str, object]] = body["streams"]
    return streams


async def test_run_with_redis_publishes_echoes_and_exits_with_the_status(
    redis_server: RedisServer, start_server: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    """``tailcast run --redis URL -- CMD``: no web server; the web node serves the lines."""
    web = await start_server(web_config(redis_server.url))
    script = "for i in 1 2 3; do echo out $i; done; echo err >&2; exit 3"
    proc = await asyncio.create_subprocess_exec(
        *tailcast_cmd(
            "run", "--redis", redis_server.url, "--name", "job", "--", "sh", "-c", script
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 3
    assert out == b"out 1\nout 2\nout 3\n"
    first, *rest = err.decode().splitlines()
    assert first == f"tailcast: publishing 1 stream to {redis_server.url}"
    assert "err" in rest
    await apoll(lambda: "job" in web.hub.streams and web.hub.streams["job"].last_seq == 4)
    await apoll(lambda: web.hub.streams["job"].state == "exited")
    client = await connect_ws(session, web.ws_url + "?streams=job&tail=10")
    lines = await client.wait_lines("job", 4)
    assert_contiguous(lines, 1)
    assert sorted(texts(lines)) == ["err", "out 1", "out 2", "out 3"]
    assert web.hub.streams["job"].state_extra.get("exit_code") == 3


def test_run_with_an_unreachable_redis_exits_2() -> None:
    with closed_port() as port:
        result = subprocess.run(
            tailcast_cmd("run", "--redis", f"redis://127.0.0.1:{port}", "--", "true"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.startswith("tailcast: --redis") and result.stderr.count("\n") == 1
