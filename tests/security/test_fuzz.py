"""Fuzzing a live server: Hypothesis-made client frames and raw query strings
and paths, against one tailcast subprocess following a real file.

Only documented answers may come back (the frames and close codes of the
contract; ``200``/``400``/``404`` with a JSON error body), and afterwards the
server still serves a well-behaved client everything, with nothing left over.
Bounded: a fixed number of examples, each exchange with a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailcast.web.viewer import static_dir
from tests.helpers import run_tailcast, ws_connect
from tests.security.conftest import raw_request, status_of

MAX_FRAME = 4096
FUZZ = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SERVER_FRAMES = {"hello", "lines", "gap", "status", "streams", "error"}
CLOSE_CODES = {1000, 1001, 1008, 1009, 4001, 4004}
EXCHANGE_DEADLINE = 10.0


@dataclass
class Live:
    url: str
    port: int
    log: Path
    stderr: list[str]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "ws"

    def append(self, *lines: str) -> None:
        with self.log.open("a") as fh:
            fh.write("".join(line + "\n" for line in lines))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    log = tmp_path_factory.mktemp("fuzz") / "log"
    log.write_text("".join(f"old {i}\n" for i in range(50)))
    with run_tailcast(
        "--port", "0", "--max-frame", str(MAX_FRAME), "--max-subscriptions", "3", f"log={log}"
    ) as proc:
        # Read the server's standard error as it comes: every unhandled
        # exception is logged there, and an unread pipe would block the server.
        stderr: list[str] = []
        assert proc.popen.stderr is not None
        pipe = proc.popen.stderr
        reader = threading.Thread(
            target=lambda: stderr.extend(line.decode(errors="replace") for line in pipe),
            daemon=True,
        )
        reader.start()
        port = int(proc.url.rsplit(":", 1)[1].split("/", 1)[0])
        yield Live(proc.url, port, log, stderr)
        assert proc.popen.poll() is None, "the server died under fuzzing"
        proc.stop()
        reader.join(10)
        _no_errors_logged(stderr)


def _no_errors_logged(stderr: list[str]) -> None:
    """Nothing the fuzzing sent made the server log an error or a traceback."""
    bad = [line for line in stderr if "Traceback" in line or " ERROR " in line]
    assert not bad, "".join(stderr[-40:])


# -- client frames -----------------------------------------------------------------

IDS = st.one_of(
    st.sampled_from(["log", "*", "nope", "LOG", "", "log ", "../log", "log\x00"]),
    st.text(max_size=12),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
NUMBERISH = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.none(),
    st.booleans(),
)
SHAPED = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "hello", "lines", ""]) | st.text()},
    optional={
        "streams": st.lists(IDS, max_size=6) | ANY_JSON,
        "tail": NUMBERISH,
        "since": st.dictionaries(IDS, NUMBERISH, max_size=4) | ANY_JSON,
    },
)
FRAME = st.one_of(
    SHAPED.map(json.dumps),
    ANY_JSON.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(MAX_FRAME - 8, MAX_FRAME + 64).map(lambda n: '{"type":"' + "x" * n + '"}'),
    st.integers(1, 3000).map(lambda n: "[" * n),
)

_PROBES = itertools.count()


def _check_frame(frame: Any, seen: dict[str, int]) -> None:
    """A server frame has a documented type and shape; lines never repeat."""
    assert isinstance(frame, dict) and frame.get("type") in SERVER_FRAMES, frame
    kind = frame["type"]
    if kind == "error":
        assert isinstance(frame["message"], str)
    elif kind == "lines":
        stream = frame["stream"]
        for line in frame["lines"]:
            assert isinstance(line["text"], str)
            assert line["seq"] > seen.get(stream, 0), (stream, line["seq"], seen)
            seen[stream] = line["seq"]
    elif kind == "gap":
        assert frame["from"] <= frame["to"]
        seen[frame["stream"]] = max(seen.get(frame["stream"], 0), frame["to"])


async def _exchange(live: Live, frames: list[str | bytes]) -> None:
    """Send the frames, then a probe; read until the probe's error or a close."""
    probe = f"probe-{next(_PROBES)}"
    seen: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(live.ws_url, protocols=("tailcast.v1",), max_msg_size=0)
        try:
            first = await ws.receive(timeout=EXCHANGE_DEADLINE)
            assert json.loads(first.data)["type"] == "hello"
            try:
                for frame in [*frames, json.dumps({"type": probe})]:
                    if isinstance(frame, bytes):
                        await ws.send_bytes(frame)
                    else:
                        await ws.send_str(frame)
            except ConnectionError:
                pass  # the server closed; its close code is checked below
            while True:
                msg = await ws.receive(timeout=EXCHANGE_DEADLINE)
                if msg.type == aiohttp.WSMsgType.TEXT:
                    frame_in = json.loads(msg.data)
                    _check_frame(frame_in, seen)
                    if frame_in["type"] == "error" and probe in frame_in["message"]:
                        return
                    continue
                assert msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ), msg
                assert ws.close_code in CLOSE_CODES, ws.close_code
                return
        finally:
            await ws.close()


