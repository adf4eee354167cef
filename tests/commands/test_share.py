"""``tailcast share``: a real server subprocess and ``python -m tailcast share ...``.

The link it prints works (its fragment's token reads the shared stream and
nothing else), bad arguments exit 2 with one line naming them, a wrong owner
token exits 3, a refused share exits 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tailcast.commands.share import parse_duration, share_url
from tailcast.errors import ConfigError
from tests.helpers import DEADLINE, run_tailcast, tailcast_cmd

TOKEN = "owner-token-for-the-share-command"


def share(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TAILCAST_TOKEN"}
    if token is not None:
        env["TAILCAST_TOKEN"] = token
    return subprocess.run(
        tailcast_cmd("share", *args),
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=DEADLINE,
    )


def get(url: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_printed_link_reads_the_shared_stream_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("alpha\n")
    b.write_text("beta\n")
    with run_tailcast(
        "--port", "0", "--base-path", "/logs/", f"a={a}", f"b={b}",
        env={"TAILCAST_TOKEN": TOKEN},
    ) as server:  # fmt: skip
        done = share("--url", server.url.rstrip("/"), "--stream", "a", "--expires", "2h")
        assert done.returncode == 0, done.stderr
        link = done.stdout.strip()
        assert link.count("\n") == 0
        base, _, fragment = link.partition("#")
        assert base == server.url  # the base path kept, with its slash
        assert fragment.startswith("share=")
        token = fragment[len("share=") :]
        assert token and token != TOKEN
        assert "until" in done.stderr
        code, body = get(server.url + "api/streams", token)
        assert code == 200 and [s["id"] for s in body["streams"]] == ["a"]
        code, _ = get(server.url + "api/streams/b/lines", token)
        assert code == 404
        code, listed = get(server.url + "api/shares", TOKEN)
        assert len(listed["shares"]) == 1
        expires_in = listed["shares"][0]["expires"] - listed["shares"][0]["created"]
        assert expires_in == pytest.approx(7200, abs=1)
        # Several streams, another duration.
        done = share("--url", server.url, "--stream", "a", "--stream", "b", "--expires", "90s")
        assert done.returncode == 0, done.stderr
        # The server refuses: an unknown stream (1), a wrong owner token (3).
        done = share("--url", server.url, "--stream", "nope")
        assert done.returncode == 1 and "unknown stream: nope" in done.stderr
        done = share("--url", server.url, "--stream", "a", token="wrong")
        assert done.returncode == 3 and "TAILCAST_TOKEN" in done.stderr
        assert done.stdout == ""


def test_bad_arguments_exit_2_with_one_line() -> None:
    cases = [
        (("--url", "http://127.0.0.1:9/", "--stream", "a", "--expires", "2x"), "--expires"),
        (("--url", "http://127.0.0.1:9/", "--stream", "a", "--expires", "0s"), "--expires"),
        (("--url", "http://127.0.0.1:9/", "--stream", "a", "--expires", "400d"), "--expires"),
        (("--url", "ftp://127.0.0.1/", "--stream", "a"), "--url"),
        (("--url", "http://127.0.0.1:9/"), "--stream"),
        (("--stream", "a"), "--url"),
    ]
    for args, named in cases:
        done = share(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and named in done.stderr, done.stderr
        assert done.stdout == ""
    done = share("--url", "http://127.0.0.1:9/", "--stream", "a", token=None)
    assert done.returncode == 2 and "TAILCAST_TOKEN" in done.stderr


def test_an_unreachable_server_exits_1() -> None:
    # Port 9 (discard) on loopback: nothing listens there in the test machine.
    done = share("--url", "http://127.0.0.1:9/", "--stream", "a")
    assert done.returncode == 1 and "cannot reach" in done.stderr


def test_durations_and_urls() -> None:
    assert [parse_duration(t) for t in ("90s", "30m", "2h", "1d", "45", "2H")] == [
        90, 1800, 7200, 86400, 45, 7200,
    ]  # fmt: skip
    for bad in ("", "h", "1.5h", "-1h", "1w", "0"):
        with pytest.raises(ConfigError):
            parse_duration(bad)
    assert share_url("127.0.0.1:8080") == "http://127.0.0.1:8080/"
    assert share_url("https://logs.example.com/logs?x=1#y") == "https://logs.example.com/logs/"


def test_list_and_revoke(tmp_path: Path) -> None:
    """``--list`` prints the live shares one a line; ``--revoke ID`` ends one at once."""
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("alpha\n")
    b.write_text("beta\n")
    with run_tailcast("--port", "0", f"a={a}", f"b={b}", env={"TAILCAST_TOKEN": TOKEN}) as server:
        done = share("--url", server.url, "--list")
        assert (done.returncode, done.stdout) == (0, ""), done.stderr
        made = [share("--url", server.url, "--stream", *s) for s in (["a"], ["a", "--stream", "b"])]
        assert [m.returncode for m in made] == [0, 0]
        tokens = [m.stdout.strip().partition("#share=")[2] for m in made]
        ids = [m.stderr.split()[2] for m in made]  # "tailcast share: ID for ..."
        done = share("--url", server.url, "--list")
        assert done.returncode == 0, done.stderr
        rows = [line.split("\t") for line in done.stdout.splitlines()]
        assert sorted((r[0], r[1]) for r in rows) == sorted([(ids[0], "a"), (ids[1], "a,b")])
        assert all(len(r) == 3 and r[2][:2] == "20" for r in rows)
        assert not any(t in done.stdout for t in tokens)  # never a token
        assert get(server.url + "api/streams", tokens[0])[0] == 200
        done = share("--url", server.url, "--revoke", ids[0])
        assert done.returncode == 0 and "revoked" in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1
        assert get(server.url + "api/streams", tokens[0])[0] == 401  # ended at once
        assert get(server.url + "api/streams", tokens[1])[0] == 200
        listed = share("--url", server.url, "--list").stdout.splitlines()
        assert [line.split("\t")[0] for line in listed] == [ids[1]]
        # Again, or an id that never was: exit 1, one line.
        for gone in (ids[0], "no-such-share"):
            done = share("--url", server.url, "--revoke", gone)
            assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
            assert "no live share" in done.stderr
        for args in (("--list",), ("--revoke", ids[1])):
            done = share("--url", server.url, *args, token="wrong")
            assert done.returncode == 3 and "TAILCAST_TOKEN" in done.stderr
        assert get(server.url + "api/streams", tokens[1])[0] == 200  # the wrong token ended nothing


def test_list_and_revoke_bad_arguments_exit_2_with_one_line() -> None:
    url = "http://127.0.0.1:9/"
    cases = [
        (("--url", url, "--list", "--revoke", "x"), "--list"),
        (("--url", url, "--list", "--stream", "a"), "--stream"),
        (("--url", url, "--revoke", "x", "--stream", "a"), "--revoke"),
        (("--url", url, "--revoke", " "), "--revoke"),
        (("--list",), "--url"),
    ]
    for args, named in cases:
        done = share(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and named in done.stderr, done.stderr
    done = share("--url", url, "--list", token=None)
    assert done.returncode == 2 and "TAILCAST_TOKEN" in done.stderr
    done = share("--url", url, "--list")
    assert done.returncode == 1 and "cannot reach" in done.stderr
