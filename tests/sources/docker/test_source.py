"""DockerSource against a real engine: ``docker:NAME`` waiting for its container,
``docker:*`` and ``label=`` picking up new ones, a restart continuing a stream.

The engine (Podman's Docker-API service) comes from ``conftest.py``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tailcast.sources.docker.source import DockerSource
from tests.helpers import apoll, ws_connect
from tests.sources.docker.conftest import (
    DEADLINE,
    Api,
    Engine,
    lines_of,
    serve,
    texts,
    unique,
    until_state,
)

pytestmark = pytest.mark.timeout(120)


async def test_waiting_then_stdout_and_stderr_labelled_and_exit_code(
    engine: Engine, api: Api, start_server: Any, session: aiohttp.ClientSession
) -> None:
    name = unique("labels")
    h = await serve(start_server, engine, f"docker:{name}")
    stream = h.hub.streams[name]
    await apoll(
        lambda: stream.state == "waiting" and "not found yet" in str(stream.state_extra),
        timeout=DEADLINE,
    )
    ws = await ws_connect(session, h.ws_url + f"?streams={name}&tail=0")
    await ws.recv_type("hello")
    await api.run("echo out1; echo err1 >&2; sleep 0.3; echo out2; exit 3", name=name)
    await until_state(stream, "exited")
    got = await ws.wait_lines(name, 3)
    expected = [("out1", "out"), ("err1", "err"), ("out2", "out")]
    # Each fd's lines keep their order; across the two, the engine's log has them
    # in the order its reader (conmon) read them: out2 before err1 if it looked at
    # neither pipe during the 0.3 s between them.
    assert sorted((x["text"], x["fd"]) for x in got) == sorted(expected)
    assert [x["text"] for x in got if x["fd"] == "out"] == ["out1", "out2"]
    assert [x["seq"] for x in got] == [1, 2, 3]
    # ts is the engine's own timestamp (Podman: whole seconds).
    assert all(x["ts"] == int(x["ts"]) for x in got)
    assert stream.state_extra["exit_code"] == 3
    assert stream.detail["container"] == name
    await ws.ws.close()


async def test_docker_star_and_label_pick_up_new_containers(
    engine: Engine, api: Api, start_server: Any, session: aiohttp.ClientSession
) -> None:
    app = unique("shop")
    h = await serve(start_server, engine, "docker:*", f"docker:label=app={app}")
    await apoll(lambda: h.hub.streams["docker"].state == "live", timeout=DEADLINE)
    ws = await ws_connect(session, h.ws_url + "?streams=*&tail=0")
    await ws.recv_type("hello")
    labelled, other = unique("web"), unique("db")
    await api.run("echo labelled; sleep 0.5", name=labelled, labels={"app": app})
    await api.run("echo other; sleep 0.5", name=other)
    names: set[str] = set()
    while not {labelled, other, f"{labelled}-2"} <= names:
        frame = await ws.recv_type("streams", timeout=DEADLINE)
        names |= {s["id"] for s in frame["streams"]}
    for sid in (labelled, f"{labelled}-2", other):
        await until_state(h.hub.streams[sid], "exited")
    assert texts(h.hub.streams[labelled]) == ["labelled"]
    assert texts(h.hub.streams[f"{labelled}-2"]) == ["labelled"]
    assert texts(h.hub.streams[other]) == ["other"]
    # Only the one with the label went to the label source (the two sources
    # attach in either order, so the stream ids may be either).
    star, label = h.server.sources
    assert isinstance(star, DockerSource) and isinstance(label, DockerSource)
    assert [t.stream.detail["container"] for t in label.tracked.values()] == [labelled]
    assert {t.stream.detail["container"] for t in star.tracked.values()} >= {labelled, other}
    await ws.ws.close()


async def test_a_restarted_container_continues_its_stream(
    engine: Engine, api: Api, start_server: Any
) -> None:
    name = unique("again")
    # The container's own filesystem survives a restart: count the runs there.
    script = "n=$(cat /tmp/n 2>/dev/null || echo 0); echo run $n; echo $((n+1)) >/tmp/n"
    cid = await api.create(script, name=name)
    h = await serve(start_server, engine, f"docker:{name}")
    stream = h.hub.streams[name]
    await api.start(cid)
    await apoll(lambda: stream.state == "exited" and len(stream.ring) == 1, timeout=DEADLINE)
    await api.start(cid)
    await apoll(lambda: stream.state == "exited" and len(stream.ring) == 2, timeout=DEADLINE)
    got = lines_of(stream)
    assert [x["seq"] for x in got] == [1, 2]
    assert texts(stream) == ["run 0", "run 1"]
    assert stream.state_extra["exit_code"] == 0
