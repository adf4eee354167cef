"""``GET /metrics``: the hub's, registry's and history's counters in Prometheus text format.

Nothing is counted twice: :class:`StatsCollector` reads ``statistics()`` of
the hub (with each stream's history) and the registry, and the history
store's disk use, at scrape time and turns them into metric families.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tailcast.history.store import HistoryStore
from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.web.keys import PROMETHEUS

__all__ = ["StatsCollector", "metrics", "prometheus_registry"]


class StatsCollector(Collector):
    """Reads the hub's and registry's statistics() (and the store's use) at scrape time."""

    def __init__(self, hub: Hub, registry: Registry, store: HistoryStore | None = None) -> None:
        self.hub = hub
        self.registry = registry
        self.store = store

    def collect(self) -> list[Metric]:
        # One snapshot of each per scrape, so that the families agree.
        hub = self.hub.statistics()
        reg = self.registry.statistics()
        return [
            *_per_stream(hub, reg),
            *_history(self.hub, hub),
            *_totals(hub, reg),
            *_disk(self.store),
            *_task_gauge(),
        ]


def _per_stream(hub: dict[str, Any], reg: dict[str, Any]) -> list[Metric]:
    """The traffic families labelled by stream."""
    lines_out_of = reg["lines_out"]
    lines_in = CounterMetricFamily("tailcast_lines_in", "Lines published", labels=["stream"])
    bytes_in = CounterMetricFamily(
        "tailcast_bytes_in", "Encoded bytes published", labels=["stream"]
    )
    lines_out = CounterMetricFamily(
        "tailcast_lines_out", "Lines sent to clients", labels=["stream"]
    )
    for sid, n in hub["lines_in"].items():
        lines_in.add_metric([sid], n)
        bytes_in.add_metric([sid], hub["bytes_in"][sid])
        lines_out.add_metric([sid], lines_out_of.get(sid, 0))
    return [lines_in, bytes_in, lines_out]


def _history(hub: Hub, stats: dict[str, Any]) -> list[Metric]:
    """What each stream keeps, where, and how much of it was read back from disk."""
    lines = GaugeMetricFamily(
        "tailcast_history_lines", "Lines kept in the history (disk and memory)", labels=["stream"]
    )
    size = GaugeMetricFamily(
        "tailcast_history_bytes", "Bytes kept in the history (disk and memory)", labels=["stream"]
    )
    memory_only = GaugeMetricFamily(
        "tailcast_history_memory_only",
        "1 while the stream's history is in memory only because the disk failed",
        labels=["stream"],
    )
    from_disk = CounterMetricFamily(
        "tailcast_lines_from_disk",
        "History lines read back from disk (older than the part kept in memory)",
        labels=["stream"],
    )
    for sid, history in stats["history"].items():
        lines.add_metric([sid], history["lines"])
        size.add_metric([sid], history["bytes"])
        from_disk.add_metric([sid], history["lines_from_disk"])
        # The reason, not the mode: a multi-host mirror is memory only by
        # design, which is nothing to alert on.
        stream = hub.streams.get(sid)
        failed = stream is not None and stream.history.reason is not None
        memory_only.add_metric([sid], 1 if failed else 0)
    return [lines, size, memory_only, from_disk]


def _totals(hub: dict[str, Any], reg: dict[str, Any]) -> list[Metric]:
    """The server-wide families."""
    return [
        GaugeMetricFamily("tailcast_streams", "Streams", value=hub["streams"]),
        GaugeMetricFamily("tailcast_clients", "Connected clients", value=reg["clients"]),
        CounterMetricFamily(
            "tailcast_connections", "Clients connected since start", value=reg["connects"]
        ),
        GaugeMetricFamily(
            "tailcast_queue_bytes", "Bytes queued for clients", value=reg["queued_bytes"]
        ),
        GaugeMetricFamily(
            "tailcast_queue_frames", "Frames queued for clients", value=reg["queued_frames"]
        ),
        CounterMetricFamily(
            "tailcast_lines_dropped",
            "Lines clients missed because they left the history first",
            value=reg["lines_dropped"],
        ),
        CounterMetricFamily("tailcast_gaps", "Gap messages sent", value=reg["gaps"]),
        GaugeMetricFamily(
            "tailcast_readers_catching_up",
            "Clients reading on from the history (behind on at least one stream)",
            value=reg["readers_catching_up"],
        ),
        CounterMetricFamily(
            "tailcast_lines_caught_up",
            "Lines queued for clients from the history (replays and catch-up)",
            value=reg["lines_from_history"],
        ),
    ]


def _disk(store: HistoryStore | None) -> list[Metric]:
    """The data dir: its budget (--disk-budget) and what the history uses of it."""
    if store is None:
        return []
    return [
        GaugeMetricFamily(
            "tailcast_disk_budget_bytes", "Disk budget of the history", value=store.disk_budget
        ),
        GaugeMetricFamily(
            "tailcast_disk_used_bytes", "Disk used by the history", value=store.bytes_used
        ),
    ]


def _task_gauge() -> list[Metric]:
    """Live asyncio tasks: flat while clients come and go, or something leaks."""
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # scraped outside the event loop: nothing to count
        return []
    return [GaugeMetricFamily("tailcast_tasks", "asyncio tasks alive", value=tasks)]


def prometheus_registry(
    hub: Hub, registry: Registry, store: HistoryStore | None = None
) -> CollectorRegistry:
    """A Prometheus registry of this server's own (not the process-wide default one)."""
    prom = CollectorRegistry(auto_describe=False)
    prom.register(StatsCollector(hub, registry, store))
    return prom


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[PROMETHEUS])
    return web.Response(
        body=body, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "no-store"}
    )
