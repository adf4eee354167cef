"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): top self and total.

Usage: ``python bench/profsum.py PROFILE.raw [N]``
"""

from __future__ import annotations

import sys
from collections import Counter


def main(path: str, top: int = 25) -> None:
    self_t: Counter[str] = Counter()
    total_t: Counter[str] = Counter()
    samples = 0
    with open(path) as f:
        for row in f:
            stack, _, count = row.rstrip("\n").rpartition(" ")
            n = int(count)
            samples += n
            frames = stack.split(";")
            self_t[frames[-1]] += n
            for fr in set(frames):
                total_t[fr] += n
    print(f"{samples} samples")
    for title, counter in (("self", self_t), ("total", total_t)):
        print(f"-- {title}")
        for fr, n in counter.most_common(top):
            print(f"{100 * n / samples:6.1f}%  {fr}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25)