async def _well_behaved(live: Live) -> None:
    """After the fuzzing: a plain client gets every new line, and the server
    holds no client, queue or task of the fuzzing's."""
    async with aiohttp.ClientSession() as session:
        client = await ws_connect(session, live.ws_url + "?streams=log&tail=0")
        hello = await client.recv_type("hello")
        start = next(s for s in hello["streams"] if s["id"] == "log")["last_seq"]
        texts = [f"after fuzz {i}" for i in range(20)]
        live.append(*texts)
        lines = await client.wait_lines("log", 20)
        assert [line["text"] for line in lines] == texts
        assert [line["seq"] for line in lines] == list(range(start + 1, start + 21))
        await client.ws.close()

        async def metrics() -> dict[str, float]:
            async with session.get(live.url + "metrics") as response:
                text = await response.text()
            return {
                m.group(1): float(m.group(2))
                for m in re.finditer(r"^(tailcast_\w+) (\S+)$", text, re.M)
            }

        values: dict[str, float] = {}

        async def settled() -> bool:
            values.update(await metrics())
            return values["tailcast_clients"] == 0 and values["tailcast_queue_bytes"] == 0

        deadline = asyncio.get_running_loop().time() + 15
        while not await settled():
            assert asyncio.get_running_loop().time() < deadline, values
            await asyncio.sleep(0.05)
    _no_errors_logged(live.stderr)


def test_random_client_frames_get_only_documented_answers(live: Live) -> None:
    @FUZZ
    @given(st.lists(FRAME, min_size=1, max_size=5))
    def exchange(frames: list[str | bytes]) -> None:
        asyncio.run(asyncio.wait_for(_exchange(live, frames), 3 * EXCHANGE_DEADLINE))

    exchange()
    asyncio.run(_well_behaved(live))


# -- query strings and paths -------------------------------------------------------

QUERY_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%"
QUERY = st.one_of(
    # key=value pairs from the documented names, values of every kind
    st.lists(
        st.tuples(
            st.sampled_from(["streams", "tail", "since", "limit", "format", "x", ""])
            | st.text(max_size=5),
            st.one_of(
                st.integers(-(2**70), 2**70).map(str),
                st.sampled_from(["", "*", "log", "log,log", "json", "text", "1e3", "0x10"]),
                st.text(max_size=30),
            ),
        ),
        max_size=5,
    ).map(lambda pairs: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)),
    # raw bytes as they may arrive, bad %-escapes included
    st.text(alphabet=QUERY_CHARS, max_size=80),
)


async def _get(live: Live, target: str, extra: bytes = b"") -> tuple[int, bytes, bytes]:
    response = await raw_request(
        live.port,
        b"GET "
        + target.encode()
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + extra
        + b"Connection: close\r\n\r\n",
        timeout=EXCHANGE_DEADLINE,
    )
    head, _, body = response.partition(b"\r\n\r\n")
    return status_of(response), head.lower(), body


def _json_error(body: bytes) -> None:
    error = json.loads(body)
    assert isinstance(error, dict) and isinstance(error["error"], str), body


UPGRADE = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def test_random_query_strings_get_only_documented_answers(live: Live) -> None:
    @FUZZ
    @given(QUERY, st.sampled_from(["lines", "ws", "ws-upgrade"]))
    def request(query: str, where: str) -> None:
        async def go() -> None:
            if where == "lines":
                status, head, body = await _get(live, f"/api/streams/log/lines?{query}")
                assert status in (200, 400, 404), (status, body)
                if status != 200:
                    _json_error(body)
                elif b"content-type: application/json" in head:
                    assert json.loads(body)["stream"] == "log"
                else:
                    assert b"content-type: text/plain" in head
                    body.decode("utf-8")
            else:
                extra = UPGRADE if where == "ws-upgrade" else b""
                status, _, body = await _get(live, f"/ws?{query}", extra)
                allowed = (101, 400) if where == "ws-upgrade" else (400,)
                assert status in allowed, (status, body)
                if status == 400:
                    _json_error(body)

        asyncio.run(go())

    request()
    asyncio.run(_well_behaved(live))


def _static_files() -> dict[bytes, str]:
    root = static_dir()
    return {p.read_bytes(): str(p) for p in root.rglob("*") if p.is_file()}


PATH = st.lists(
    st.one_of(
        st.sampled_from(
            ["..", ".", "%2e%2e", "%2E%2E", "..%2f", "%2e%2e%2f", "..%5c", "%252e%252e", "app.js"]
        ),
        st.sampled_from(["etc", "passwd", "index.html", "%00", "\\..\\", "..;", "~"]),
        st.text(alphabet=QUERY_CHARS.replace("?", "").replace("%", ""), max_size=10),
        st.integers(200, 300).map(lambda n: "a" * n),  # longer than a file name may be
    ),
    min_size=1,
    max_size=8,
).map("/".join)


@pytest.mark.parametrize(
    "path", ["%00", "app.js%00", "%00/../../etc/passwd", "a" * 300, ("a" * 100 + "/") * 50]
)
def test_odd_static_names_are_404(live: Live, path: str) -> None:
    """Found by the fuzzing below: a NUL byte and an over-long name were 500s."""
    status, head, body = asyncio.run(_get(live, f"/static/{path}"))
    assert status == 404 and b"application/json" in head, (status, body)
    _json_error(body)


def test_random_static_paths_never_leave_the_viewer_folder(live: Live) -> None:
    files = _static_files()

    @FUZZ
    @given(PATH)
    def request(path: str) -> None:
        async def go() -> None:
            status, _, body = await _get(live, f"/static/{path}")
            assert status in (200, 400, 404), (status, body[:200])
            if status == 200:
                assert body in files, path  # byte for byte one of the viewer's own files
            else:
                _json_error(body)
            assert b"root:" not in body

        asyncio.run(go())

    request()
