"""Real journal files for the tests: ``systemd-journal-remote`` fed the journal export format.

:class:`JournalWriter` runs ``/lib/systemd/systemd-journal-remote -o DIR/NAME.journal -``
(Debian's ``systemd-journal-remote`` package) and writes entries to its
standard input while it runs, so a source following ``DIR`` sees them arrive
as they would from journald. The export format: ``KEY=value`` lines, a blank
line after each entry; a binary value is ``KEY``, a newline, its length as a
64-bit little-endian number, the bytes and a newline.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["BOOT_ID", "JOURNAL_REMOTE", "JournalWriter", "export_entry", "have_journal_tools"]

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
BOOT_ID = "0123456789abcdef0123456789abcdef"


def have_journal_tools() -> bool:
    return Path(JOURNAL_REMOTE).exists() and shutil.which("journalctl") is not None


def _field(key: str, value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    if b"\n" in raw or not isinstance(value, str):
        return key.encode() + b"\n" + struct.pack("<Q", len(raw)) + raw + b"\n"
    return key.encode() + b"=" + raw + b"\n"


def export_entry(
    n: int,
    message: str | bytes,
    *,
    priority: int | None = 6,
    unit: str = "demo.service",
    ident: str = "demo",
    realtime_us: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> bytes:
    """One entry in the export format (``n`` is its monotonic time stamp, for order)."""
    us = int(time.time() * 1e6) if realtime_us is None else realtime_us
    fields: list[tuple[str, str | bytes]] = [
        ("__REALTIME_TIMESTAMP", str(us)),
        ("__MONOTONIC_TIMESTAMP", str(n + 1)),
        ("_BOOT_ID", BOOT_ID),
        ("_SYSTEMD_UNIT", unit),
        ("SYSLOG_IDENTIFIER", ident),
        ("MESSAGE", message),
    ]
    if priority is not None:
        fields.append(("PRIORITY", str(priority)))
    fields.extend((extra or {}).items())
    return b"".join(_field(k, v) for k, v in fields) + b"\n"


class JournalWriter:
    """A running ``systemd-journal-remote`` writing ``directory/name.journal``."""

    def __init__(self, directory: Path, name: str = "remote") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.journal"
        self.count = 0
        self.proc = subprocess.Popen(
            [JOURNAL_REMOTE, "-o", str(self.path), "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def write(self, message: str | bytes, **fields: object) -> None:
        self.write_raw([export_entry(self.count, message, **fields)])  # type: ignore[arg-type]

    def write_raw(self, entries: Iterable[bytes]) -> None:
        assert self.proc.stdin is not None
        for entry in entries:
            self.proc.stdin.write(entry)
            self.count += 1
        self.proc.stdin.flush()

    def close(self) -> str:
        """End of input: it writes the rest and exits; its standard error."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return err
