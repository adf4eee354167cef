"""``GET /healthz``: open, JSON, ``{"status": "ok"}``; ``"degraded"`` while a disk fails."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from aiohttp.test_utils import make_mocked_request

from tailcast.history.store import HistoryStore
from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.web.app import make_app
from tailcast.web.health import healthz
from tests.harness import make_config
from tests.helpers import apoll
from tests.web.conftest import Serve, full_disk, get_json, publish

FULL = "history on disk failed: No space left on device"


async def test_healthz(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    assert await get_json(session, h.url + "healthz") == {"status": "ok"}


async def test_healthz_says_why_while_the_disk_fails(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    publish(h.hub, app, 3)
    with full_disk(app):
        publish(h.hub, app, 2)  # live delivery goes on; the history is in memory now
        body = await get_json(session, h.url + "healthz")  # still 200
        assert body == {"status": "ok", "degraded": [f"app: {FULL}"]}
        assert app.info()["history"] == "memory"

    def back_on_disk() -> bool:
        # The disk works again: an append after the retry time writes to it.
        publish(h.hub, app, 1)
        return app.history.reason is None

    await apoll(back_on_disk)
    assert await get_json(session, h.url + "healthz") == {"status": "ok"}


async def test_healthz_names_streams_only_to_who_may_see_them(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token="s3cret")
    app, other = h.hub.streams["app"], h.hub.streams["other"]
    publish(h.hub, app, 1)
    publish(h.hub, other, 1)
    with full_disk(app), full_disk(other):
        publish(h.hub, app, 1)
        publish(h.hub, other, 1)
        body = await get_json(session, h.url + "healthz")
        assert body == {"status": "ok", "degraded": [FULL]}  # each reason once, no ids
        async with session.get(
            h.url + "healthz", headers={"Authorization": "Bearer s3cret"}
        ) as response:
            assert response.status == 200
            assert (await response.json())["degraded"] == [f"app: {FULL}", f"other: {FULL}"]


async def test_healthz_counts_the_source_hub_of_a_web_node(tmp_path: Path) -> None:
    # Multi-host: clients read a mirror hub, the node's own sources write to
    # another one; a disk fault of either is a reason.
    config = make_config()
    store = HistoryStore.open(
        tmp_path, disk_budget=1 << 30, max_lines=config.history, max_bytes=config.history_bytes
    )
    try:
        mirror = Hub(config.history)
        sources = Hub(config.history, store=store)
        stream = sources.add_stream("app", "stdin")
        publish(sources, stream, 1)
        app = make_app(config, mirror, Registry(mirror), store=store, source_hub=sources)
        with full_disk(stream):
            publish(sources, stream, 1)
            response = await healthz(make_mocked_request("GET", "/healthz", app=app))
        assert response.status == 200
        assert isinstance(response.body, bytes)
        assert json.loads(response.body) == {"status": "ok", "degraded": [f"app: {FULL}"]}
    finally:
        store.close()
