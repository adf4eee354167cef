"""``tailcast serve`` in-process: what a config must have before anything starts.

(Serving itself, as a real process, is in tests/test_cli.py and tests/web.)
"""

from __future__ import annotations

import pytest

from tailcast.commands.serve import serve_main
from tailcast.errors import ConfigError
from tests.harness import make_config


def test_no_source_and_no_redis_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no SOURCE given"):
        serve_main(make_config())


def test_a_bad_redis_url_is_checked_before_serving() -> None:
    # A web node needs no source of its own, but its --redis must be usable.
    with pytest.raises(ConfigError, match="--redis"):
        serve_main(make_config(redis="http://127.0.0.1:1/"))
