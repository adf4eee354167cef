"""``python -m tailcast.demo [run|write|build|samples] ...``: see :mod:`tailcast.demo`."""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from tailcast.demo.build import run_builds
from tailcast.demo.fake import access_line, app_line, build_steps
from tailcast.demo.runner import run_demo
from tailcast.demo.writer import ACCESS_LOG, APP_LOG, BUILD_LOG, Writer

# The committed sample logs end at this time (2025-11-21 09:00:00 UTC), so
# that regenerating them with the same seed gives the same files.
SAMPLES_END = 1763715600.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tailcast.demo", description=__doc__)
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="the whole demo (the default)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, help="default 8080, or a free port if it is taken")
    run.add_argument("--samples", metavar="DIR", help="where the sample logs are")
    run.add_argument("--new-file-after", type=float, default=15.0, metavar="SECONDS")
    run.add_argument("--speed", type=float, default=1.0, help="scale every rate")
    write = sub.add_parser("write", help="append to the demo logs in DIR")
    write.add_argument("folder", metavar="DIR")
    write.add_argument("--seed", type=int)
    write.add_argument("--speed", type=float, default=1.0)
    write.add_argument("--new-file-after", type=float, default=15.0, metavar="SECONDS")
    write.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    write.add_argument("--parent", type=int, metavar="PID", help="stop when this parent is gone")
    build = sub.add_parser("build", help="the fake build")
    build.add_argument("--once", action="store_true", help="one build; exit with its status")
    build.add_argument("--seed", type=int)
    build.add_argument("--speed", type=float, default=1.0)
    samples = sub.add_parser("samples", help="(re)generate the sample logs in DIR")
    samples.add_argument("folder", metavar="DIR")
    samples.add_argument("--seed", type=int, default=1)
    return p


def write_samples(folder: Path, seed: int) -> None:
    """The committed ``sample_logs/``: a few hundred lines of each kind."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    span = 3600.0
    stamps = sorted(SAMPLES_END - rng.uniform(0, span) for _ in range(400))
    (folder / ACCESS_LOG).write_text("".join(access_line(rng, t) + "\n" for t in stamps))
    stamps = sorted(SAMPLES_END - rng.uniform(0, span) for _ in range(300))
    (folder / APP_LOG).write_text("".join(app_line(rng, t) + "\n" for t in stamps))
    text = ""
    number = 0
    while text.count("\n") < 300:
        number += 1
        text += "".join(chunk.text for chunk in build_steps(rng, number)) + "\n"
    (folder / BUILD_LOG).write_text(text)


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        args.insert(0, "run")
    ns = _parser().parse_args(args)
    if ns.command == "run":
        return run_demo(
            host=ns.host,
            port=ns.port,
            samples=ns.samples,
            new_file_after=ns.new_file_after,
            speed=ns.speed,
        )
    signal.signal(signal.SIGTERM, _sigterm)
    if ns.command == "write":
        writer = Writer(
            Path(ns.folder),
            seed=ns.seed,
            speed=ns.speed,
            new_file_after=ns.new_file_after,
            parent=ns.parent,
        )
        return writer.run(ns.duration)
    if ns.command == "build":
        return run_builds(once=ns.once, seed=ns.seed, speed=ns.speed)
    started = time.monotonic()
    write_samples(Path(ns.folder), ns.seed)
    print(f"sample logs written to {ns.folder} in {time.monotonic() - started:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
