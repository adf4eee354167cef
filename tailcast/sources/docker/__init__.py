"""Container logs over the Docker Engine API (``docker:NAME``, ``docker:*``,
``docker:label=KEY[=VALUE]``), without the docker CLI.

- :mod:`~tailcast.sources.docker.engine`: the HTTP client for the engine's
  socket (unix or tcp), its errors as :class:`~tailcast.errors.SourceError`;
- :mod:`~tailcast.sources.docker.follow`: one container's log, followed and
  resumed after the last timestamp seen;
- :mod:`~tailcast.sources.docker.stats`: ``/api/streams/ID/stats`` for a container;
- :mod:`~tailcast.sources.docker.source`: :class:`DockerSource`, which finds
  the containers, watches the engine's events and starts the follows.

The bytes are decoded without I/O in :mod:`tailcast.protocol.engine_logs`.
"""

__all__: list[str] = []
