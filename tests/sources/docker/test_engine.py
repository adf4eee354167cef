"""The engine client: a missing socket named in the error (then recovering), a
``tcp://`` host, and what EACCES on the socket tells the user.

The real engine comes from ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from tailcast.config import parse_source
from tailcast.sources.docker.engine import permission_message
from tests.harness import make_config
from tests.helpers import apoll
from tests.sources.docker.conftest import (
    DEADLINE,
    Api,
    Engine,
    texts,
    unique,
    until_state,
)

pytestmark = pytest.mark.timeout(120)


async def test_socket_missing_is_an_error_naming_it_then_recovers(
    engine: Engine, api: Api, start_server: Any, tmp_path: Path
) -> None:
    link = tmp_path / "docker.sock"
    name = unique("late")
    cfg = make_config(docker_host=f"unix://{link}", flush_delay=0.1)
    h = await start_server(cfg, specs=(parse_source(f"docker:{name}"),))
    stream = h.hub.streams[name]
    await until_state(stream, "error")
    assert str(link) in stream.state_extra["message"]
    assert "not found" in stream.state_extra["message"]
    link.symlink_to(engine.socket)
    await apoll(lambda: stream.state == "waiting", timeout=DEADLINE)
    await api.run("echo finally", name=name)
    await until_state(stream, "exited")
    assert texts(stream) == ["finally"]


async def test_tcp_docker_host(engine: Engine, api: Api, start_server: Any) -> None:
    # The engine listens only on its unix socket (in its own network
    # namespace): a byte relay on loopback gives it a tcp:// address.
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_unix_connection(engine.socket)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        name = unique("tcp")
        cfg = make_config(docker_host=f"tcp://127.0.0.1:{port}", flush_delay=0.1)
        h = await start_server(cfg, specs=(parse_source(f"docker:{name}"),))
        stream = h.hub.streams[name]
        await until_state(stream, "waiting")
        await api.run("echo over tcp", name=name)
        await until_state(stream, "exited")
        assert texts(stream) == ["over tcp"]
    finally:
        server.close()


@pytest.mark.timeout(60)
async def test_permission_denied_names_the_group_that_grants_access(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        group = grp.getgrnam("daemon")
        os.chown(path, -1, group.gr_gid)
        message = permission_message(str(path))
    assert str(path) in message
    assert "group 'daemon'" in message
    assert "usermod -aG daemon" in message
