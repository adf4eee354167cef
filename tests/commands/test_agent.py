"""``tailcast agent`` in-process: it needs a source (the rest is tests/multihost)."""

from __future__ import annotations

import pytest

from tailcast.commands.agent import agent_main
from tailcast.errors import ConfigError
from tests.harness import make_config


def test_no_source_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tailcast agent: no SOURCE given"):
        agent_main(make_config(redis="redis://127.0.0.1:1/"))
