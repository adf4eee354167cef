"""Behind a real nginx (the Debian package), started by the test on loopback
with the ``location`` block the README documents, copied out of README.md:
WebSocket upgrade, SSE without buffering, the base path, TLS termination.

nginx runs in the foreground as one process (``daemon off; master_process
off``), with every path in a temporary folder, and is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.harness import ServerHarness
from tests.helpers import DEADLINE, end_process, ws_connect
from tests.security.conftest import BEARER, TOKEN, Cert, free_ports
from tests.web.conftest import Serve, line_text, publish

README = Path(__file__).resolve().parents[2] / "README.md"

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    # The README's configuration.
    server {{
        listen 127.0.0.1:{http};
        {location}
    }}

    # The same with TLS terminated here.
    server {{
        listen 127.0.0.1:{tls} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {location}
    }}

    # A bare minimum with nginx's defaults (proxy_buffering on): events must
    # still arrive one by one (the server also says X-Accel-Buffering: no).
    server {{
        listen 127.0.0.1:{buffered};
        location /logs/ {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


def readme_location() -> str:
    """The ``location /logs/ { ... }`` block of the README's nginx example."""
    text = README.read_text()
    block = re.search(r"```nginx\n(.*?)```", text, re.S)
    assert block, "README.md has no ```nginx example"
    location = re.search(r"(location /logs/ \{.*?\n    \})", block.group(1), re.S)
    assert location, "the README's nginx example has no 'location /logs/' block"
    return location.group(1)


@dataclass
class Nginx:
    popen: subprocess.Popen[bytes]
    http: int
    tls: int
    buffered: int
    folder: Path

    def url(self, port: int, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{port}/logs/"


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# nginx cannot take port 0: its ports are picked free beforehand, and another
# program (a client of a test run alongside, whose ephemeral port it is) may
# take one before nginx binds it. nginx then gives up ("still could not
# bind()"), and is started again on other ports.
START_ATTEMPTS = 5


def _launch(
    binary: str, folder: Path, backend: int, cert: Cert, ports: dict[str, int]
) -> subprocess.Popen[bytes]:
    location = readme_location().replace("http://127.0.0.1:8080", f"http://127.0.0.1:{backend}")
    assert f":{backend}" in location, location
    conf = folder / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=folder, location=location, backend=backend, cert=cert.cert, key=cert.key, **ports
        )
    )
    # Nothing of an attempt before: its pid file, its bind errors.
    (folder / "nginx.pid").unlink(missing_ok=True)
    (folder / "error.log").unlink(missing_ok=True)
    return subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _serving(popen: subprocess.Popen[bytes], folder: Path, ports: dict[str, int]) -> bool:
    """Wait until nginx serves on its ports (True), or exited as one was taken (False).

    nginx writes its pid file once it has bound every port: before, a port
    that accepts may be another program's.
    """
    deadline = time.monotonic() + DEADLINE
    pid_file = folder / "nginx.pid"
    while not (pid_file.exists() and all(_accepting(p) for p in ports.values())):
        if popen.poll() is not None:
            err = popen.stderr.read().decode() if popen.stderr else ""
            log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
            if "Address already in use" in err + log:
                return False
            pytest.fail(f"nginx exited with {popen.returncode}: {err} {log}")
        assert time.monotonic() < deadline, "nginx did not start listening"
        time.sleep(0.02)
    return True


@contextmanager
def start_nginx(folder: Path, backend: int, cert: Cert) -> Iterator[Nginx]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is missing: install the Debian package nginx")
    for _ in range(START_ATTEMPTS):
        ports = dict(zip(("http", "tls", "buffered"), free_ports(3), strict=True))
        popen = _launch(binary, folder, backend, cert, ports)
        try:
            if _serving(popen, folder, ports):
                yield Nginx(popen, folder=folder, **ports)
                return
        finally:
            end_process(popen)
    pytest.fail(f"nginx found one of its ports taken {START_ATTEMPTS} times")


@dataclass
class Setup:
    h: ServerHarness
    nginx: Nginx
    client_ssl: ssl.SSLContext


@pytest.fixture
async def proxied(serve: Serve, cert: Cert, tmp_path: Path) -> AsyncIterator[Setup]:
    h = await serve(token=TOKEN, base_path="/logs/", trust_proxy=True)
    with start_nginx(tmp_path, h.server.port, cert) as nginx:
        yield Setup(h, nginx, ssl.create_default_context(cafile=str(cert.cert)))


