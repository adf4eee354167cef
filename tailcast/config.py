"""One frozen :class:`Config`: command line over ``TAILCAST_*`` environment over
the TOML config file over defaults, and the parsing of ``SOURCE`` forms.

Everything here raises :class:`~tailcast.errors.ConfigError` naming the bad
option or source; the CLI turns that into one line and exit status 2.
"""

from __future__ import annotations

import dataclasses
import glob as globmod
import os
import re
import shlex
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailcast.defaults import (
    DEFAULT_DISK_BUDGET,
    DEFAULT_HISTORY,
    DEFAULT_HISTORY_BYTES,
    DEFAULT_MAX_LINE,
    DEFAULT_QUEUE_BYTES,
)
from tailcast.errors import ConfigError
from tailcast.protocol.redact import check_pattern
from tailcast.protocol.wire import slugify
from tailcast.settings import SETTINGS, coerce

__all__ = ["Config", "SourceSpec", "build_config", "journal_match", "parse_source"]

# NAME= may hold any character but "=" (contract 1.1: "My App=/var/log/app.log").
# Two exceptions keep other forms intact: a prefix with "/" is a path that holds
# "=" (/var/log/a=b.log), and "cmd:A=B x" / "docker:label=k=v" / "journal:F=V"
# start with their scheme.
_NAME_RE = re.compile(r"([^=/]+)=(.+)\Z", re.S)
_SCHEMES = ("cmd:", "docker:", "journal:")


@dataclass(frozen=True)
class SourceSpec:
    """One configured source, parsed. ``raw`` is what the user wrote."""

    raw: str
    kind: str  # stdin | file | glob | process | docker | journal
    name: str
    target: str = ""  # path, glob pattern, container selector, journal match
    argv: tuple[str, ...] = ()
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    named: bool = False  # the user gave NAME=


