"""tailcast: follow files, commands and containers; broadcast every line live.

Layers, from the bottom up (each imports only the ones above it in this list):

- ``tailcast.protocol``: pure code, no I/O: line splitting, wire encoding.
- ``tailcast.hub``: streams, sequence numbers, epochs, history rings.
- ``tailcast.registry``: connected clients, bounded queues, gaps.
- ``tailcast.sources``: I/O shells (stdin, files, processes, Docker) that
  publish into the hub.
- ``tailcast.web``: aiohttp routes (WebSocket, SSE, HTTP API, static viewer).
- ``tailcast.cli`` / ``tailcast.config``: the command line and settings.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
