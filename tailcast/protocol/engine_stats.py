"""CPU and memory figures from the Docker Engine's stats JSON, computed without I/O.

``/containers/ID/stats`` answers one JSON sample (``stream=false``) or a
line of JSON about every second (``stream=true``). The figures are the ones
``docker stats`` shows; :func:`figures` is the body of tailcast's
``/api/streams/ID/stats`` answer, :func:`unavailable` its form when there are
none (the keys stay, so the viewer needs no second shape).

This module imports no asyncio and no aiohttp (a test holds us to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "cpu_percent",
    "figures",
    "has_cpu",
    "memory_bytes",
    "precpu_missing",
    "sample_pair",
    "unavailable",
]


def cpu_percent(stats: Mapping[str, Any], pre: Mapping[str, Any] | None = None) -> float | None:
    """CPU% as ``docker stats`` computes it: the container's share of the host's
    CPU time between two samples, times the number of CPUs.

    ``pre`` is the earlier sample's ``cpu_stats`` when the engine left
    ``precpu_stats`` empty (Podman with ``stream=false``).
    """
    cpu = stats.get("cpu_stats") or {}
    pre = pre if pre is not None else stats.get("precpu_stats") or {}
    try:
        total = cpu["cpu_usage"]["total_usage"]
        system = cpu["system_cpu_usage"]
        pre_total = pre["cpu_usage"]["total_usage"]
        pre_system = pre["system_cpu_usage"]
    except (KeyError, TypeError):
        return None
    cpu_delta = total - pre_total
    system_delta = system - pre_system
    if system_delta <= 0 or cpu_delta < 0:
        return None
    cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    return round(float(cpu_delta) / float(system_delta) * float(cpus) * 100.0, 2)


def memory_bytes(stats: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Memory in use (without the page cache, as ``docker stats``) and the limit."""
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is None:
        return None, mem.get("limit")
    extra = mem.get("stats") or {}
    cache = extra.get("inactive_file", extra.get("total_inactive_file", 0))
    if isinstance(cache, int) and 0 < cache < usage:
        usage -= cache
    return int(usage), mem.get("limit")


def has_cpu(stats: Any) -> bool:
    """Whether a sample carries CPU figures at all (a stopped container's does not)."""
    return isinstance(stats, dict) and bool(stats.get("cpu_stats"))


def precpu_missing(stats: Mapping[str, Any]) -> bool:
    """Whether the engine left the earlier sample out (Podman with ``stream=false``)."""
    return not (stats.get("precpu_stats") or {}).get("system_cpu_usage")


def sample_pair(
    first: Mapping[str, Any], streamed: Sequence[Mapping[str, Any]]
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The earlier ``cpu_stats`` and the later sample, from up to two streamed ones.

    ``first`` is the one-shot sample taken before: it stands in for what the
    stream did not deliver.
    """
    if not streamed:
        return first.get("cpu_stats") or {}, first
    last = streamed[-1]
    before = streamed[0] if len(streamed) == 2 else first
    return before.get("cpu_stats") or {}, last


def figures(stats: Mapping[str, Any], pre: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The stats answer: CPU% (against ``pre`` if given), memory used and its limit."""
    used, limit = memory_bytes(stats)
    return {
        "cpu_percent": cpu_percent(stats, pre),
        "memory_bytes": used,
        "memory_limit_bytes": limit,
    }


def unavailable(message: str) -> dict[str, Any]:
    """The stats answer when there are no figures, saying why."""
    return {"cpu_percent": None, "memory_bytes": None, "memory_limit_bytes": None, "error": message}
