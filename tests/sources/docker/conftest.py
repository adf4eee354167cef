"""A real engine for the Docker source's tests: Podman's Docker-compatible service,
started by ``scripts/engine.sh`` in a temp folder and its own network namespace.

Without the engine the tests that use it are skipped, unless ``CI=true``: then
a failure to start it fails the run. Containers run a static busybox with no
network. One engine serves the whole session; :class:`Api` creates containers
on it and removes them after each test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tailcast.config import parse_source
from tailcast.hub import Stream, decode_line
from tests.harness import ServerHarness, make_config
from tests.helpers import apoll

ENGINE_SH = Path(__file__).resolve().parents[3] / "scripts" / "engine.sh"
IMAGE = "localhost/busybox:test"
DEADLINE = 30.0


class Engine:
    """The running engine: its socket, and the script that controls it."""

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.docker_host = f"unix://{socket}"

    def script(self, *args: str) -> None:
        subprocess.run([str(ENGINE_SH), *args, self.socket], check=True, timeout=90)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """One engine for the whole session; skipped (or, under CI=true, failed) if it cannot start."""
    ci = os.environ.get("CI", "").lower() == "true"
    problem = None
    if os.geteuid() != 0:
        problem = "needs root"
    elif shutil.which("podman") is None:
        problem = "podman is not installed (apt-get install podman runc busybox-static)"
    socket = ""
    if problem is None:
        try:
            result = subprocess.run(
                [str(ENGINE_SH), "start"], check=False, capture_output=True, text=True, timeout=120
            )
        except subprocess.TimeoutExpired:
            problem = "engine.sh start timed out"
        else:
            socket = result.stdout.strip()
            if result.returncode != 0 or not socket:
                problem = f"engine.sh start failed: {result.stderr.strip()[-500:]}"
    if problem is not None:
        if ci:
            pytest.fail(f"the container engine could not start under CI: {problem}")
        pytest.skip(f"no container engine: {problem}")
    handle = Engine(socket)
    try:
        yield handle
    finally:
        handle.script("stop")


@pytest_asyncio.fixture
async def api(engine: Engine) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=engine.socket)) as s:
        client = Api(s)
        yield client
        await client.remove_all()


class Api:
    """The few engine calls the tests make (a real HTTP client on the real socket)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.created: list[str] = []

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, "http://d" + path, json=body) as resp:
            text = await resp.text()
            assert resp.status < 400, f"{method} {path}: {resp.status} {text}"
            return json.loads(text) if text.strip() else None

    async def create(
        self, script: str, *, name: str | None = None, tty: bool = False, labels: Any = None
    ) -> str:
        body = {
            "Image": IMAGE,
            "Cmd": ["sh", "-c", script],
            "Tty": tty,
            "Labels": labels or {},
            "HostConfig": {"NetworkMode": "none"},
        }
        path = "/containers/create" + (f"?name={name}" if name else "")
        cid: str = (await self.call("POST", path, body))["Id"]
        self.created.append(cid)
        return cid

    async def start(self, cid: str) -> None:
        await self.call("POST", f"/containers/{cid}/start")

    async def run(self, script: str, **kwargs: Any) -> str:
        cid = await self.create(script, **kwargs)
        await self.start(cid)
        return cid

    async def remove_all(self) -> None:
        for cid in self.created:
            with contextlib.suppress(AssertionError, aiohttp.ClientError):
                await self.call("DELETE", f"/containers/{cid}?force=1&t=0")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def lines_of(stream: Stream) -> list[dict[str, Any]]:
    return [decode_line(b) for b in stream.ring]


def texts(stream: Stream) -> list[str]:
    """Whole lines: a ``cont`` piece (a partial line flushed after a quiet delay) is joined."""
    out: list[str] = []
    for line in lines_of(stream):
        if line.get("cont") and out:
            out[-1] += line["text"]
        else:
            out.append(line["text"])
    return out


async def serve(start_server: Any, engine: Engine, *sources: str, **config: Any) -> ServerHarness:
    cfg = make_config(docker_host=engine.docker_host, flush_delay=0.1, **config)
    harness: ServerHarness = await start_server(cfg, specs=tuple(parse_source(s) for s in sources))
    return harness


async def until_state(stream: Stream, state: str, deadline: float = DEADLINE) -> None:
    await apoll(lambda: stream.state == state, timeout=deadline)
