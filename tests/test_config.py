"""Config: SOURCE forms, [[source]] tables, and CLI > TAILCAST_* > --config > defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tailcast.config import Config, SourceSpec, build_config, parse_source
from tailcast.errors import ConfigError
from tailcast.hub import Hub


def write(tmp_path: Path, text: str, name: str = "tailcast.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- SOURCE forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "name", "target", "argv", "named"),
    [
        ("-", "stdin", "stdin", "", (), False),
        ("in=-", "stdin", "in", "", (), True),
        ("/var/log/syslog", "file", "syslog", "/var/log/syslog", (), False),
        ("sys=/var/log/syslog", "file", "sys", "/var/log/syslog", (), True),
        ("/var/log/*.log", "glob", "*.log", "/var/log/*.log", (), False),
        ("logs=/var/log/app-[0-9].log", "glob", "logs", "/var/log/app-[0-9].log", (), True),
        ("cmd:echo 'a b' c", "process", "echo", "", ("echo", "a b", "c"), False),
        (
            "web=cmd:python3 -m http.server",
            "process",
            "web",
            "",
            ("python3", "-m", "http.server"),
            True,
        ),
        ("cmd:A=B env", "process", "A=B", "", ("A=B", "env"), False),
        ("docker:web-1", "docker", "web-1", "web-1", (), False),
        ("docker:*", "docker", "*", "*", (), False),
        ("docker:label=app=shop", "docker", "label=app=shop", "label=app=shop", (), False),
        ("./a=b.log", "file", "a=b.log", "./a=b.log", (), False),
        ("/var/log/x=1.log", "file", "x=1.log", "/var/log/x=1.log", (), False),
        # A NAME= prefix may hold any character but "=" (contract 1.1).
        ("My App=/var/log/app.log", "file", "My App", "/var/log/app.log", (), True),
        ("Build (CI) #1=cmd:make -j4", "process", "Build (CI) #1", "", ("make", "-j4"), True),
        ("Ünïcode logs=-", "stdin", "Ünïcode logs", "", (), True),
        ("web: front=docker:web-1", "docker", "web: front", "web-1", (), True),
    ],
)
def test_source_forms(
    raw: str, kind: str, name: str, target: str, argv: tuple[str, ...], named: bool
) -> None:
    spec = parse_source(raw)
    assert (spec.raw, spec.kind, spec.name, spec.target, spec.argv, spec.named) == (
        raw,
        kind,
        name,
        target,
        argv,
        named,
    )


def test_a_display_name_gets_its_slug_as_id() -> None:
    spec = parse_source("My App=/var/log/app.log")
    assert Hub().add_stream(spec.name, spec.kind).id == "my-app"


def test_home_is_expanded() -> None:
    assert parse_source("~/x.log").target == os.path.expanduser("~/x.log")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("cmd:", "empty command"),
        ("cmd:   ", "empty command"),
        ("cmd:echo 'unclosed", "cannot split"),
        ("docker:", "name a container"),
        ("/tmp/a\0b", "NUL"),
    ],
)
def test_bad_sources_name_themselves(raw: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_source(raw)
    assert fragment in str(info.value)
    assert repr(raw) in str(info.value)


# -- precedence ---------------------------------------------------------------------------


def test_defaults() -> None:
    config = build_config({}, ["-"], environ={})
    assert config == Config(sources=(parse_source("-"),))
    assert (config.host, config.port, config.history, config.token) == (
        "127.0.0.1",
        8080,
        1_000_000,
        None,
    )
    assert (config.history_bytes, config.disk_budget, config.data_dir) == (256 << 20, 2 << 30, None)


def test_cli_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    conf = write(
        tmp_path,
        'host = "0.0.0.0"\nport = 1111\nhistory = 11\nlines = 5\ntoken = "file"\n'
        'allow-origin = ["https://a.example"]\nallow_control = true\n',
    )
    env = {"TAILCAST_PORT": "2222", "TAILCAST_HISTORY": "22", "TAILCAST_TOKEN": "env"}
    cli = {"port": "3333", "token": None, "history": None, "max_line": "128"}
    config = build_config(cli, ["-"], config_file=conf, environ=env)
    assert config.port == 3333  # CLI
    assert config.history == 22  # env over file
    assert config.token == "env"  # env; an unset CLI option (None) does not override
    assert config.lines == 5  # file
    assert config.host == "0.0.0.0"  # file
    assert config.allow_origin == ("https://a.example",)
    assert config.allow_control is True
    assert config.max_line == 128  # CLI
    assert config.max_clients == 1000  # default
    assert build_config({}, ["-"], config_file=conf, environ={}).port == 1111


def test_env_values_are_parsed_and_checked() -> None:
    env = {
        "TAILCAST_ALLOW_CONTROL": "yes",
        "TAILCAST_POLL": "0",
        "TAILCAST_ALLOW_ORIGIN": "https://a.example, http://b.example:8080/",
        "TAILCAST_FLUSH_DELAY": "0.5",
        "DOCKER_HOST": "tcp://10.0.0.1:2375",
    }
    config = build_config({}, ["-"], environ=env)
    assert config.allow_control is True
    assert config.poll is False
    assert config.allow_origin == ("https://a.example", "http://b.example:8080")
    assert config.flush_delay == 0.5
    assert config.docker_host == "tcp://10.0.0.1:2375"
    env["TAILCAST_DOCKER_HOST"] = "unix:///run/docker.sock"
    assert build_config({}, ["-"], environ=env).docker_host == "unix:///run/docker.sock"


@pytest.mark.parametrize(
    ("env", "cli", "fragment"),
    [
        ({"TAILCAST_PORT": "http"}, {}, "$TAILCAST_PORT"),
        ({"TAILCAST_POLL": "maybe"}, {}, "$TAILCAST_POLL"),
        ({"TAILCAST_HISTORY": "0"}, {}, "$TAILCAST_HISTORY"),
        ({}, {"port": "70000"}, "--port"),
        ({}, {"port": "-1"}, "--port"),
        ({}, {"max_line": "abc"}, "--max-line"),
        ({}, {"heartbeat": "nan"}, "--heartbeat"),
        ({}, {"restart": "sometimes"}, "--restart"),
        ({}, {"allow_origin": ["evil.example"]}, "--allow-origin"),
        ({}, {"base_path": "logs"}, "--base-path"),
        ({}, {"base_path": "/a/../b/"}, "--base-path"),
        ({}, {"docker_host": "http://x"}, "--docker-host"),
        ({}, {"tls_cert": "/c.pem"}, "--tls-cert"),
        ({}, {"host": ""}, "--host"),
    ],
)
def test_bad_settings_name_the_option(
    env: dict[str, str], cli: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(cli, ["-"], environ=env)
    assert fragment in str(info.value)


def test_base_path_gets_its_slash() -> None:
    assert build_config({"base_path": "/logs"}, ["-"], environ={}).base_path == "/logs/"


def test_stdin_only_once() -> None:
    with pytest.raises(ConfigError, match="only once"):
        build_config({}, ["-", "x=-"], environ={})


# -- config file --------------------------------------------------------------------------


def test_source_tables(tmp_path: Path) -> None:
    conf = write(
        tmp_path,
        """