@dataclass(frozen=True)
class Config:
    """Every setting of one tailcast process."""

    sources: tuple[SourceSpec, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    # Read once at start into ``token``; kept to say where the token came from.
    token_file: str | None = None
    trust_proxy: bool = False
    allow_origin: tuple[str, ...] = ()
    allow_control: bool = False
    history: int = DEFAULT_HISTORY
    history_bytes: int = DEFAULT_HISTORY_BYTES
    disk_budget: int = DEFAULT_DISK_BUDGET
    data_dir: str | None = None
    lines: int = 100
    max_line: int = DEFAULT_MAX_LINE
    max_clients: int = 1000
    max_frame: int = 64 * 1024
    max_subscriptions: int = 1000
    max_body: int = 64 * 1024
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    flush_delay: float = 0.25
    heartbeat: float = 30.0
    poll: bool = False
    poll_interval: float = 0.5
    # Seconds between two steps of a file source at least (not an option: an
    # agent sets it to its publisher's linger, as reading more often gains nothing).
    file_step: float = 0.0
    pty: bool = False
    restart: str = "no"
    linger: float = 0.0
    base_path: str = "/"
    tls_cert: str | None = None
    tls_key: str | None = None
    docker_host: str = "unix:///var/run/docker.sock"
    redis: str | None = None
    journal_dir: str | None = None
    redact: tuple[str, ...] = ()
    redact_secrets: bool = False
    # The way in (tailcast.web.guard): untrusted connections' time and count.
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    max_pending: int = 32

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def parse_source(
    raw: str,
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
) -> SourceSpec:
    """Parse one ``SOURCE`` form of the command line (see ``tailcast --help``)."""
    text = raw
    named = False
    m = _NAME_RE.match(text)
    if m and name is None and m.group(1).strip() and not text.startswith(_SCHEMES):
        name, text, named = m.group(1).strip(), m.group(2), True
    elif name is not None:
        named = True
    if not text:
        raise ConfigError(f"source {raw!r}: nothing after the name")
    env = dict(env or {})
    if text == "-":
        return SourceSpec(raw, "stdin", name or "stdin", named=named)
    if text.startswith("cmd:"):
        try:
            argv = tuple(shlex.split(text[4:]))
        except ValueError as exc:
            raise ConfigError(f"source {raw!r}: cannot split the command: {exc}") from None
        if not argv:
            raise ConfigError(f"source {raw!r}: empty command")
        return SourceSpec(
            raw, "process", name or Path(argv[0]).name, argv=argv, cwd=cwd, env=env, named=named
        )
    if text.startswith("docker:"):
        selector = text[7:]
        if not selector:
            raise ConfigError(f"source {raw!r}: name a container, '*' or label=KEY=VALUE")
        if selector.startswith("label=") and "=" not in selector[6:].strip("="):
            pass  # label=KEY (any value) is allowed
        return SourceSpec(raw, "docker", name or selector, target=selector, named=named)
    if text.startswith("journal:"):
        target = journal_match(raw, text[8:])
        return SourceSpec(raw, "journal", name or _journal_name(target), target=target, named=named)
    if "\0" in text:
        raise ConfigError(f"source {raw!r}: a path cannot hold a NUL byte")
    path = os.path.expanduser(text)
    if globmod.has_magic(path):
        return SourceSpec(raw, "glob", name or Path(path).name, target=path, named=named)
    return SourceSpec(raw, "file", name or Path(path).name or path, target=path, named=named)


# journalctl's own rules: a field name is upper case, digits and "_", not
# starting with a digit; a unit name (or a glob of them) has no space or "=".
_FIELD_RE = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
_UNIT_RE = re.compile(r"[A-Za-z0-9:_.@\\*?\[\]-]+\Z")


def journal_match(raw: str, match: str) -> str:
    """``journal:`` -> ``""``, ``journal:cron`` -> ``cron.service``, ``journal:F=V`` as is."""
    if not match:
        return ""
    if "=" in match:
        field_name, _, value = match.partition("=")
        if not _FIELD_RE.match(field_name):
            raise ConfigError(
                f"source {raw!r}: {field_name!r} is not a journal field "
                "(upper case, like SYSLOG_IDENTIFIER or _COMM)"
            )
        if "\0" in value or "\n" in value:
            raise ConfigError(f"source {raw!r}: a journal value cannot hold NUL or a newline")
        return match
    if not _UNIT_RE.match(match) or match.startswith("-"):
        raise ConfigError(f"source {raw!r}: {match!r} is not a unit name like nginx.service")
    # journalctl -u mangles the same way; saying it here shows the real unit.
    return match if "." in match or any(c in match for c in "*?[") else match + ".service"


def _journal_name(target: str) -> str:
    """The default stream name: the unit, the match's value, or ``journal``."""
    value = target.partition("=")[2] if "=" in target else target
    return value or target or "journal"


def _source_from_table(table: Mapping[str, Any], index: int) -> SourceSpec:
    where = f"[[source]] #{index + 1}"
    kinds = [k for k in ("path", "glob", "cmd", "docker", "stdin", "journal") if k in table]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: needs exactly one of path, glob, cmd, docker, stdin, journal")
    kind = kinds[0]
    name = table.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"{where}: name must be text")
    cwd = table.get("cwd")
    env = table.get("env", {})
    if cwd is not None and not isinstance(cwd, str):
        raise ConfigError(f"{where}: cwd must be text")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ConfigError(f"{where}: env must be a table of text values")
    value = table[kind]
    if kind == "stdin":
        return parse_source("-", name=name)
    if kind == "cmd":
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            argv = tuple(value)
            return SourceSpec(
                f"cmd:{shlex.join(argv)}",
                "process",
                name or Path(argv[0]).name,
                argv=argv,
                cwd=cwd,
                env=env,
                named=name is not None,
            )
        if not isinstance(value, str):
            raise ConfigError(f"{where}: cmd must be text or a list of text")
        return parse_source(f"cmd:{value}", cwd=cwd, env=env, name=name)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {kind} must be text")
    if kind in ("docker", "journal"):
        return parse_source(f"{kind}:{value}", name=name)
    spec = parse_source(value if value != "-" else "./-", name=name)
    if kind == "glob" and spec.kind != "glob":
        raise ConfigError(f"{where}: glob {value!r} has no wildcard")
    return spec


