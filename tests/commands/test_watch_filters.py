"""``tailcast watch --filter/--regex/--level/--json`` against a real server on loopback."""

from __future__ import annotations

import json
import subprocess

from tests.commands.test_watch import serve, watching  # noqa: F401  (the fixture, the runner)
from tests.harness import publish_texts
from tests.helpers import tailcast_cmd
from tests.web.conftest import Serve

LINES = ["INFO:root:a", "ERROR:root:boom", "  detail of boom", "WARNING:root:slow", "INFO:root:zzz"]


async def test_level_and_json(serve: Serve) -> None:  # noqa: F811
    h = await serve()
    publish_texts(h.hub, h.hub.streams["app"], LINES)
    async with watching(h.url, "--stream", "app", "--level", "error", "--json") as w:
        out = await w.wait_out(2)
        objs = [json.loads(line) for line in out[:2]]
        assert [o["text"] for o in objs] == ["ERROR:root:boom", "  detail of boom"]
        assert all(o["stream"] == "app" and o["level"] == "error" for o in objs)
        assert objs[1]["follows"] is True and objs[0]["seq"] == 2
        publish_texts(h.hub, h.hub.streams["app"], ["WARNING:root:x", "ERROR:root:live one"])
        out = await w.wait_out(3)
        assert json.loads(out[2])["text"] == "ERROR:root:live one"


async def test_filter_regex(serve: Serve) -> None:  # noqa: F811
    h = await serve()
    publish_texts(h.hub, h.hub.streams["app"], LINES)
    async with watching(h.url, "--stream", "app", "--filter", r"^\w+:root:[az]$", "--regex") as w:
        assert (await w.wait_out(1))[:1] == ["INFO:root:a"]
        publish_texts(h.hub, h.hub.streams["app"], ["INFO:root:z", "INFO:root:b"])
        out = await w.wait_out(2)
        assert out[:2] == ["INFO:root:a", "INFO:root:z"]


def test_bad_filter_options_exit_2() -> None:
    for args in (["--filter", "(", "--regex"], ["--level", "loud"], ["--regex"]):
        cmd = tailcast_cmd("watch", "http://127.0.0.1:9/", *args)
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 2, args
        err = result.stderr.strip().splitlines()
        assert len(err) == 1 and (
            "--filter" in err[0] or "--level" in err[0] or "--regex" in err[0]
        )
