"""Each setting's type, bounds and check, wherever its value comes from.

:func:`coerce` turns one raw value (a command-line string, a ``TAILCAST_*``
variable, a TOML value) into the setting's type or raises a
:class:`~tailcast.errors.ConfigError` that names the option and where the
value came from. :mod:`tailcast.config` merges the sources of settings.
"""

from __future__ import annotations

import re
from typing import Any

from tailcast.errors import ConfigError

__all__ = ["RESTART_POLICIES", "SETTINGS", "coerce"]

RESTART_POLICIES = ("no", "on-failure", "always")

# name -> (type, minimum) for the plain settings; the rest are handled by hand.
_INT_OPTIONS = {
    "port": 0,
    "history": 1,
    "history_bytes": 64 * 1024,
    "disk_budget": 1024 * 1024,
    "lines": 0,
    "max_line": 64,
    "max_clients": 1,
    "max_frame": 256,
    "max_subscriptions": 1,
    "max_body": 1024,
    "queue_bytes": 4096,
    "max_pending": 1,
}
_FLOAT_OPTIONS = {
    "flush_delay": 0.0,
    "heartbeat": 1.0,
    "poll_interval": 0.01,
    "linger": 0.0,
    "header_timeout": 0.1,
    "idle_timeout": 0.1,
}
_BOOL_OPTIONS = ("allow_control", "poll", "pty", "trust_proxy", "redact_secrets")
_STR_OPTIONS = (
    "host",
    "token",
    "token_file",
    "restart",
    "base_path",
    "tls_cert",
    "tls_key",
    "docker_host",
    "redis",
    "data_dir",
    "journal_dir",
)
SETTINGS = (
    *_INT_OPTIONS,
    *_FLOAT_OPTIONS,
    *_BOOL_OPTIONS,
    *_STR_OPTIONS,
    "allow_origin",
    "redact",
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def coerce(name: str, value: Any, origin: str) -> Any:
    """Check and convert one setting's value; ``origin`` says where it came from."""
    where = f"{_flag(name)}" if origin == "cli" else f"{name} ({origin})"
    if name in _INT_OPTIONS:
        return _coerce_int(name, value, where)
    if name in _FLOAT_OPTIONS:
        return _coerce_float(name, value, where)
    if name in _BOOL_OPTIONS:
        return _coerce_bool(name, value, where)
    if name == "allow_origin":
        return _coerce_origins(name, value, where)
    if name == "redact":
        return _coerce_patterns(name, value, where)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {value!r}", option=name)
    return _coerce_text(name, value, where)


def _coerce_int(name: str, value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}", option=name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}", option=name) from None
    if number < _INT_OPTIONS[name] or (name == "port" and number > 65535):
        top = " to 65535" if name == "port" else " or more"
        raise ConfigError(f"{where}: must be {_INT_OPTIONS[name]}{top}, got {number}", option=name)
    return number


def _coerce_float(name: str, value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {value!r}", option=name) from None
    if not number >= _FLOAT_OPTIONS[name]:  # also refuses NaN
        raise ConfigError(f"{where}: must be {_FLOAT_OPTIONS[name]} or more", option=name)
    return number


def _coerce_bool(name: str, value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{where}: expected true or false, got {value!r}", option=name)


def _coerce_origins(name: str, value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, str | list | tuple):
        # A config file's "allow_origin = 5" is a usage error, not a crash.
        raise ConfigError(f"{where}: expected origins, got {value!r}", option=name)
    items = value.split(",") if isinstance(value, str) else list(value)
    origins = tuple(str(o).strip().rstrip("/") for o in items if str(o).strip())
    for origin in origins:
        if not re.match(r"https?://[^/\s]+\Z", origin):
            raise ConfigError(
                f"{where}: {origin!r} is not an origin like https://example.com", option=name
            )
    return origins


def _coerce_patterns(name: str, value: Any, where: str) -> tuple[str, ...]:
    """``--redact``: one pattern (a variable) or several (repeated, a TOML list).

    Never split on commas: a comma is a character a pattern may hold. Whether
    each is valid RE2 is checked by :func:`tailcast.config.build_config`.
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(p, str) and p for p in items):
        raise ConfigError(f"{where}: expected patterns (text), got {value!r}", option=name)
    return tuple(items)


def _coerce_text(name: str, value: str, where: str) -> str:
    if name == "restart" and value not in RESTART_POLICIES:
        raise ConfigError(
            f"{where}: must be one of {', '.join(RESTART_POLICIES)}, got {value!r}", option=name
        )
    if name == "base_path":
        if not value.startswith("/") or "//" in value or ".." in value.split("/"):
            raise ConfigError(f"{where}: must be an absolute URL path like /logs/", option=name)
        return value if value.endswith("/") else value + "/"
    if name == "docker_host" and not re.match(r"(unix|tcp)://.+", value):
        raise ConfigError(f"{where}: must be unix:///path or tcp://host:port", option=name)
    if name == "redis" and not re.match(r"(redis|rediss|unix)://", value):
        raise ConfigError(f"{where}: must be a redis:// or rediss:// URL", option=name)
    if name in ("data_dir", "journal_dir") and (not value or "\0" in value):
        raise ConfigError(f"{where}: must be a folder's path", option=name)
    if name == "host" and not value:
        raise ConfigError(f"{where}: must not be empty", option=name)
    return value
