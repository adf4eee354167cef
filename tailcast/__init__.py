"""tailcast: follow files, commands and containers; broadcast every line live.

Layers, in the order a line goes through them (at run time each imports only
the ones before it; sources name the hub's types for the type checker only;
``tests/test_layout.py`` proves there is no circle):

- ``tailcast.errors``, ``tailcast.defaults``, ``tailcast.settings``,
  ``tailcast.config``: the exception tree, shared limits, settings.
- ``tailcast.protocol``: pure code, no I/O: line splitting, wire encoding,
  the Docker Engine's byte formats.
- ``tailcast.sources``: I/O shells (stdin, files, processes, Docker) that
  publish into the hub.
- ``tailcast.hub``: streams, sequence numbers, epochs, history.
- ``tailcast.client``: one client's bounded queue and its catch-up from history.
- ``tailcast.registry``: connected clients, subscriptions, live fan-out.
- ``tailcast.web``: aiohttp routes (WebSocket, SSE, HTTP API, static viewer).
- ``tailcast.multihost``: Redis Streams between agents and web nodes.
- ``tailcast.server``, ``tailcast.commands``, ``tailcast.cli``: one server,
  the commands, the command line.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
