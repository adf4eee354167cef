"""tailcast.server: a Server opens its history store first and closes it last."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tailcast.config import SourceSpec, parse_source
from tailcast.errors import ConfigError
from tailcast.history.store import HistoryStore
from tailcast.server import Server
from tests.harness import ServerHarness, make_config, publish_texts


async def test_without_a_data_dir_the_private_store_goes_at_stop() -> None:
    server = Server(make_config(), sources=[])
    root = server.store.root
    assert server.store.private
    assert root.is_dir() and (root / "lock").exists()
    await server.start()
    stream = server.hub.add_stream("app", "stdin")
    publish_texts(server.hub, stream, ["one", "two"])
    assert list((root / "streams" / "app").glob("*.log"))
    await server.stop()
    assert not root.exists()


async def test_a_data_dir_is_kept_and_its_lock_released_at_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = make_config(data_dir=str(data_dir))
    server = Server(config, sources=[])
    assert server.store.root == data_dir.absolute() and not server.store.private
    await server.start()
    stream = server.hub.add_stream("app", "stdin")
    publish_texts(server.hub, stream, ["one", "two"])
    # While it runs, the data dir is its own.
    with pytest.raises(ConfigError, match="another tailcast"):
        HistoryStore.open(data_dir)
    await server.stop()
    assert list((data_dir / "streams" / "app").glob("*.log"))
    # Stopped: the lock is free, the history there for the next server.
    again = Server(config, sources=[])
    try:
        kept = again.hub.add_stream("app", "stdin")
        assert (kept.epoch, kept.last_seq) == (stream.epoch, 2)
    finally:
        again.store.close()


def test_a_data_dir_that_cannot_be_made_is_a_config_error(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("")
    with pytest.raises(ConfigError, match=r"^--data-dir .*/file/data: cannot create it: ") as err:
        Server(make_config(data_dir=str(regular / "data")), sources=[])
    assert err.value.option == "--data-dir"


def test_a_failing_build_closes_the_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bogus = SourceSpec(raw="bogus:x", kind="bogus", name="x")
    with pytest.raises(KeyError):
        Server(make_config(data_dir=str(data_dir), sources=(bogus,)))
    # The lock was released: another store opens the same dir.
    HistoryStore.open(data_dir).close()


async def test_statistics_show_the_store_and_a_second_stop_is_harmless(
    tmp_path: Path, start_server: Callable[..., Any]
) -> None:
    source_file = tmp_path / "app.log"
    source_file.write_text("")
    config = make_config(data_dir=str(tmp_path / "data"), sources=(parse_source(str(source_file)),))
    h: ServerHarness = await start_server(config)
    statistics = h.server.statistics()
    assert statistics["history"]["data_dir"] == str((tmp_path / "data").absolute())
    assert set(statistics["history"]["streams"]) == set(h.hub.streams)
    await h.stop()
    # The fixture's teardown stops it again: that must be harmless.
    assert (tmp_path / "data" / "lock").exists()
