"""tailcast.commands.limits: the soft open-files limit raised toward the hard one.

Run in a child process under ``prlimit``, so that this test process keeps its
own limits.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

CODE = (
    "import resource; from tailcast.commands.limits import raise_nofile; "
    "print(*raise_nofile(), *resource.getrlimit(resource.RLIMIT_NOFILE))"
)


def _run(nofile: str) -> list[int]:
    if shutil.which("prlimit") is None:
        pytest.fail("prlimit is missing: install the Debian package util-linux")
    done = subprocess.run(
        ["prlimit", f"--nofile={nofile}", "--", sys.executable, "-c", CODE],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [int(x) for x in done.stdout.split()]


def test_soft_raised_to_hard() -> None:
    assert _run("256:2048") == [256, 2048, 2048, 2048]


def test_soft_already_at_hard_stays() -> None:
    assert _run("512:512") == [512, 512, 512, 512]
