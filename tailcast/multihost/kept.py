"""Multi-host mode, what a web node keeps of the streams it mirrors besides their lines.

The lines of a mirrored stream are in the node's history store like any
stream's (:meth:`~tailcast.hub.Hub.adopt_stream`: on disk, under the agent's
epoch and numbers). What the store does not hold is the stream's record
(name, kind, detail, state, its Redis key): :class:`KeptRecords` keeps those
in ``DATA/mirror.json`` (``{id: record}``), written whole and atomically (a
temporary file, then a rename) whenever a record changes. A web node started
again with the same ``--data-dir`` reads it first and serves every stream it
kept lines of before Redis says anything: so a stream that Redis lost
(``FLUSHALL``, a restart without persistence) while its agent is away is
still served as kept, and mirroring goes on from the last seq kept.

No fsync: a process kill loses nothing written; a power loss may lose the
newest change, which the next read of Redis's ``streams`` hash restores.
A failing disk is logged, never raised: mirroring does not stop for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from tailcast.multihost.keys import StreamRecord

__all__ = ["FILE_NAME", "KeptRecords"]

log = logging.getLogger("tailcast.redis.mirror")

FILE_NAME = "mirror.json"


class KeptRecords:
    """The records of the mirrored streams, in ``path`` (None: kept nowhere)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._records: dict[str, bytes] = {}

    def load(self) -> list[StreamRecord]:
        """The records saved by the previous run (none when missing or unreadable)."""
        if self.path is None:
            return []
        try:
            body = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("%s: not readable (%s); mirroring starts from Redis alone", self.path, exc)
            return []
        found: list[StreamRecord] = []
        for raw in body.values() if isinstance(body, dict) else ():
            try:
                record = StreamRecord.loads(json.dumps(raw))
            except (ValueError, KeyError, TypeError):
                continue  # one damaged record costs that stream's restore, not the others'
            found.append(record)
            self._records[record.id] = record.dumps()
        return found

    def put(self, record: StreamRecord) -> None:
        """Keep ``record`` (written only when it changed)."""
        data = record.dumps()
        if self._records.get(record.id) != data:
            self._records[record.id] = data
            self._save()

    def remove(self, stream_id: str) -> None:
        if self._records.pop(stream_id, None) is not None:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        body = b"{" + b",".join(json.dumps(k).encode() + b":" + v for k, v in self._records.items())
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(body + b"}")
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            log.warning("%s: not written (%s); streams may not be restored", self.path, exc)
