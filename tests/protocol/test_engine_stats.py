"""CPU and memory figures from engine stats samples, as ``docker stats`` shows them."""

from __future__ import annotations

from typing import Any

from tailcast.protocol.engine_stats import (
    cpu_percent,
    figures,
    has_cpu,
    memory_bytes,
    precpu_missing,
    sample_pair,
    unavailable,
)


def cpu(total: int, system: int, *, cpus: int | None = 2) -> dict[str, Any]:
    sample: dict[str, Any] = {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system}
    if cpus is not None:
        sample["online_cpus"] = cpus
    return sample


def test_cpu_percent_is_the_share_of_host_time_times_the_cpus() -> None:
    stats = {"cpu_stats": cpu(1_500, 20_000), "precpu_stats": cpu(1_000, 10_000)}
    assert cpu_percent(stats) == 10.0  # 500 / 10 000 * 2 CPUs


def test_cpu_percent_against_an_earlier_sample_of_our_own() -> None:
    stats = {"cpu_stats": cpu(1_500, 20_000), "precpu_stats": {}}
    assert cpu_percent(stats) is None
    assert cpu_percent(stats, cpu(1_250, 15_000)) == 10.0


def test_cpu_count_from_percpu_usage_when_online_cpus_is_missing() -> None:
    now = cpu(1_500, 20_000, cpus=None)
    now["cpu_usage"]["percpu_usage"] = [1, 2, 3, 4]
    assert cpu_percent({"cpu_stats": now, "precpu_stats": cpu(1_000, 10_000)}) == 20.0
    del now["cpu_usage"]["percpu_usage"]
    assert cpu_percent({"cpu_stats": now, "precpu_stats": cpu(1_000, 10_000)}) == 5.0


def test_no_cpu_percent_without_progress_or_figures() -> None:
    same = {"cpu_stats": cpu(1_500, 10_000), "precpu_stats": cpu(1_000, 10_000)}
    backwards = {"cpu_stats": cpu(900, 20_000), "precpu_stats": cpu(1_000, 10_000)}
    assert cpu_percent(same) is None
    assert cpu_percent(backwards) is None
    assert cpu_percent({}) is None
    assert cpu_percent({"cpu_stats": None, "precpu_stats": None}) is None


def test_memory_without_the_page_cache_and_the_limit() -> None:
    cgroup2 = {"memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 300}}}
    cgroup1 = {"memory_stats": {"usage": 1000, "limit": 4000, "stats": {"total_inactive_file": 5}}}
    assert memory_bytes(cgroup2) == (700, 4000)
    assert memory_bytes(cgroup1) == (995, 4000)
    # A cache figure that is not below the usage is not subtracted.
    odd = {"memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 1000}}}
    assert memory_bytes(odd) == (1000, 4000)
    assert memory_bytes({"memory_stats": {"limit": 4000}}) == (None, 4000)
    assert memory_bytes({}) == (None, None)


def test_which_samples_carry_figures() -> None:
    assert has_cpu({"cpu_stats": cpu(1, 1)})
    assert not has_cpu({"cpu_stats": {}})
    assert not has_cpu(None)
    assert not has_cpu([])
    assert precpu_missing({"cpu_stats": cpu(1, 1), "precpu_stats": {}})
    assert precpu_missing({"cpu_stats": cpu(1, 1)})
    assert not precpu_missing({"precpu_stats": cpu(1, 1)})


def test_sample_pair_uses_the_stream_and_falls_back_to_the_first_sample() -> None:
    first = {"cpu_stats": cpu(1, 10)}
    a, b = {"cpu_stats": cpu(2, 20)}, {"cpu_stats": cpu(3, 30)}
    assert sample_pair(first, [a, b]) == (a["cpu_stats"], b)
    assert sample_pair(first, [a]) == (first["cpu_stats"], a)
    assert sample_pair(first, []) == (first["cpu_stats"], first)
    assert sample_pair({}, []) == ({}, {})


def test_the_answer_keeps_its_keys_with_or_without_figures() -> None:
    stats = {
        "cpu_stats": cpu(1_500, 20_000),
        "precpu_stats": cpu(1_000, 10_000),
        "memory_stats": {"usage": 100, "limit": 400},
    }
    assert figures(stats) == {"cpu_percent": 10.0, "memory_bytes": 100, "memory_limit_bytes": 400}
    none = unavailable("not running")
    assert none == {
        "cpu_percent": None,
        "memory_bytes": None,
        "memory_limit_bytes": None,
        "error": "not running",
    }
