"""A command across a restart with the same data dir: it runs again, its numbering goes on.

A command has nothing to read on from: the new run's output is new lines. What
must hold is the stream: same id, same epoch, seqs after the previous run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from pathlib import Path

from tailcast.config import SourceSpec
from tailcast.history.store import HistoryStore
from tailcast.hub import Hub, decode_line
from tailcast.sources.process.source import ProcessSource
from tests.harness import make_config
from tests.helpers import apoll

# One print() of one string per line: print('line', n) is four write()s (unbuffered),
# and a child paused between them past --flush-delay shows the line as two pieces.
CODE = "import sys; [print(f'line {n}') for n in range(1, 4)]"


def spec() -> SourceSpec:
    argv = (sys.executable, "-c", CODE)
    return SourceSpec(f"cmd:{shlex.join(argv)}", "process", "job", argv=argv)


async def run_once(data_dir: Path) -> tuple[str, list[tuple[int, str]]]:
    """Run the command to its exit on a hub with a store; its epoch and every kept line."""
    store = HistoryStore.open(data_dir)
    hub = Hub(1000, store=store)
    source = ProcessSource(spec(), hub, make_config(flush_delay=0.05))
    task = asyncio.create_task(source.run())
    try:
        await apoll(lambda: source.stream.state == "exited")
        stream = source.stream
        _, lines = stream.lines_after(0)
        decoded = [decode_line(b) for b in lines]
        return stream.epoch, [(d["seq"], d["text"]) for d in decoded]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.close()
        store.close()


async def test_a_command_run_again_numbers_on_in_the_same_epoch(tmp_path: Path) -> None:
    data = tmp_path / "data"
    epoch, first = await run_once(data)
    assert first == [(1, "line 1"), (2, "line 2"), (3, "line 3")]
    again, both = await run_once(data)
    assert again == epoch
    assert both == [*first, (4, "line 1"), (5, "line 2"), (6, "line 3")]


async def test_another_command_under_the_same_name_starts_afresh(tmp_path: Path) -> None:
    data = tmp_path / "data"
    epoch, _ = await run_once(data)
    other = SourceSpec("cmd:true", "process", "job", argv=("true",))
    store = HistoryStore.open(data)
    try:
        source = ProcessSource(other, Hub(1000, store=store), make_config())
        # Not the same SOURCE: not its history.
        assert source.stream.epoch != epoch
        assert source.stream.last_seq == 0
    finally:
        store.close()
