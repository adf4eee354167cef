"""The lingering close: a client that sends a frame over ``--max-frame`` and
keeps sending reads close code 1009, never 1006.

The server closes after an oversize frame while the client is still writing;
were the socket dropped at once, those bytes would meet a TCP reset, and a
client writing at that moment loses the unread close frame (this was seen in
``tests/security/test_fuzz.py``). The race needs the server in another
process (one event loop for both would serialise them), so each case is
repeated enough times that a reset, if it can happen, does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator

import aiohttp
import pytest

from tests.helpers import Proc, run_tailcast

MAX_FRAME = 4096
ROUNDS = 50
OVERSIZE = [MAX_FRAME + 10, 20 * MAX_FRAME]  # just over, and far over (still arriving)
PROBE = b'{"type":"probe"}'


@pytest.fixture(scope="module")
def server() -> Iterator[Proc]:
    with run_tailcast(
        "--port", "0", "--max-frame", str(MAX_FRAME), "-", stdin=subprocess.PIPE
    ) as p:
        yield p
        assert p.popen.poll() is None, "the server died"


def _port(proc: Proc) -> int:
    return int(proc.url.rsplit(":", 1)[1].split("/", 1)[0])


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (RFC 6455 section 5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 2**16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: ``(opcode, payload)``."""
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(n)


async def _raw_upgrade(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Upgrade by hand (no credentials)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /ws HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: tailcast.v1\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def _raw_open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Upgrade by hand and read the hello."""
    reader, writer = await _raw_upgrade(port)
    opcode, payload = await _server_frame(reader)
    assert opcode == 0x1 and json.loads(payload)["type"] == "hello"
    return reader, writer


async def _raw_close_code(
    port: int, size: int, follow: int, one_write: bool, *, hello: bool = True
) -> int | None:
    """Oversize frame, then ``follow`` frames; the close code read (``None``: none read)."""
    reader, writer = await (_raw_open(port) if hello else _raw_upgrade(port))
    try:
        oversize = client_frame(b'{"type":"' + b"x" * size + b'"}')
        probes = [client_frame(PROBE) for _ in range(follow)]
        try:
            if one_write:
                writer.write(oversize + b"".join(probes))
            else:
                writer.write(oversize)
                for probe in probes:
                    await writer.drain()
                    writer.write(probe)
            await writer.drain()
        except ConnectionError:
            pass  # the server may be gone already: what matters is what was read
        while True:
            try:
                opcode, payload = await _server_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big")
    finally:
        writer.close()


async def _aiohttp_close_code(url: str, size: int, follow: int) -> int | None:
    """The same from aiohttp's client, one send per frame (as the fuzzing does)."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("tailcast.v1",), max_msg_size=0) as ws,
    ):
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "hello"
        try:
            await ws.send_str('{"type":"' + "x" * size + '"}')
            for _ in range(follow):
                await ws.send_bytes(PROBE)
        except ConnectionError:
            pass
        while (await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
            pass
        return ws.close_code


@pytest.mark.parametrize("size", OVERSIZE)
@pytest.mark.parametrize("follow", [1, 5, 50])
def test_aiohttp_client_reads_1009(server: Proc, size: int, follow: int) -> None:
    async def rounds() -> Counter[int | None]:
        return Counter(
            [await _aiohttp_close_code(server.ws_url, size, follow) for _ in range(ROUNDS)]
        )

    assert asyncio.run(rounds()) == {1009: ROUNDS}


@pytest.mark.parametrize("size", OVERSIZE)
@pytest.mark.parametrize("follow", [1, 5, 50])
@pytest.mark.parametrize("one_write", [True, False], ids=["one-write", "write-each"])
def test_raw_client_reads_1009(server: Proc, size: int, follow: int, one_write: bool) -> None:
    port = _port(server)

    async def rounds() -> Counter[int | None]:
        return Counter(
            [await _raw_close_code(port, size, follow, one_write) for _ in range(ROUNDS)]
        )

    assert asyncio.run(rounds()) == {1009: ROUNDS}


def test_unauthenticated_client_sending_too_much_reads_4001() -> None:
    """The refusal (4001, no hello) of a client that sends a frame too large for it."""
    args = ("--port", "0", "--token", "s3cret", "-")
    with run_tailcast(*args, stdin=subprocess.PIPE) as proc:
        port = _port(proc)

        async def rounds() -> Counter[int | None]:
            return Counter(
                [await _raw_close_code(port, 8192, 50, False, hello=False) for _ in range(ROUNDS)]
            )

        assert asyncio.run(rounds()) == {4001: ROUNDS}
