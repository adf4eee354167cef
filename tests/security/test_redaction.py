"""Redaction from the outside: a real server with ``--redact-secrets`` and ``--redact``.

A secret written to a followed file and printed by a command, before the
server starts and while it runs, is nowhere to be found afterwards: not in
the history files of ``--data-dir``, not in ``/api/streams/ID/lines`` (JSON
and text), not in a WebSocket frame, not on the server's standard error
(with ``-v``).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import DEADLINE, run_tailcast, tailcast_cmd

SECRETS = [
    "s3cr3t-P4ssw0rd",  # in a URL
    "dXNlcjpwYXNzd29yZA==",  # Authorization: Basic
    "8f14e45fceea167a5a36dedd4bea2543",  # bearer
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",  # JWT
    "AKIAIOSFODNN7EXAMPLE",  # AWS access key
    "hunter2-xyz",  # password=
    "MIIEowIBAAKCAQEAq7BFUpkGp3+XQUjbDbXnFxqPdTnGnIGmGxqV3",  # private-key body
    "CUSTOM-314159",  # --redact
]


def secret_lines(tag: str) -> list[str]:
    return [
        f"{tag} connect postgres://app:{SECRETS[0]}@db:5432/shop",
        f"{tag} Authorization: Basic {SECRETS[1]}",
        f"{tag} call with Bearer {SECRETS[2]} done",
        f"{tag} session {SECRETS[3]}",
        f"{tag} key {SECRETS[4]} used",
        f"{tag} login password={SECRETS[5]} user=bob",
        f"{tag} -----BEGIN RSA PRIVATE KEY-----",
        SECRETS[6],
        "-----END RSA PRIVATE KEY-----",
        f"{tag} order {SECRETS[7]} shipped",
        f"{tag} an ordinary line",
    ]


def assert_clean(where: str, data: str | bytes) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} found in {where}"


async def test_a_redacted_secret_is_nowhere_after_it_was_logged(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("\n".join(secret_lines("file-before")) + "\n")
    data = tmp_path / "data"
    printed = tmp_path / "printed.txt"  # what the command prints (its argv holds no secret)
    printed.write_text("\n".join(secret_lines("cmd")) + "\n")
    cmd = shlex.join(["cat", str(printed)])
    args = ("--port", "0", "--data-dir", str(data), "--redact-secrets", "--redact", r"CUSTOM-\d+")
    with run_tailcast(*args, "-v", f"app={log}", f"job=cmd:{cmd}") as proc:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(proc.ws_url + "?streams=*&tail=1000")
            with log.open("a") as fh:  # live lines, after the client is there
                fh.write("\n".join(secret_lines("file-live")) + "\n")
            frames: list[str] = []
            counts = {"app": 0, "job": 0}

            async def read_frames() -> None:
                while counts["app"] < 22 or counts["job"] < 11:
                    msg = await ws.receive()
                    assert msg.type == aiohttp.WSMsgType.TEXT, msg
                    frames.append(msg.data)
                    frame = json.loads(msg.data)
                    if frame["type"] == "lines":
                        counts[frame["stream"]] += len(frame["lines"])

            await asyncio.wait_for(read_frames(), DEADLINE)
            await ws.close()
            for frame in frames:
                assert_clean("a WebSocket frame", frame)
            async with session.get(proc.url + "api/streams/app/lines?limit=1000") as resp:
                body = await resp.text()
            assert_clean("/api/streams/app/lines", body)
            got = [line["text"] for line in json.loads(body)["lines"]]
            assert "file-live login password=[REDACTED] user=bob" in got
            assert "file-before order [REDACTED] shipped" in got
            assert got.count("[REDACTED]") == 4  # two key blocks: the body and the END line
            assert "file-live an ordinary line" in got
            for stream in ("app", "job"):
                url = f"{proc.url}api/streams/{stream}/lines?format=text"
                async with session.get(url) as resp:
                    assert_clean(f"the text of {stream}", await resp.text())
        assert proc.stop() == 0
        assert proc.popen.stderr is not None
        assert_clean(
            "standard error", "\n".join(proc.stderr_lines) + proc.popen.stderr.read().decode()
        )
    files = [p for p in data.rglob("*") if p.is_file()]
    assert files, "the data dir holds the history"
    for path in files:
        assert_clean(str(path), path.read_bytes())


def test_a_bad_redact_pattern_exits_2_with_one_line() -> None:
    result = subprocess.run(
        tailcast_cmd("--port", "0", "--redact", "(unclosed", "-"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tailcast: --redact '(unclosed': not a valid RE2 pattern")


# A writer that stops in the middle of a secret for longer than --flush-delay.
# (written before the pause, after it, what is shown during the pause)
PAUSED = [
    (
        "2026-12-01 app: login user=bob pass",
        "word=hunter2-xyz ok",
        "2026-12-01 app: login user=bob pass",
    ),
    (
        "2026-12-01 app: login user=bob password=",
        "hunter2-xyz ok",
        "2026-12-01 app: login user=bob ",
    ),
    (
        "2026-12-01 app: login user=bob password=hunt",
        "er2-xyz ok",
        "2026-12-01 app: login user=bob ",
    ),
    (
        "2026-12-01 app: fetch https://deploy:s3cr3t",
        "-P4ssw0rd@git.example.com/r.git ok",
        "2026-12-01 app: fetch ",
    ),
]
WRITER = """\
import os, sys, time
for n, (head, rest, _) in enumerate(%r):
    sys.stdout.write(head); sys.stdout.flush()
    while not os.path.exists(%r + str(n)):  # the test says when the partial line was seen
        time.sleep(0.01)
    sys.stdout.write(rest + "\\n"); sys.stdout.flush()
