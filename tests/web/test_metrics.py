"""``GET /metrics``: Prometheus text format, read by Prometheus's own parser."""

from __future__ import annotations

import aiohttp
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tailcast.history.kept import MEMORY_LINES
from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.web.metrics import prometheus_registry
from tests.harness import ServerHarness
from tests.helpers import apoll, ws_connect
from tests.web.conftest import Serve, full_disk, publish


async def scrape(session: aiohttp.ClientSession, h: ServerHarness) -> dict[str, float]:
    """Every sample as ``name{label="v"}`` -> value."""
    async with session.get(h.url + "metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_metrics(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(history=10)
    app, other = h.hub.streams["app"], h.hub.streams["other"]
    publish(h.hub, app, 30)
    publish(h.hub, other, 2)
    # A client resuming from before the ring: one gap.
    client = await ws_connect(session, h.ws_url)
    await client.recv_type("hello")
    await client.send({"type": "subscribe", "streams": ["app"], "since": {"app": 0}})
    await client.wait_lines("app", 10)
    # A registry client that does not drain, with a tiny queue: it falls
    # behind, and the history (10 lines) moves on without it.
    slow = h.registry.connect("slow")
    slow.max_bytes = 4096
    h.registry.subscribe(slow, ["app"], tail=0)
    for _ in range(10):
        publish(h.hub, app, 20)
    await client.wait_lines("app", 210)
    await apoll(lambda: h.registry.statistics()["lines_out"].get("app", 0) >= 210)
    behind = await scrape(session, h)
    assert behind["tailcast_readers_catching_up"] == 1
    assert behind["tailcast_gaps_total"] == 1  # the resume's; the slow one has not read yet
    # When it reads, it is told what left the history, then gets the rest.
    slow.take_batch()
    assert "app" not in slow.behind  # live again: the next line waits in its queue
    publish(h.hub, app, 1)
    await client.wait_lines("app", 211)
    await apoll(lambda: h.registry.statistics()["lines_out"].get("app", 0) >= 211)

    m = await scrape(session, h)
    assert m['tailcast_lines_in_total{stream="app"}'] == 231
    assert m['tailcast_lines_in_total{stream="other"}'] == 2
    assert m['tailcast_lines_out_total{stream="app"}'] == 211
    assert m['tailcast_lines_out_total{stream="other"}'] == 0
    assert m['tailcast_history_lines{stream="app"}'] == 10
    assert m['tailcast_bytes_in_total{stream="app"}'] > 0
    assert m["tailcast_streams"] == 2
    assert m["tailcast_clients"] == 2
    assert m["tailcast_connections_total"] == 2
    stats = h.registry.statistics()
    assert m["tailcast_queue_bytes"] == stats["queued_bytes"] > 0
    assert m["tailcast_queue_frames"] == stats["queued_frames"] > 0
    assert m["tailcast_lines_dropped_total"] == stats["lines_dropped"] > 0
    assert m["tailcast_gaps_total"] == stats["gaps"] == 2  # the resume's and the slow one's
    assert m["tailcast_readers_catching_up"] == stats["readers_catching_up"] == 0
    # The resume's 10 lines and the slow one's last ones came from the history.
    assert m["tailcast_lines_caught_up_total"] == stats["lines_from_history"] >= 20

    # Counters survive a client leaving.
    dropped, gaps = stats["lines_dropped"], stats["gaps"]
    h.registry.disconnect(slow)
    await client.ws.close()
    await apoll(lambda: h.registry.statistics()["clients"] == 0)
    m = await scrape(session, h)
    assert m["tailcast_clients"] == 0
    assert m["tailcast_queue_bytes"] == 0
    assert m["tailcast_lines_dropped_total"] == dropped
    assert m["tailcast_gaps_total"] == gaps


async def test_history_metrics(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(disk_budget=1 << 30)
    app, other = h.hub.streams["app"], h.hub.streams["other"]
    total = MEMORY_LINES + 500
    publish(h.hub, app, total)
    publish(h.hub, other, 2)
    # A page from before the part in memory is read back from disk.
    async with session.get(h.url + "api/streams/app/lines?before=201&limit=200") as response:
        assert len((await response.json())["lines"]) == 200

    m = await scrape(session, h)
    stats = app.history.statistics()
    assert m['tailcast_history_lines{stream="app"}'] == total
    assert m['tailcast_history_lines{stream="other"}'] == 2
    assert m['tailcast_history_bytes{stream="app"}'] == stats["bytes"] > 0
    assert m['tailcast_history_memory_only{stream="app"}'] == 0
    assert m['tailcast_lines_from_disk_total{stream="app"}'] == stats["lines_from_disk"] >= 200
    assert m['tailcast_lines_from_disk_total{stream="other"}'] == 0
    assert m["tailcast_disk_budget_bytes"] == 1 << 30
    assert m["tailcast_disk_used_bytes"] == h.server.store.bytes_used >= stats["bytes"]

    with full_disk(other):
        publish(h.hub, other, 1)
        m = await scrape(session, h)
    assert m['tailcast_history_memory_only{stream="other"}'] == 1
    assert m['tailcast_history_memory_only{stream="app"}'] == 0
    assert m['tailcast_history_lines{stream="other"}'] == 3


def test_memory_by_design_is_not_memory_only() -> None:
    # A hub without a store (a multi-host mirror) keeps history in memory on
    # purpose: nothing failed. Without a store there are no disk families.
    hub = Hub(100)
    hub.add_stream("app", "stdin")
    text = generate_latest(prometheus_registry(hub, Registry(hub))).decode()
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["tailcast_history_memory_only"] == 0
    assert "tailcast_disk_budget_bytes" not in samples
    assert "tailcast_disk_used_bytes" not in samples