async def test_websocket_upgrade_through_nginx(
    proxied: Setup, session: aiohttp.ClientSession
) -> None:
    h, nginx = proxied.h, proxied.nginx
    base = nginx.url(nginx.http)
    publish(h.hub, h.hub.streams["app"], 3)
    own = f"http://127.0.0.1:{nginx.http}"
    client = await ws_connect(
        session,
        base.replace("http", "ws", 1) + "ws?streams=app",
        protocols=("tailcast.v1", f"bearer.{TOKEN}"),
        headers={"Origin": own},
    )
    assert client.ws.protocol == "tailcast.v1"
    assert (await client.recv())["type"] == "hello"
    await client.wait_lines("app", 3)
    publish(h.hub, h.hub.streams["app"], 2)  # live, after the upgrade
    lines = await client.wait_lines("app", 5)
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    await client.ws.close()
    # Through the proxy too, a foreign page's socket is refused before the upgrade.
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await session.ws_connect(
            base.replace("http", "ws", 1) + "ws",
            protocols=("tailcast.v1", f"bearer.{TOKEN}"),
            headers={"Origin": "https://evil.example"},
        )
    assert info.value.status == 403


async def _next_event(content: aiohttp.StreamReader) -> bytes:
    return await asyncio.wait_for(content.readuntil(b"\n\n"), DEADLINE)


@pytest.mark.parametrize("which", ["readme", "buffered"])
async def test_sse_is_not_buffered_by_nginx(
    proxied: Setup, session: aiohttp.ClientSession, which: str
) -> None:
    """Each event arrives while the response is still open, one at a time."""
    h, nginx = proxied.h, proxied.nginx
    port = nginx.http if which == "readme" else nginx.buffered
    url = nginx.url(port) + "api/streams/app/events?tail=0"
    async with session.get(url, headers=BEARER) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert await _next_event(response.content) == b"retry: 1000\n\n"
        for seq in (1, 2, 3):
            publish(h.hub, h.hub.streams["app"], 1)
            event = await _next_event(response.content)
            assert event.startswith(f"id: {seq}\nevent: lines\n".encode()), event
            assert line_text(seq).encode() in event
        assert not response.content.at_eof()


async def test_base_path_through_nginx(proxied: Setup, session: aiohttp.ClientSession) -> None:
    h, nginx = proxied.h, proxied.nginx
    base = nginx.url(nginx.http)
    async with session.get(base) as response:
        assert response.status == 200
        page = await response.text()
    assets = re.findall(r'(?:src|href)="(static/[^"]+)"', page)
    assert "static/app.js" in assets
    for asset in assets:  # relative: they resolve under the base path
        async with session.get(base + asset) as response:
            assert response.status == 200, asset
    async with session.get(base + "healthz") as response:
        assert await response.json() == {"status": "ok"}
    async with session.get(base + "api/streams", headers=BEARER) as response:
        assert {s["id"] for s in (await response.json())["streams"]} == {"app", "other"}
    async with session.get(base + "api/streams") as response:
        assert response.status == 401
    # Outside the base path nginx does not pass anything on.
    async with session.get(f"http://127.0.0.1:{nginx.http}/api/streams", headers=BEARER) as r:
        assert r.status == 404
        assert b"app" not in await r.read()
    assert h.registry.statistics()["connects"] == 0


async def test_tls_terminated_at_nginx(proxied: Setup) -> None:
    h, nginx = proxied.h, proxied.nginx
    base = nginx.url(nginx.tls, "https")
    own = f"https://127.0.0.1:{nginx.tls}"
    connector = aiohttp.TCPConnector(ssl=proxied.client_ssl)
    async with aiohttp.ClientSession(connector=connector) as session:
        # The cookie is Secure: the trusted proxy says the browser uses https.
        async with session.post(base + "api/login", json={"token": TOKEN}) as response:
            assert response.status == 204
            attributes = [p.strip().lower() for p in response.headers["Set-Cookie"].split(";")]
            assert "secure" in attributes and "path=/logs/" in attributes
            cookie = f"tailcast_session={response.cookies['tailcast_session'].value}"
        publish(h.hub, h.hub.streams["app"], 2)
        # What a browser on https://127.0.0.1:TLS/logs/ does: wss with its cookie.
        client = await ws_connect(
            session,
            base.replace("https", "wss", 1) + "ws?streams=app",
            headers={"Origin": own, "Cookie": cookie},
        )
        assert (await client.recv())["type"] == "hello"
        await client.wait_lines("app", 2)
        await client.ws.close()
        # The same page served over plain http is another origin.
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(
                base.replace("https", "wss", 1) + "ws",
                headers={"Origin": f"http://127.0.0.1:{nginx.tls}", "Cookie": cookie},
            )
        assert info.value.status == 403
