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
from pathlib import Path

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
