"""tailcast.multihost.client: the --redis URL, redis-py (optional) and its replies."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tailcast.errors import ConfigError
from tailcast.multihost import client
from tests.helpers import apoll, texts, ws_connect
from tests.multihost.conftest import RedisServer, closed_port, web_config


async def test_each_server_program_is_the_one_its_tests_are_named_for(
    redis_server: RedisServer, redis_program: str
) -> None:
    """The suite's [valkey] runs talk to Valkey, its [redis] runs to Redis (INFO says which)."""
    r: Any = client.connect(redis_server.url)
    try:
        info = await r.info("server")
    finally:
        await r.aclose()
    assert info.get("server_name", "redis") == redis_program
    assert ("valkey_version" in info) == (redis_program == "valkey")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:pw@h/1?ssl_ca_certs=/ca.pem", "rediss://user:***@h/1?ssl_ca_certs=/ca.pem"),
        ("redis://h:6379", "redis://h:6379"),
    ],
)
def test_redact_hides_the_password_only(url: str, shown: str) -> None:
    assert client.redact(url) == shown


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("bad://x", "is not a redis://, rediss:// or unix:// URL"),
        ("http://:pw@h", "is not a redis://"),
        ("redis://", "names no host"),
        ("unix://", "needs a socket path"),
        ("redis://h:port", "has a bad port"),
    ],
)
def test_check_url_refuses_naming_the_option(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        client.check_url(url)
    assert info.value.option == "redis"
    assert str(info.value).startswith("--redis") and says in str(info.value)
    assert ":pw@" not in str(info.value)


def test_check_url_accepts_the_three_schemes() -> None:
    for url in ("redis://h:1/0", "rediss://:pw@h", "unix:///run/redis.sock"):
        client.check_url(url)


def test_without_redis_py_using_it_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("redis", "redis.asyncio", "redis.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)
    uses: list[Callable[[], Any]] = [
        lambda: client.check_url("redis://h"),
        lambda: client.connect("redis://h"),
        client.redis_exceptions,
        client.redis_errors,
    ]
    for use in uses:
        with pytest.raises(ConfigError, match=r"pip install 'tailcast\[redis\]'") as info:
            use()
        assert info.value.option == "redis"


def test_without_redis_py_every_module_still_imports() -> None:
    """Only using --redis needs redis-py: importing tailcast's modules does not."""
    code = (
        "import sys\n"
        "for name in ('redis', 'redis.asyncio', 'redis.exceptions'):\n"
        "    sys.modules[name] = None\n"
        "import json, tailcast.server, tailcast.cli\n"
        "import tailcast.multihost.keys, tailcast.multihost.client, tailcast.multihost.reconnect\n"
        "import tailcast.multihost.publisher, tailcast.multihost.mirror, tailcast.multihost.roles\n"
        "from tailcast.errors import ConfigError\n"
        "try:\n"
        "    tailcast.multihost.client.check_url('redis://h')\n"
        "except ConfigError as exc:\n"
        "    print(json.dumps(str(exc)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "tailcast[redis]" in json.loads(result.stdout)


async def test_check_reachable_unreachable_and_wrong_password(
    redis_factory: Callable[..., RedisServer],
) -> None:
    with closed_port() as port, pytest.raises(ConfigError, match="cannot reach") as info:
        await client.check_reachable(f"redis://127.0.0.1:{port}")
    assert info.value.option == "redis"
    server = redis_factory(password="s3cret-pw")
    await client.check_reachable(server.url)
    with pytest.raises(ConfigError, match="authentication failed") as info:
        await client.check_reachable(server.url.replace("s3cret-pw", "wrong-pw"))
    assert "wrong-pw" not in str(info.value)


async def test_reply_helpers_against_redis(redis_server: RedisServer) -> None:
    r = client.connect(redis_server.url)
    try:
        for seq in (1, 2, 3):
            await r.xadd("s", {b"l": b"%d" % seq}, id=f"{seq}-0")
        await r.hset("h", b"k", b"v")
        assert [e[0] for e in await client.newest(r, "s", 2)] == [b"3-0", b"2-0"]
        assert await client.newest(r, "missing", 2) == []
        assert await client.hgetall(r, "h") == {b"k": b"v"}
        reply = await client.xread(r, {b"s": b"1-0"}, 10, 10)
        assert client.xread_items(reply) == [
            (b"s", [(b"2-0", {b"l": b"2"}), (b"3-0", {b"l": b"3"})])
        ]
    finally:
        await r.aclose()


def test_xread_items_reads_resp2_and_resp3() -> None:
    entries = [(b"1-0", {b"l": b"x"})]
    assert client.xread_items(None) == []
    assert client.xread_items([[b"k", entries]]) == [(b"k", entries)]
    assert client.xread_items({b"k": [entries]}) == [(b"k", entries)]


@pytest.mark.redis_tls
async def test_tls_and_password_from_the_url(
    redis_factory: Callable[..., RedisServer],
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    """rediss:// with a CA file and a password: the same path, encrypted."""
    redis = redis_factory(password="tls-pw", tls=True)
    assert redis.url.startswith("rediss://:tls-pw@")
    a = await start_agent(redis.url, "secure")
    a.write(a.hub.streams["secure"], 20)
    w = await start_server(web_config(redis.url))
    await apoll(lambda: "secure" in w.hub.streams)
    client = await ws_connect(session, w.ws_url)
    await client.send({"type": "subscribe", "streams": ["secure"], "since": {"secure": 0}})
    lines = await client.wait_lines("secure", 20)
    assert texts(lines) == [f"secure {n}" for n in range(1, 21)]