while not os.path.exists(%r + "end"):
    time.sleep(0.01)
"""


def _touch(path: str) -> None:
    Path(path).touch()


def _joined(lines: list[dict[str, object]]) -> list[str]:
    """Whole lines from LINE pieces (``cont`` pieces appended to the one before)."""
    out: list[str] = []
    for line in lines:
        if line.get("cont") and out:
            out[-1] += str(line["text"])
        else:
            out.append(str(line["text"]))
    return out


async def _lines(session: aiohttp.ClientSession, url: str) -> list[dict[str, object]]:
    async with session.get(url) as resp:
        assert resp.status == 200
        lines: list[dict[str, object]] = (await resp.json())["lines"]
        return lines


async def test_a_secret_cut_by_a_writer_pausing_mid_line_is_redacted(tmp_path: Path) -> None:
    """A real process and a real file, each pausing inside a secret: never shown, whole or part."""
    go = str(tmp_path / "go-")
    script = tmp_path / "writer.py"
    script.write_text(WRITER % (PAUSED, go, go))
    log = tmp_path / "app.log"
    log.write_text("")
    data = tmp_path / "data"
    cmd = shlex.join([sys.executable, str(script)])
    args = ("--port", "0", "--data-dir", str(data), "--redact-secrets", "--flush-delay", "0.05")
    with run_tailcast(*args, f"app={log}", f"job=cmd:{cmd}") as proc:
        async with aiohttp.ClientSession() as session:
            for n, (head, rest, partial) in enumerate(PAUSED):
                with log.open("a") as fh:
                    fh.write(head)
                for stream in ("app", "job"):
                    url = f"{proc.url}api/streams/{stream}/lines?limit=1000"

                    async def shown(url: str = url, n: int = n, partial: str = partial) -> bool:
                        # The partial line is out, all of it that ever is before its rest.
                        got = _joined(await _lines(session, url))
                        return len(got) == n + 1 and got[-1] == partial

                    await _apoll_async(shown)
                _touch(go + str(n))  # the writer goes on
                with log.open("a") as fh:
                    fh.write(rest + "\n")
            for stream in ("app", "job"):
                url = f"{proc.url}api/streams/{stream}/lines?limit=1000"

                async def done(url: str = url) -> list[str] | None:
                    got = _joined(await _lines(session, url))
                    return got if len(got) == len(PAUSED) and got[-1].endswith(" ok") else None

                got = await _apoll_async(done)
                assert got == [
                    "2026-12-01 app: login user=bob password=[REDACTED] ok",
                    "2026-12-01 app: login user=bob password=[REDACTED] ok",
                    "2026-12-01 app: login user=bob password=[REDACTED] ok",
                    "2026-12-01 app: fetch https://deploy:[REDACTED]@git.example.com/r.git ok",
                ], stream
                for line in await _lines(session, url):
                    for piece in ("hunter2", "hunt", "er2-xyz", "s3cr3t", "P4ss"):
                        assert piece not in str(line["text"]), (stream, line)
        _touch(go + "end")
        assert proc.stop() == 0
    for path in (p for p in data.rglob("*") if p.is_file()):
        assert_clean(str(path), path.read_bytes())


async def _apoll_async(predicate: Any, timeout: float = DEADLINE) -> Any:
    """Await ``predicate()`` until it is truthy; fail after ``timeout`` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)
