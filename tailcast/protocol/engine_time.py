"""The Docker Engine's log timestamps: RFC 3339 with up to nine fraction digits.

With ``timestamps=1`` every log record starts with one and a space:
``2024-05-01T10:00:00.123456789Z`` from Docker, whole seconds
(``2024-05-01T10:00:00Z``) from Podman. Times are kept as integer UNIX
nanoseconds so that equal timestamps compare equal (the resume logic in
:mod:`tailcast.protocol.engine_logs` counts records per timestamp).

This module imports no asyncio and no aiohttp (a test holds us to it).
"""

from __future__ import annotations

import calendar
import re

from tailcast.errors import ProtocolError

__all__ = [
    "MAX_TIMESTAMP",
    "NS_PER_SECOND",
    "TIMESTAMP_RE",
    "format_timestamp",
    "match_ns",
    "parse_timestamp",
]

NS_PER_SECOND = 1_000_000_000
# Longest timestamp prefix: 2024-05-01T10:00:00.123456789+00:00 and a space.
MAX_TIMESTAMP = 36
# A timestamp and the space after it: the prefix of every log record.
TIMESTAMP_RE = re.compile(
    rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) "
)


def parse_timestamp(text: bytes) -> int:
    """An engine timestamp (RFC 3339, optional fraction) as UNIX nanoseconds.

    Raises :class:`ProtocolError` for anything else.
    """
    m = TIMESTAMP_RE.fullmatch(text if text.endswith(b" ") else text + b" ")
    if m is None:
        raise ProtocolError(f"not an engine timestamp: {text[:MAX_TIMESTAMP]!r}")
    return match_ns(m)


def match_ns(m: re.Match[bytes]) -> int:
    """A :data:`TIMESTAMP_RE` match as UNIX nanoseconds; :class:`ProtocolError` if out of range."""
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ProtocolError(f"not an engine timestamp: {m.group(0)!r}")
    secs = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    frac = m.group(7) or b""
    nanos = int(frac.ljust(9, b"0")) if frac else 0
    zone = m.group(8)
    if zone != b"Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        secs -= offset if zone[:1] == b"+" else -offset
    return secs * NS_PER_SECOND + nanos


def format_timestamp(ts_ns: int, *, fraction: bool = True) -> bytes:
    """``ts_ns`` the way the engine writes it (Docker with, Podman without fraction)."""
    secs, nanos = divmod(ts_ns, NS_PER_SECOND)
    y, mo, d, h, mi, s = _gmtime(secs)
    text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
    if fraction and nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return (text + "Z").encode()


def _gmtime(secs: int) -> tuple[int, int, int, int, int, int]:
    # time.gmtime without importing time's clock functions into the pure layer.
    days, rest = divmod(secs, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    # Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day, hour, minute, second
