"""tailcast.web.listen: the open-files budget and the guarded site."""

from __future__ import annotations

import pytest

from tailcast.errors import ConfigError
from tailcast.web.listen import ACCEPT_BATCH, BASE_RESERVE, PER_SOURCE, PER_STREAM, plan_limits

TIMES = {"header_timeout": 10.0, "idle_timeout": 30.0}


def test_plenty_of_descriptors_keeps_max_clients() -> None:
    plan = plan_limits(65536, max_clients=1000, sources=2, streams=2, max_pending=32, **TIMES)
    assert plan.max_clients == 1000
    assert plan.limits.pool_total == 256  # 8 addresses' worth
    assert plan.limits.max_connections == 65536 - plan.reserve
    assert plan.reserve == BASE_RESERVE + 2 * ACCEPT_BATCH + 2 * PER_SOURCE + 2 * PER_STREAM


def test_1024_lowers_max_clients_to_what_fits() -> None:
    plan = plan_limits(1024, max_clients=1000, sources=1, streams=1, max_pending=32, **TIMES)
    connections = 1024 - plan.reserve
    assert plan.limits.pool_total == connections // 4
    assert plan.max_clients == connections - plan.limits.pool_total
    assert 0 < plan.max_clients < 1000
    # Clients, waiting connections and the reserve fit in the limit.
    assert plan.max_clients + plan.limits.pool_total + plan.reserve <= 1024


def test_no_client_fitting_is_a_config_error_naming_max_clients() -> None:
    with pytest.raises(ConfigError) as info:
        plan_limits(200, max_clients=10, sources=1, streams=1, max_pending=32, **TIMES)
    assert info.value.option == "max_clients"
    assert "open-files limit (200)" in str(info.value)
