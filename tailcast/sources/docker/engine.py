"""The Docker Engine API client: the few calls tailcast makes, over a unix socket or TCP.

``DOCKER_HOST`` (or ``--docker-host``) is ``unix:///path/to/socket``
(aiohttp's ``UnixConnector``) or ``tcp://HOST:PORT``; Docker and Podman's
Docker-compatible service both answer. Every failure comes out as a
:class:`~tailcast.errors.SourceError` a user can act on: an HTTP error keeps
its ``status`` (404 is ``state='waiting'``: the container is not there yet),
a connection error names the socket and what to do about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tailcast.errors import SourceError

__all__ = ["REQUEST_TIMEOUT", "Engine", "permission_message"]

# Bounds every call that is not a stream (and connecting for those that are).
REQUEST_TIMEOUT = 10.0


class Engine:
    """A thin client for the few Engine API calls we make; errors become SourceError."""

    def __init__(self, docker_host: str) -> None:
        self.docker_host = docker_host
        url = urlsplit(docker_host)
        self.socket_path: str | None = None
        if url.scheme == "unix":
            self.socket_path = url.path
            self.base = "http://docker"
        elif url.scheme == "tcp":
            self.base = f"http://{url.netloc}"
        else:
            raise SourceError(f"unsupported docker host {docker_host!r} (unix:// or tcp://)")
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self.socket_path is not None:
                connector = aiohttp.UnixConnector(path=self.socket_path, limit=0)
            else:
                connector = aiohttp.TCPConnector(limit=0)
            # No total timeout: follows and /events stay open for as long as
            # the engine does. Connecting is bounded.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET ``path`` and decode its JSON body; a 404 is ``SourceError(state='waiting')``."""
        async with asyncio.timeout(REQUEST_TIMEOUT), self.request(path, params) as resp:
            return await resp.json(content_type=None)

    async def ping(self) -> bool:
        """``/_ping``: the engine is there. True if it is Podman's service."""
        async with asyncio.timeout(REQUEST_TIMEOUT), self.request("/_ping") as resp:
            await resp.read()
            # Podman names its own API version in every answer; Docker does not.
            return "Libpod-Api-Version" in resp.headers

    @contextlib.asynccontextmanager
    async def request(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streaming GET; the response is checked before it is handed out."""
        try:
            async with self.session.get(self.base + path, params=params) as resp:
                if resp.status >= 400:
                    raise await self._http_error(resp)
                yield resp
        except aiohttp.ClientError as exc:
            raise self.translate(exc) from exc
        except OSError as exc:
            raise self.translate(exc) from exc

    async def _http_error(self, resp: aiohttp.ClientResponse) -> SourceError:
        try:
            body = await resp.json(content_type=None)
            message = str(body.get("message") or body)
        except (ValueError, aiohttp.ClientError, AttributeError):
            message = resp.reason or ""
        state = "waiting" if resp.status == 404 else "error"
        err = SourceError(
            f"engine answered {resp.status}: {message}", state=state, status=resp.status
        )
        return err

    def translate(self, exc: BaseException) -> SourceError:
        """A connection failure as a message a user can act on."""
        where = self.socket_path or self.docker_host
        os_error = getattr(exc, "os_error", None)
        cause = os_error if isinstance(os_error, OSError) else exc
        if isinstance(cause, FileNotFoundError):
            return SourceError(
                f"Docker socket {where} not found: is the engine running? "
                "(point --docker-host or DOCKER_HOST at it)"
            )
        if isinstance(cause, PermissionError):
            return SourceError(permission_message(where))
        if isinstance(cause, ConnectionRefusedError):
            return SourceError(f"the engine at {where} refused the connection: is it running?")
        if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
            return SourceError(f"lost the connection to the engine at {where}; reconnecting")
        return SourceError(f"cannot talk to the engine at {where}: {exc or type(exc).__name__}")


def permission_message(path: str) -> str:
    """What to do about EACCES on the socket: name the group that grants access."""
    try:
        group = grp.getgrgid(os.stat(path).st_gid).gr_name
    except (OSError, KeyError):
        group = "docker"
    return (
        f"permission denied on the Docker socket {path}: members of group '{group}' may use it "
        f"(add this user with: usermod -aG {group} $USER, then log in again)"
    )
