"""What aiofiles would cost the file follower: one wake-up, done two ways.

    pip install aiofiles        # only for this benchmark; tailcast does not use it
    python bench/aiofiles_cost.py [--files 1 10 100] [--rounds 2000]

A wake-up of the file follower (tailcast/sources/file/source.py) looks at
every file that changed: ``stat`` the path (rotated? truncated?), ``fstat``
the open descriptor, ``pread`` the new bytes. Here ``--files`` files each get
one new 100-byte line per round, and each round is read

- **as tailcast does**: every call of the wake-up, for every file, in *one*
  ``run_in_executor`` call (one hop to a worker thread and back);
- **with aiofiles**: ``await aiofiles.os.stat(path)``, ``await
  aiofiles.os.stat(fd)`` (fstat) and ``await f.read()`` on an
  ``aiofiles.open`` file kept open: each an awaited hop of its own.

Printed per wake-up: the wall time (what a line waits) and the process's CPU
time (user + system, all threads). Files in a temporary directory; nothing
else is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LINE = b"x" * 99 + b"\n"


def _grow(paths: list[Path]) -> None:
    for path in paths:
        with path.open("ab") as f:
            f.write(LINE)


def _one_hop(paths: list[Path], fds: list[int], offsets: list[int]) -> int:
    """The blocking part of a tailcast wake-up, for every file (in a worker thread)."""
    got = 0
    for i, (path, fd) in enumerate(zip(paths, fds, strict=True)):
        os.stat(path)
        size = os.fstat(fd).st_size
        data = os.pread(fd, size - offsets[i], offsets[i])
        offsets[i] += len(data)
        got += len(data)
    return got


async def tailcast_way(paths: list[Path], rounds: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    fds = [os.open(p, os.O_RDONLY) for p in paths]
    offsets = [os.fstat(fd).st_size for fd in fds]
    wall = cpu = 0.0
    try:
        for _ in range(rounds):
            _grow(paths)
            t0, c0 = time.perf_counter(), time.process_time()
            got = await loop.run_in_executor(None, _one_hop, paths, fds, offsets)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            assert got == len(LINE) * len(paths)
    finally:
        for fd in fds:
            os.close(fd)
    return wall / rounds, cpu / rounds


async def aiofiles_way(paths: list[Path], rounds: int) -> tuple[float, float]:
    import aiofiles  # type: ignore[import-untyped]  # (no stubs installed: tailcast does not use it)
    import aiofiles.os  # type: ignore[import-untyped]

    files: list[Any] = [await aiofiles.open(p, "rb") for p in paths]
    for f in files:
        await f.seek(0, os.SEEK_END)
    wall = cpu = 0.0
    try:
        for _ in range(rounds):
            _grow(paths)
            t0, c0 = time.perf_counter(), time.process_time()
            got = 0
            for path, f in zip(paths, files, strict=True):
                await aiofiles.os.stat(path)
                await aiofiles.os.stat(f.fileno())
                got += len(await f.read())
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            assert got == len(LINE) * len(paths)
    finally:
        for f in files:
            await f.close()
    return wall / rounds, cpu / rounds


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    try:
        import aiofiles  # noqa: F401
    except ImportError:
        sys.exit("bench/aiofiles_cost.py: pip install aiofiles (for this benchmark only)")
    with tempfile.TemporaryDirectory() as tmp:
        print("files  way        wall µs/wake-up  CPU µs/wake-up")
        for count in args.files:
            paths = [Path(tmp) / f"f{count}-{i}.log" for i in range(count)]
            for p in paths:
                p.write_bytes(b"")
            rounds = max(50, args.rounds // count)
            for name, way in (("tailcast", tailcast_way), ("aiofiles", aiofiles_way)):
                best = min([await way(paths, rounds) for _ in range(3)])
                print(f"{count:5d}  {name:9s}  {best[0] * 1e6:15.0f}  {best[1] * 1e6:14.0f}")


if __name__ == "__main__":
    asyncio.run(main())
