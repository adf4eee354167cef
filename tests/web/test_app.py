"""The assembled application: every route under the base path."""

from __future__ import annotations

import aiohttp

from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.web.app import make_app
from tests.harness import make_config
from tests.web.conftest import Serve, get_json, publish


async def test_base_path(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(base_path="/logs/")
    assert h.url.endswith("/logs/")
    root = h.url[: -len("logs/")]
    publish(h.hub, h.hub.streams["app"], 1)
    assert (await get_json(session, h.url + "api/streams"))["streams"][0]["id"] == "app"
    assert await get_json(session, h.url + "healthz") == {"status": "ok"}
    await get_json(session, root + "api/streams", 404)
    async with session.get(root + "logs", allow_redirects=False) as response:
        assert response.status in (301, 308)
        assert response.headers["Location"] == "/logs/"
    async with session.ws_connect(h.url + "ws?streams=app&tail=1") as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "hello"
        assert (await ws.receive_json(timeout=10))["lines"][0]["seq"] == 1


def test_every_route_is_under_the_base_path() -> None:
    config = make_config(base_path="/logs/")
    hub = Hub(config.history)
    app = make_app(config, hub, Registry(hub))
    routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert routes == {
        ("GET", "/logs/"),
        ("GET", "/logs"),
        ("GET", "/logs/healthz"),
        ("GET", "/logs/metrics"),
        ("GET", "/logs/ws"),
        ("POST", "/logs/api/login"),
        ("GET", "/logs/api/streams"),
        ("GET", "/logs/api/streams/{id}/lines"),
        ("GET", "/logs/api/streams/{id}/events"),
        ("GET", "/logs/api/streams/{id}/stats"),
        ("POST", "/logs/api/streams/{id}/restart"),
        ("POST", "/logs/api/streams/{id}/stop"),
        ("POST", "/logs/api/shares"),
        ("GET", "/logs/api/shares"),
        ("DELETE", "/logs/api/shares/{id}"),
        ("GET", "/logs/static/{name}"),
    }
