"""Shared parts of the security tests: the web tests' ``serve`` fixture, a
self-signed certificate made with the ``openssl`` command, raw sockets for
requests no well-behaved client library would send.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.web.conftest import serve  # noqa: F401  (re-exported fixture)

TOKEN = "tok-3f9a1c7e2b"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path


def make_cert(folder: Path) -> Cert:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is missing: install the Debian package openssl")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return Cert(cert, key)


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    return make_cert(tmp_path_factory.mktemp("tls"))


def free_ports(count: int) -> list[int]:
    """``count`` different ports free on loopback right now (for programs that
    cannot take port 0). Held together while picked, so none comes twice; another
    program may still take one before it is bound: its caller must try again then."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


async def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes to the server; return everything it answers until it closes
    or its answer's head and ``Content-Length`` body have arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await asyncio.wait_for(reader.readexactly(length), timeout)
        return head + body
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def drain_stderr(popen: subprocess.Popen[bytes]) -> tuple[list[str], threading.Thread]:
    """Read a subprocess's standard error as it comes, into a list.

    An unread pipe fills up and then blocks the writer: a server logging
    under load would hang. Every unhandled exception is logged there too.
    """
    lines: list[str] = []
    pipe = popen.stderr
    assert pipe is not None
    thread = threading.Thread(
        target=lambda: lines.extend(line.decode(errors="replace") for line in pipe), daemon=True
    )
    thread.start()
    return lines, thread


def errors_logged(lines: list[str]) -> list[str]:
    return [line for line in lines if "Traceback" in line or " ERROR " in line]


@dataclass(frozen=True)
class ProcStats:
    """What /proc says about a process: resident memory, descriptors, threads."""

    rss_bytes: int
    fds: int
    threads: int


def proc_stats(pid: int) -> ProcStats:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kib = int(fields["VmRSS"].split()[0])
    return ProcStats(
        rss_bytes=rss_kib * 1024,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(fields["Threads"]),
    )


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text into ``{name{labels}: value}`` (comments skipped)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values
