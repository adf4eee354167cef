"""The one exception tree of tailcast.

::

    TailcastError                 base of everything tailcast raises on purpose
    ├── ConfigError               a bad option, source form or config file (CLI exit 2)
    ├── SourceError               a source cannot read right now (missing file,
    │                             daemon down, permission denied); sources turn it
    │                             into a visible ``error``/``waiting`` state
    ├── ConnectionLost            Redis is not there right now (multi-host; retried)
    ├── ServerRefused             a server's answer a retry will not fix (``watch``)
    ├── TooManyClients            the client registry is full (-> 503)
    ├── ProtocolError             bytes or frames from outside that break a rule
    │   ├── FrameError            a client frame we cannot accept (-> ``error`` message)
    │   └── FrameTooLarge         a length field over the limit (never allocated)
    └── UnknownStream             a stream id the server does not have (-> 404 / 4004)

Foreign exceptions (``OSError``, aiohttp's) are translated at the edge where
they happen; these carry attributes, not only strings.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConnectionLost",
    "FrameError",
    "FrameTooLarge",
    "ProtocolError",
    "ServerRefused",
    "SourceError",
    "TailcastError",
    "TooManyClients",
    "UnknownStream",
]


class TailcastError(Exception):
    """Base class of every error tailcast raises on purpose."""


class ConfigError(TailcastError):
    """A bad command-line option, source form or config-file entry."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class SourceError(TailcastError):
    """A source cannot read right now; it retries by itself."""

    def __init__(self, message: str, *, state: str = "error", status: int | None = None) -> None:
        super().__init__(message)
        self.state = state
        # The HTTP status a daemon answered with, when it answered (Docker).
        self.status = status


class ConnectionLost(TailcastError):
    """Redis is not reachable right now; the caller reconnects with backoff."""


class ServerRefused(TailcastError):
    """A server's answer that a retry will not fix; ``status`` is the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class TooManyClients(TailcastError):
    """The client registry is at ``--max-clients``."""


class ProtocolError(TailcastError):
    """Input from outside that breaks a protocol rule."""


class FrameError(ProtocolError):
    """A client frame that is not valid protocol v1."""


class FrameTooLarge(ProtocolError):
    """A frame whose declared length is over the limit."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes is over the limit of {limit}")
        self.length = length
        self.limit = limit


class UnknownStream(TailcastError):
    """A stream id the server does not have."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"unknown stream: {stream_id}")
        self.stream_id = stream_id
