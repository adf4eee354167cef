"""The aiohttp layer: routes for the viewer, WebSocket, SSE and the HTTP API.

- :mod:`tailcast.web.app`: the application, middlewares, static files, metrics;
- :mod:`tailcast.web.auth`: token, session cookie and Origin checks;
- :mod:`tailcast.web.ws`: ``GET /ws``;
- :mod:`tailcast.web.sse`: ``GET /api/streams/ID/events``;
- :mod:`tailcast.web.api`: the JSON routes.
"""
