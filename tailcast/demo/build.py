"""The demo's ``cmd:`` source: a fake build that runs again and again.

It prints what a real build prints on a terminal: ANSI colours, ``[ 42%]``
progress, compiler warnings on standard error, a ``Linking ...`` line whose
dots arrive one at a time (a partial line, continued later), test results,
then waits for the next "change". ``--once`` runs one build and exits with
its status (1 when a test failed), for a ``--restart`` demo.
"""

from __future__ import annotations

import random
import sys
import time

from tailcast.demo.fake import DIM, RESET, build_steps

__all__ = ["run_builds"]


def run_builds(*, once: bool = False, seed: int | None = None, speed: float = 1.0) -> int:
    """Print builds until interrupted; with ``once``, one build and its status."""
    rng = random.Random(seed)
    number = 0
    try:
        while True:
            number += 1
            failed = False
            for chunk in build_steps(rng, number):
                # Pacing the fake output like a real build; not synchronisation.
                time.sleep(chunk.pause / speed)
                out = sys.stderr if chunk.fd == "err" else sys.stdout
                out.write(chunk.text)
                # Flush every chunk: output to a pipe is block-buffered, and
                # the point is to show it as it is produced.
                out.flush()
                failed = failed or "failed" in chunk.text
            if once:
                return 1 if failed else 0
            wait = rng.uniform(6.0, 15.0) / speed
            sys.stdout.write(f"{DIM}watching for changes (next build in {wait:.0f}s){RESET}\n\n")
            sys.stdout.flush()
            time.sleep(wait)
    except (KeyboardInterrupt, BrokenPipeError):
        return 130 if not once else 1
