"""Share links: read-only access to some streams for a while, and who is asking.

A :class:`Principal` is who a request or a client is: the owner (the full
token; every stream) or one share (only its streams). :class:`ShareStore`
holds the shares: an id, a token from :func:`secrets.token_urlsafe`, the
stream ids, an expiry (UNIX time). Only the token's SHA-256 is kept — in
memory and on disk — so the file in the data dir does not hand out working
links; a presented token is hashed and compared in constant time
(:func:`hmac.compare_digest`) with every live share's hash.

With a data dir the shares are kept in ``DATA_DIR/shares.json``, written
atomically (write, fsync, rename, fsync of the folder) at every change and
read back at start, so a link keeps working across a restart. A file that
cannot be read as shares is set aside and the server starts with none: it
fails closed, never open. Without a data dir the shares live in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FILE_NAME",
    "MAX_EXPIRES_IN",
    "MAX_SHARES",
    "OWNER",
    "Principal",
    "Share",
    "ShareStore",
]

log = logging.getLogger("tailcast.shares")

FILE_NAME = "shares.json"
# Live shares at once: every check of a share token compares with each.
MAX_SHARES = 1000
# A share lasts at most a year: a link is meant for "one afternoon".
MAX_EXPIRES_IN = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the owner (``share is None``) or one share and its streams."""

    share: str | None = None
    streams: frozenset[str] | None = None  # None: every stream

    @property
    def is_owner(self) -> bool:
        return self.share is None

    def sees(self, stream_id: str) -> bool:
        return self.streams is None or stream_id in self.streams


OWNER = Principal()


@dataclass(frozen=True, slots=True)
class Share:
    """One share link (its token is known only to whoever created it)."""

    id: str
    digest: str  # SHA-256 of the token, hex
    streams: tuple[str, ...]
    expires: float
    created: float

    @property
    def principal(self) -> Principal:
        return Principal(self.id, frozenset(self.streams))

    def info(self) -> dict[str, Any]:
        """The share as ``GET /api/shares`` lists it: no token, no hash."""
        return {
            "id": self.id,
            "streams": list(self.streams),
            "expires": self.expires,
            "created": self.created,
        }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class ShareStore:
    """The shares of one server; kept in ``folder`` when there is one."""

    def __init__(self, folder: Path | None, clock: Callable[[], float] = time.time) -> None:
        self._path = folder / FILE_NAME if folder is not None else None
        self._clock = clock
        self._shares: dict[str, Share] = {}
        if self._path is not None:
            self._load(self._path)

    # -- creating and ending ---------------------------------------------------------

    def create(self, streams: Iterable[str], expires_in: float) -> tuple[Share, str]:
        """A new share and its token (the only time the token is known)."""
        self.prune()
        if len(self._shares) >= MAX_SHARES:
            raise OverflowError(f"{MAX_SHARES} shares exist already; revoke some first")
        token = secrets.token_urlsafe(32)
        now = self._clock()
        share = Share(
            id=secrets.token_hex(6),
            digest=_digest(token),
            streams=tuple(dict.fromkeys(streams)),
            expires=round(now + expires_in, 3),
            created=round(now, 3),
        )
        self._shares[share.id] = share
        self._save()
        return share, token

    def revoke(self, share_id: str) -> bool:
        """End a share at once; ``False`` if there is no such live share."""
        share = self._shares.pop(share_id, None)
        if share is None:
            return False
        self._save()
        return share.expires > self._clock()

    def prune(self) -> list[str]:
        """Forget expired shares; their ids."""
        now = self._clock()
        gone = [s.id for s in self._shares.values() if s.expires <= now]
        for share_id in gone:
            del self._shares[share_id]
        if gone:
            self._save()
        return gone

    # -- checking --------------------------------------------------------------------

    def find(self, token: str) -> Share | None:
        """The live share whose token this is, compared in constant time with every one."""
        digest = _digest(token)
        now = self._clock()
        found: Share | None = None
        for share in list(self._shares.values()):
            # No early exit: the time taken does not say which share matched.
            if hmac.compare_digest(share.digest, digest) and share.expires > now:
                found = share
        return found

    def live(self, share_id: str) -> bool:
        share = self._shares.get(share_id)
        return share is not None and share.expires > self._clock()

    def get(self, share_id: str) -> Share | None:
        return self._shares.get(share_id) if self.live(share_id) else None

    def list(self) -> list[Share]:
        now = self._clock()
        return sorted(
            (s for s in self._shares.values() if s.expires > now), key=lambda s: s.created
        )

    # -- the file --------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            doc = json.loads(raw)
            shares = [
                Share(
                    id=str(s["id"]),
                    digest=str(s["digest"]),
                    streams=tuple(str(x) for x in s["streams"]),
                    expires=float(s["expires"]),
                    created=float(s["created"]),
                )
                for s in doc["shares"]
            ]
        except (ValueError, KeyError, TypeError) as exc:
            # Fail closed: no share from a file we cannot trust; keep it to look at.
            log.warning("%s: not a shares file (%s); starting with no shares", path, exc)
            with contextlib.suppress(OSError):
                os.replace(path, path.with_suffix(".json.damaged"))
            return
        self._shares = {s.id: s for s in shares}
        self.prune()

    def _save(self) -> None:
        if self._path is None:
            return
        doc = {
            "version": 1,
            "shares": [
                {
                    "id": s.id,
                    "digest": s.digest,
                    "streams": list(s.streams),
                    "expires": s.expires,
                    "created": s.created,
                }
                for s in self._shares.values()
            ],
        }
        tmp = self._path.with_name(f".{FILE_NAME}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            data = memoryview(json.dumps(doc, separators=(",", ":")).encode())
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
        # The rename itself is durable only once the folder is synced.
        dir_fd = os.open(self._path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
