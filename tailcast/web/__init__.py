"""The aiohttp layer: routes for the viewer, WebSocket, SSE and the HTTP API.

Imports go one way: handlers depend on :mod:`~tailcast.web.keys`,
:mod:`~tailcast.web.params` and :mod:`~tailcast.web.responses`; only
:mod:`~tailcast.web.app` imports the handlers.

- :mod:`tailcast.web.app`: :func:`~tailcast.web.app.make_app`, assembly only;
- :mod:`tailcast.web.keys`: the typed app keys (config, hub, registry, auth...);
- :mod:`tailcast.web.responses`: the JSON error answer;
- :mod:`tailcast.web.middleware`: error shape, body limit, auth, security headers;
- :mod:`tailcast.web.params`: query parameters shared by the routes;
- :mod:`tailcast.web.auth`: token, session cookie and Origin checks;
- :mod:`tailcast.web.viewer`: the viewer's page and static files;
- :mod:`tailcast.web.health`: ``GET /healthz``;
- :mod:`tailcast.web.metrics`: ``GET /metrics`` (Prometheus);
- :mod:`tailcast.web.ws`: ``GET /ws``;
- :mod:`tailcast.web.linger`: a WebSocket close the peer can read after it broke the protocol;
- :mod:`tailcast.web.sse`: ``GET /api/streams/ID/events``;
- :mod:`tailcast.web.api`: the JSON routes;
- :mod:`tailcast.web.shutdown`: close every client when the server stops.
"""
