"""tailcast.settings: each setting's type, bounds and check, and the message naming it."""

from __future__ import annotations

from typing import Any

import pytest

from tailcast.errors import ConfigError
from tailcast.settings import SETTINGS, coerce


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("port", "0", 0),
        ("port", 65535, 65535),
        ("flush_delay", "0.5", 0.5),
        ("poll", "yes", True),
        ("poll", "off", False),
        ("poll", True, True),
        (
            "allow_origin",
            "https://a.example, http://b.example/",
            ("https://a.example", "http://b.example"),
        ),
        ("base_path", "/logs", "/logs/"),
        ("restart", "always", "always"),
        ("docker_host", "unix:///run/podman/podman.sock", "unix:///run/podman/podman.sock"),
    ],
)
def test_values_are_converted(name: str, raw: Any, value: Any) -> None:
    assert coerce(name, raw, "cli") == value


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("port", "65536", "--port: must be 0 to 65535, got 65536"),
        ("port", True, "--port: expected a whole number"),
        ("history", "0", "--history: must be 1 or more"),
        ("heartbeat", "nan", "--heartbeat: must be 1.0 or more"),
        ("poll", "maybe", "--poll: expected true or false"),
        ("allow_origin", "example.com", "is not an origin"),
        ("restart", "sometimes", "must be one of no, on-failure, always"),
        ("base_path", "logs/", "must be an absolute URL path"),
        ("redis", "http://x", "must be a redis:// or rediss:// URL"),
        ("host", "", "--host: must not be empty"),
        ("token", 5, "--token: expected text"),
    ],
)
def test_bad_values_name_the_option(name: str, raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        coerce(name, raw, "cli")
    assert message in str(info.value)
    assert info.value.option == name


def test_the_origin_of_a_value_is_named() -> None:
    with pytest.raises(ConfigError, match=r"port \(\$TAILCAST_PORT\)"):
        coerce("port", "x", "$TAILCAST_PORT")


def test_every_setting_has_a_check() -> None:
    assert len(SETTINGS) == len(set(SETTINGS))
    for name in SETTINGS:
        with pytest.raises(ConfigError):
            coerce(name, object(), "cli")
