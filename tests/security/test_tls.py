"""TLS for real: a self-signed certificate made by ``openssl``, the server as a
subprocess with ``--tls-cert/--tls-key``, clients that verify it.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tailcast.cli import main
from tests.helpers import Proc, end_process, poll, run_tailcast, tailcast_cmd
from tests.security.conftest import BEARER, TOKEN, Cert, make_cert


@pytest.fixture
def tls_server(cert: Cert) -> Iterator[Proc]:
    with run_tailcast(
        "--port",
        "0",
        "--tls-cert",
        str(cert.cert),
        "--tls-key",
        str(cert.key),
        "-",
        stdin=subprocess.PIPE,
        env={"TAILCAST_TOKEN": TOKEN},
    ) as proc:
        yield proc


def _client_ssl(cert: Cert) -> ssl.SSLContext:
    """Trusts exactly our certificate, and checks the host name against it."""
    return ssl.create_default_context(cafile=str(cert.cert))


def _feed(proc: Proc, text: str) -> None:
    assert proc.popen.stdin is not None
    proc.popen.stdin.write(text.encode())
    proc.popen.stdin.flush()


async def test_https_and_wss_with_a_verified_certificate(tls_server: Proc, cert: Cert) -> None:
    proc = tls_server
    assert proc.url.startswith("https://127.0.0.1:")
    connector = aiohttp.TCPConnector(ssl=_client_ssl(cert))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(proc.url + "healthz") as response:
            assert response.status == 200
        async with session.get(proc.url + "api/streams") as response:
            assert response.status == 401
        _feed(proc, "over tls 1\nover tls 2\n")
        ws = await session.ws_connect(
            proc.ws_url + "?streams=stdin", protocols=("tailcast.v1", f"bearer.{TOKEN}")
        )
        try:
            assert ws.protocol == "tailcast.v1"
            texts: list[str] = []
            while len(texts) < 3:
                frame = json.loads((await ws.receive(timeout=15)).data)
                if frame["type"] == "lines":
                    texts += [line["text"] for line in frame["lines"]]
                    if len(texts) == 2:
                        _feed(proc, "live over tls\n")
            assert texts == ["over tls 1", "over tls 2", "live over tls"]
        finally:
            await ws.close()


async def test_login_cookie_is_secure_over_tls(tls_server: Proc, cert: Cert) -> None:
    connector = aiohttp.TCPConnector(ssl=_client_ssl(cert))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(tls_server.url + "api/login", json={"token": TOKEN}) as response,
    ):
        assert response.status == 204
        attributes = [p.strip().lower() for p in response.headers["Set-Cookie"].split(";")]
    assert {"secure", "httponly", "samesite=strict"} <= set(attributes)


async def test_plain_http_and_untrusted_clients_get_nothing(
    tls_server: Proc, tmp_path: Path
) -> None:
    plain = tls_server.url.replace("https://", "http://", 1)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(plain + "api/streams", headers=BEARER) as response:
                await response.read()
    # A client that does not trust this certificate refuses to talk at all.
    other = make_cert(tmp_path)
    connector = aiohttp.TCPConnector(ssl=_client_ssl(other))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with session.get(tls_server.url + "healthz") as response:
                await response.read()
    # The server is still serving.
    assert tls_server.popen.poll() is None


def test_watch_follows_over_tls(tls_server: Proc, cert: Cert) -> None:
    """``tailcast watch https://...`` trusts what the system (here SSL_CERT_FILE) trusts."""
    _feed(tls_server, "watched 1\n")
    watch = subprocess.Popen(
        tailcast_cmd("watch", tls_server.url, "--tail", "10", "--no-prefix"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TAILCAST_TOKEN": TOKEN, "SSL_CERT_FILE": str(cert.cert)},
    )
    try:
        assert watch.stdout is not None
        assert watch.stdout.readline() == b"watched 1\n"
        _feed(tls_server, "watched 2\n")
        assert watch.stdout.readline() == b"watched 2\n"
    finally:
        end_process(watch)  # SIGTERM, then SIGKILL if it lingers; its pipes closed


@pytest.mark.parametrize("case", ["missing", "garbage", "mismatched"])
def test_bad_certificate_or_key_exits_2_with_one_line(
    cert: Cert, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    key = str(cert.key)
    certificate = str(cert.cert)
    if case == "missing":
        certificate = str(tmp_path / "nope.pem")
    elif case == "garbage":
        certificate = str(tmp_path / "garbage.pem")
        Path(certificate).write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    else:
        key = str(make_cert(tmp_path).key)  # another pair's key
    status = main(["--port", "0", "--tls-cert", certificate, "--tls-key", key, "-"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("tailcast: --tls-cert"), err


def test_serving_line_waits_for_tls(cert: Cert) -> None:
    """The serving line is printed once the TLS listener accepts handshakes."""
    with run_tailcast(
        "--port", "0", "--tls-cert", str(cert.cert), "--tls-key", str(cert.key), "-"
    ) as proc:
        context = _client_ssl(cert)
        host, port = proc.url.split("//", 1)[1].rstrip("/").rsplit(":", 1)

        def handshake() -> bool:
            with (
                socket.create_connection((host, int(port)), timeout=5) as sock,
                context.wrap_socket(sock, server_hostname=host) as tls,
            ):
                return tls.version() is not None

        assert poll(handshake, timeout=1)
