"""``GET /metrics``: the hub's and registry's counters in Prometheus text format.

Nothing is counted twice: :class:`StatsCollector` reads ``statistics()`` of
the hub and the registry at scrape time and turns them into metric families.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.web.keys import PROMETHEUS

__all__ = ["StatsCollector", "metrics", "prometheus_registry"]


class StatsCollector(Collector):
    """Reads the hub's and registry's statistics() at scrape time."""

    def __init__(self, hub: Hub, registry: Registry) -> None:
        self.hub = hub
        self.registry = registry

    def collect(self) -> list[Metric]:
        # One snapshot of each per scrape, so that the families agree.
        hub = self.hub.statistics()
        reg = self.registry.statistics()
        return [*_per_stream(hub, reg), *_totals(hub, reg), *_task_gauge()]


def _per_stream(hub: dict[str, Any], reg: dict[str, Any]) -> list[Metric]:
    """The families labelled by stream."""
    lines_out_of = reg["lines_out"]
    lines_in = CounterMetricFamily("tailcast_lines_in", "Lines published", labels=["stream"])
    bytes_in = CounterMetricFamily(
        "tailcast_bytes_in", "Encoded bytes published", labels=["stream"]
    )
    lines_out = CounterMetricFamily(
        "tailcast_lines_out", "Lines sent to clients", labels=["stream"]
    )
    history = GaugeMetricFamily(
        "tailcast_history_lines", "Lines in the history ring", labels=["stream"]
    )
    for sid, n in hub["lines_in"].items():
        lines_in.add_metric([sid], n)
        bytes_in.add_metric([sid], hub["bytes_in"][sid])
        history.add_metric([sid], hub["history_lines"][sid])
        lines_out.add_metric([sid], lines_out_of.get(sid, 0))
    return [lines_in, bytes_in, lines_out, history]


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


def _task_gauge() -> list[Metric]:
    """Live asyncio tasks: flat while clients come and go, or something leaks."""
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # scraped outside the event loop: nothing to count
        return []
    return [GaugeMetricFamily("tailcast_tasks", "asyncio tasks alive", value=tasks)]


def prometheus_registry(hub: Hub, registry: Registry) -> CollectorRegistry:
    """A Prometheus registry of this server's own (not the process-wide default one)."""
    prom = CollectorRegistry(auto_describe=False)
    prom.register(StatsCollector(hub, registry))
    return prom


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[PROMETHEUS])
    return web.Response(
        body=body, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "no-store"}
    )
