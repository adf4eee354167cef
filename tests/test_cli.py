"""The command line: exit status 2 with one clear line, the serving line, precedence."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tailcast.cli import main
from tests.helpers import run_tailcast, tailcast_cmd


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = main(argv)
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err.splitlines()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tailcast_cmd(*args),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
    )


# -- failures: status 2, one line naming the culprit ----------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--bogus", "-"], "--bogus"),
        (["--restart", "sometimes", "-"], "--restart"),
        (["--port", "http", "-"], "--port"),
        (["--port", "99999", "-"], "--port"),
        (["--history", "0", "-"], "--history"),
        (["--max-line", "1", "-"], "--max-line"),
        (["--allow-origin", "evil", "-"], "--allow-origin"),
        (["--tls-cert", "/c.pem", "-"], "--tls-cert"),
        (["--redis", "redis://127.0.0.1:1/", "-"], "--redis"),
        ([], "SOURCE"),
        (["cmd:"], "'cmd:'"),
        (["cmd:echo 'unclosed"], "cmd:echo 'unclosed"),
        (["docker:"], "'docker:'"),
        (["-", "again=-"], "standard input"),
        (["serve", "--port", "x", "-"], "--port"),
        (["run", "--bogus"], "--bogus"),
        (["watch"], "URL"),
        (["watch", "ftp://example.com/"], "ftp://example.com/"),
        (["watch", "http://127.0.0.1:1/", "--tail", "-3"], "--tail"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run_main(args, capsys)
    assert status == 2
    assert len(err) == 1, err
    assert err[0].startswith("tailcast")
    assert named in err[0]


def test_bad_config_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for text, named in (
        ("port = [", "not valid TOML"),
        ("colour = 1", "'colour'"),
        ("[[source]]\ncmd = 5", "[[source]] #1"),
    ):
        conf = tmp_path / "bad.toml"
        conf.write_text(text)
        status, err = run_main(["--config", str(conf), "-"], capsys)
        assert status == 2
        assert len(err) == 1, err
        assert str(conf) in err[0]
        assert named in err[0]
    status, err = run_main(["--config", str(tmp_path / "missing.toml"), "-"], capsys)
    assert (status, len(err)) == (2, 1)
    assert "missing.toml" in err[0]


@pytest.mark.parametrize("command", [[], ["agent"]], ids=["serve", "agent"])
def test_without_redis_py_redis_is_a_config_error(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules: "import redis.asyncio" fails as if it were not installed.
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    status, err = run_main([*command, "--redis", "redis://127.0.0.1:1/", "-"], capsys)
    assert status == 2
    assert len(err) == 1, err
    assert err[0].startswith("tailcast: --redis")
    assert "pip install 'tailcast[redis]'" in err[0]


def test_any_other_import_error_is_a_bug_and_propagates(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As a typo in an import deep in a command would: not "not available in this build".
    monkeypatch.setitem(sys.modules, "tailcast.commands.serve", None)
    with pytest.raises(ImportError, match=r"tailcast\.commands\.serve"):
        main(["-"])
    monkeypatch.setitem(sys.modules, "tailcast.commands.run", None)
    with pytest.raises(ImportError, match=r"tailcast\.commands\.run"):
        main(["run", "--", "true"])
    assert "not available" not in capsys.readouterr().err


def test_failures_as_a_real_process() -> None:
    for args, named in (
        (("--bogus", "-"), "--bogus"),
        (("cmd:",), "cmd:"),
        (("--config", "/nonexistent/tailcast.toml", "-"), "/nonexistent/tailcast.toml"),
    ):
        result = run_cli(*args)
        assert result.returncode == 2, result
        lines = result.stderr.splitlines()
        assert len(lines) == 1, lines
        assert named in lines[0]
        assert result.stdout == ""


def test_busy_port_exits_2_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), "-")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "--port" in lines[0]
    assert str(port) in lines[0]


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for form in ("cmd:COMMAND", "docker:NAME_OR_ID", "--allow-origin", "--history"):
        assert form in out
    assert main(["--version"]) == 0
    assert re.match(r"tailcast \d+\.\d+", capsys.readouterr().out)


# -- success: the serving line, and precedence through main() --------------------------------

SERVING = re.compile(r"tailcast: serving 1 stream on http://127\.0\.0\.1:(\d+)(/\S*)")


def test_port_0_prints_the_serving_line_first() -> None:
    with run_tailcast("-", "--port", "0", stdin=subprocess.PIPE) as proc:
        m = SERVING.fullmatch(proc.stderr_lines[0])
        assert m, proc.stderr_lines[0]
        assert m.group(2) == "/"
        assert int(m.group(1)) > 0
        with urllib.request.urlopen(proc.url + "healthz", timeout=10) as response:
            assert response.status == 200
        assert proc.stop() == 0


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [
        (["--base-path", "/cli/"], {"TAILCAST_BASE_PATH": "/env/"}, "/cli/"),
        ([], {"TAILCAST_BASE_PATH": "/env/"}, "/env/"),
        ([], {}, "/file/"),
    ],
    ids=["cli-wins", "env-over-file", "file"],
)
def test_precedence_through_main(
    tmp_path: Path, cli: list[str], env: dict[str, str], expected: str
) -> None:
    conf = tmp_path / "tailcast.toml"
    # The file also sets the port (0) and names the source.
    conf.write_text('port = 0\nbase_path = "/file/"\n[[source]]\nstdin = true\nname = "in"\n')
    with run_tailcast("serve", "--config", str(conf), *cli, env=env) as proc:
        m = SERVING.fullmatch(proc.stderr_lines[0])
        assert m, proc.stderr_lines[0]
        assert m.group(2) == expected
        with urllib.request.urlopen(proc.url + "api/streams", timeout=10) as response:
            assert b'"id": "in"' in response.read()