def load_file(path: str) -> tuple[dict[str, Any], list[SourceSpec]]:
    """Settings and sources from a TOML config file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror or exc}", option="config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}", option="config") from None
    settings: dict[str, Any] = {}
    sources: list[SourceSpec] = []
    for key, value in data.items():
        norm = key.replace("-", "_")
        if norm == "source":
            if not isinstance(value, list):
                raise ConfigError(f"--config {path}: use [[source]] tables for sources")
            for i, table in enumerate(value):
                if not isinstance(table, (str, dict)):
                    raise ConfigError(f"--config {path}: [[source]] #{i + 1} is not a table")
                try:
                    if isinstance(table, str):
                        sources.append(parse_source(table))
                    else:
                        sources.append(_source_from_table(table, i))
                except ConfigError as exc:
                    # Say which file: the one line the user sees must name it.
                    raise ConfigError(f"--config {path}: {exc}", option="config") from None
        elif norm in SETTINGS:
            settings[norm] = coerce(norm, value, f"in {path}")
        else:
            raise ConfigError(f"--config {path}: unknown setting {key!r}", option="config")
    return settings, sources


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings from ``TAILCAST_*`` variables (e.g. ``TAILCAST_TOKEN``)."""
    settings: dict[str, Any] = {}
    for name in SETTINGS:
        key = "TAILCAST_" + name.upper()
        if key in environ:
            settings[name] = coerce(name, environ[key], f"${key}")
    if "docker_host" not in settings and environ.get("DOCKER_HOST"):
        settings["docker_host"] = coerce("docker_host", environ["DOCKER_HOST"], "$DOCKER_HOST")
    return settings


def read_token_file(path: str) -> str:
    """The token in ``path``, read once at start; one trailing line ending is not part of it.

    A file keeps the token out of ``ps`` and the environment (systemd's
    ``LoadCredential=`` hands one over this way).
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(64 * 1024 + 1)
    except OSError as exc:
        raise ConfigError(
            f"--token-file {path}: cannot read it: {exc.strerror or exc}", option="token_file"
        ) from None
    if len(data) > 64 * 1024:
        raise ConfigError(f"--token-file {path}: larger than 64 KiB", option="token_file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"--token-file {path}: not UTF-8 text", option="token_file") from None
    token = text.removesuffix("\n").removesuffix("\r")
    if not token.strip():
        raise ConfigError(f"--token-file {path}: the file is empty", option="token_file")
    if "\n" in token or "\r" in token:
        raise ConfigError(
            f"--token-file {path}: the token must be a single line", option="token_file"
        )
    return token


def _check_tls(cert: str, key: str) -> None:
    """Load the pair once now, so that a bad one is one clear line and exit 2
    (rather than a failure to listen, which would name the wrong option)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:
        raise ConfigError(
            f"--tls-cert/--tls-key: cannot load {cert} and {key}: {exc.strerror or exc}",
            option="tls_cert",
        ) from None


def build_config(
    cli: Mapping[str, Any],
    sources: list[str],
    *,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    extra_sources: list[SourceSpec] | None = None,
) -> Config:
    """Merge defaults < config file < environment < command line."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    file_sources: list[SourceSpec] = []
    if config_file:
        settings, file_sources = load_file(config_file)
        merged.update(settings)
    merged.update(from_environ(environ))
    for name, value in cli.items():
        if value is not None:
            merged[name] = coerce(name, value, "cli")
    specs = [*file_sources, *(parse_source(s) for s in sources), *(extra_sources or [])]
    if sum(1 for s in specs if s.kind == "stdin") > 1:
        raise ConfigError("standard input ('-') can be a source only once")
    for spec in specs:
        if spec.named and not slugify(spec.name):
            raise ConfigError(f"source {spec.raw!r}: the name gives no usable stream id")
    if merged.get("token_file"):
        if merged.get("token"):
            raise ConfigError("--token and --token-file: give only one", option="token_file")
        merged["token"] = read_token_file(merged["token_file"])
    if bool(merged.get("tls_cert")) != bool(merged.get("tls_key")):
        raise ConfigError("--tls-cert and --tls-key go together", option="tls_cert")
    if merged.get("tls_cert"):
        _check_tls(merged["tls_cert"], merged["tls_key"])
    for pattern in merged.get("redact", ()):
        check_pattern(pattern)  # a bad one: one line naming --redact, exit 2
    fields = {f.name for f in dataclasses.fields(Config)}
    return Config(sources=tuple(specs), **{k: v for k, v in merged.items() if k in fields})