port = 0
source = [
  { path = "/var/log/syslog" },
  { name = "api", cmd = ["python3", "-u", "api.py"], cwd = "/srv", env = { PORT = "1" } },
  { cmd = "make -j2 build", name = "build" },
  { glob = "/var/log/nginx/*.log" },
  { docker = "label=tier=web", name = "web" },
  { stdin = true, name = "input" },
]
""",
    )
    config = build_config({}, ["extra=/tmp/extra.log"], config_file=conf, environ={})
    kinds = [(s.kind, s.name) for s in config.sources]
    assert kinds == [
        ("file", "syslog"),
        ("process", "api"),
        ("process", "build"),
        ("glob", "*.log"),
        ("docker", "web"),
        ("stdin", "input"),
        ("file", "extra"),  # command-line sources come after the file's
    ]
    api = config.sources[1]
    assert api.argv == ("python3", "-u", "api.py")
    assert (api.cwd, dict(api.env), api.named) == ("/srv", {"PORT": "1"}, True)
    assert config.sources[2].argv == ("make", "-j2", "build")
    assert config.sources[4].target == "label=tier=web"
    assert config.port == 0


def test_array_of_tables_form(tmp_path: Path) -> None:
    conf = write(
        tmp_path, '[[source]]\npath = "/a.log"\n\n[[source]]\nname = "b"\ncmd = "echo hi"\n'
    )
    specs = build_config({}, [], config_file=conf, environ={}).sources
    assert [(s.kind, s.name, s.target or s.argv) for s in specs] == [
        ("file", "a.log", "/a.log"),
        ("process", "b", ("echo", "hi")),
    ]
    assert isinstance(specs[0], SourceSpec)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("port = ", "not valid TOML"),
        ("colour = 'red'", "unknown setting 'colour'"),
        ("port = 'x'", "port (in "),
        ("history = true", "history (in "),
        ("source = 'x'", "[[source]] tables"),
        ("[[source]]\npath = '/a'\ncmd = 'b'", "[[source]] #1: needs exactly one of"),
        ("[[source]]\nname = 'x'", "[[source]] #1: needs exactly one of"),
        ("[[source]]\npath = '/a'\n[[source]]\nglob = '/b.log'", "[[source]] #2: glob"),
        ("[[source]]\ncmd = 5", "[[source]] #1: cmd must be"),
        ("[[source]]\ncmd = 'x'\nenv = { A = 1 }", "[[source]] #1: env"),
        ("[[source]]\ncmd = 'x'\ncwd = 5", "[[source]] #1: cwd"),
        ("[[source]]\npath = '/a'\nname = 7", "[[source]] #1: name"),
        ("[[source]]\npath = 7", "[[source]] #1: path must be text"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, fragment: str) -> None:
    conf = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        build_config({}, [], config_file=conf, environ={})
    assert fragment in str(info.value)
    assert conf in str(info.value)  # the one line names the file
    assert "\n" not in str(info.value).strip()


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_config({}, ["-"], config_file=str(tmp_path / "nope.toml"), environ={})
    assert "--config" in str(info.value)
    assert "nope.toml" in str(info.value)


# -- journal: sources and redaction (additions 1.1) -----------------------------------


@pytest.mark.parametrize(
    ("raw", "name", "target"),
    [
        ("journal:", "journal", ""),
        ("journal:cron", "cron.service", "cron.service"),
        ("journal:nginx.service", "nginx.service", "nginx.service"),
        ("journal:backup.timer", "backup.timer", "backup.timer"),
        ("journal:user@1000", "user@1000.service", "user@1000.service"),
        ("journal:SYSLOG_IDENTIFIER=sshd", "sshd", "SYSLOG_IDENTIFIER=sshd"),
        ("journal:_COMM=cron", "cron", "_COMM=cron"),
        ("My App=journal:cron", "My App", "cron.service"),
    ],
)
def test_journal_forms(raw: str, name: str, target: str) -> None:
    spec = parse_source(raw)
    assert (spec.kind, spec.name, spec.target) == ("journal", name, target)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("journal:syslog_identifier=sshd", "is not a journal field"),
        ("journal:9X=1", "is not a journal field"),
        ("journal:two words", "is not a unit name"),
        ("journal:--all", "is not a unit name"),
    ],
)
def test_bad_journal_forms(raw: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_source(raw)


def test_journal_and_redaction_settings(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(
        'journal_dir = "/srv/j"\nredact = ["a\\\\d+", "b,c"]\nredact_secrets = true\n'
        '[[source]]\njournal = "cron"\nname = "Cron"\n'
    )
    config = build_config({}, [], config_file=str(toml), environ={})
    assert config.journal_dir == "/srv/j"
    assert config.redact == (r"a\d+", "b,c")  # a comma is part of a pattern, never a separator
    assert config.redact_secrets is True
    assert config.sources[0].kind == "journal" and config.sources[0].name == "Cron"
    env = build_config({}, [], environ={"TAILCAST_REDACT": "x,y"})
    assert env.redact == ("x,y",)
    cli = build_config({"redact": ["p1", "p2"]}, [], environ={})
    assert cli.redact == ("p1", "p2")


def test_a_bad_redact_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^--redact '\[': not a valid RE2 pattern"):
        build_config({"redact": ["["]}, [], environ={})
