"""Authentication at its edges, from the outside: the token file, near-miss
tokens, every method, the subprotocol without ``tailcast.v1``, nothing
readable before credentials.

The basics (every route needs the token, cookie attributes, throttled logins,
the 4001 close) are in tests/web/test_auth.py and tests/web/test_ws.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from tailcast.cli import main
from tailcast.config import build_config
from tests.helpers import run_tailcast, ws_connect
from tests.security.conftest import BEARER, TOKEN
from tests.web.conftest import Serve, publish

# -- the token file ----------------------------------------------------------------


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""], ids=["lf", "crlf", "none"])
def test_token_file_is_read_once_without_its_line_ending(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + ending, newline="")
    config = build_config({"token_file": str(path)}, ["-"], environ={})
    assert config.token == TOKEN
    # Read once: changing the file later changes nothing in this config.
    path.write_text("other\n")
    assert config.token == TOKEN


def test_token_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    config = build_config({}, ["-"], environ={"TAILCAST_TOKEN_FILE": str(path)})
    assert config.token == TOKEN


@pytest.mark.parametrize(
    ("content", "extra", "says"),
    [
        (None, [], "cannot read it"),
        (b"", [], "empty"),
        (b"\n", [], "empty"),
        (b"  \n", [], "empty"),
        (b"one\ntwo\n", [], "single line"),
        (b"\xff\xfe\n", [], "UTF-8"),
        (TOKEN.encode(), ["--token", "x"], "only one"),
    ],
    ids=["missing", "empty", "newline", "blank", "two-lines", "binary", "both"],
)
def test_bad_token_file_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    extra: list[str],
    says: str,
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content)
    status = main(["--port", "0", "--token-file", str(path), *extra, "-"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1, err
    assert err.startswith("tailcast: --token") and says in err, err
    assert TOKEN not in err  # an error message never shows the secret


async def test_token_file_guards_a_real_server(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    with run_tailcast("--port", "0", "--token-file", str(path), "-") as proc:
        async with aiohttp.ClientSession() as session:
            async with session.get(proc.url + "api/streams") as response:
                assert response.status == 401
            # The file's newline is not part of the token.
            async with session.get(proc.url + "api/streams", headers=BEARER) as response:
                assert response.status == 200
    assert not any(TOKEN in line for line in proc.stderr_lines)


# -- near misses -------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN[:-1]}",  # a prefix
        f"Bearer {TOKEN}x",  # longer
        f"Bearer {TOKEN.upper()}",  # case matters in the token
        f"Bearer{TOKEN}",  # no space
        f"Token {TOKEN}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer ",
        "Bearer \u00e9\u00e9\u00e9",  # not ASCII: a 401, never a 500
        f"Bearer {TOKEN}, Bearer {TOKEN}",
    ],
)
async def test_near_miss_tokens_are_401(
    serve: Serve, session: aiohttp.ClientSession, header: str
) -> None:
    h = await serve(token=TOKEN)
    async with session.get(
        h.url + "api/streams", headers={"Authorization": header.encode().decode("latin-1")}
    ) as response:
        assert response.status == 401, header
        assert (await response.json()) == {"error": "not authenticated"}


async def test_bearer_scheme_is_case_insensitive(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    for scheme in ("bearer", "BEARER", "Bearer"):
        headers = {"Authorization": f"{scheme} {TOKEN}"}
        async with session.get(h.url + "api/streams", headers=headers) as response:
            assert response.status == 200, scheme


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_no_method_reveals_anything_without_the_token(
    serve: Serve, session: aiohttp.ClientSession, method: str
) -> None:
    h = await serve(token=TOKEN, allow_control=True)
    publish(h.hub, h.hub.streams["app"], 3)
    for path in ("api/streams", "api/streams/app/lines", "metrics", "api/streams/other/stop"):
        async with session.request(method, h.url + path) as response:
            assert response.status == 401, (method, path)
            body = await response.read()
            assert b"line 0" not in body and b"tailcast_" not in body
    # Nothing was stopped or restarted.
    assert h.hub.streams["other"].state != "exited"


async def test_unauthenticated_body_is_refused_before_it_is_read(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN, allow_control=True)
    async with session.post(h.url + "api/streams/other/restart", data=b"x" * 32 * 1024) as resp:
        assert resp.status == 401


async def test_subprotocol_token_alone_selects_nothing_and_echoes_nothing(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """A client that offers only ``bearer.TOKEN``: served (a client offering no
    known subprotocol is), but the token is never selected or echoed."""
    h = await serve(token=TOKEN)
    ws = await session.ws_connect(h.ws_url, protocols=(f"bearer.{TOKEN}",))
    try:
        assert ws.protocol is None
        assert "Sec-WebSocket-Protocol" not in ws._response.headers
        assert TOKEN not in json.dumps(dict(ws._response.headers))
        hello = json.loads((await ws.receive(timeout=10)).data)
        assert hello["type"] == "hello"
    finally:
        await ws.close()


async def test_unauthenticated_websocket_gets_4001_and_no_data_whatever_it_asks(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """However it subscribes (none, ``*``, a tail, an unknown id), an unauthenticated socket
    gets no frame at all: the close comes first. A wrong ``Authorization``
    header is answered the same way (4001, not a 401 before the upgrade), so
    that ``tailcast watch`` and the viewer see one answer they can act on."""
    h = await serve(token=TOKEN)
    publish(h.hub, h.hub.streams["app"], 5)
    for query in ("", "?streams=*", "?streams=app&tail=5", "?streams=nope"):
        client = await ws_connect(
            session, h.ws_url + query, headers={"Authorization": "Bearer nope"}
        )
        assert await client.wait_closed() == 4001, query
        assert client.frames == []
    # They never were clients: no --max-clients slot taken, not even briefly.
    assert h.registry.statistics()["connects"] == 0


async def test_unauthenticated_sockets_take_no_client_slot(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """Sockets that never answer their 4001 close cannot lock out the owner."""
    h = await serve(token=TOKEN, max_clients=1)
    silent = []
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", h.server.port)
        writer.write(UPGRADE)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        assert status.startswith(b"HTTP/1.1 101"), status
        silent.append(writer)  # never reads the close, never answers it
    try:
        client = await ws_connect(session, h.ws_url + "?streams=app", headers=BEARER)
        assert (await client.recv())["type"] == "hello"
        await client.ws.close()
    finally:
        for writer in silent:
            writer.close()


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_sessions_do_not_outlive_the_server(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """A session id from one server means nothing to another with the same token."""
    first = await serve(token=TOKEN)
    async with session.post(first.url + "api/login", json={"token": TOKEN}) as response:
        assert response.status == 204
        cookie = {"Cookie": f"tailcast_session={response.cookies['tailcast_session'].value}"}
    second = await serve(token=TOKEN)
    async with session.get(first.url + "api/streams", headers=cookie) as response:
        assert response.status == 200
    async with session.get(second.url + "api/streams", headers=cookie) as response:
        assert response.status == 401


async def test_login_answers_never_contain_the_token(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    for body in ({"token": TOKEN}, {"token": TOKEN + "x"}):
        async with session.post(h.url + "api/login", json=body) as response:
            raw = await response.read()
            assert TOKEN.encode() not in raw
            assert TOKEN not in json.dumps(dict(response.headers))
