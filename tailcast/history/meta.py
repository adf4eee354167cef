"""A stream's identity on disk: which source made its history, and under which epoch.

``FOLDER/meta.json`` is written atomically (a temporary file, fsync, rename), so
it is always either the old or the new version. A restart with the same
sources finds the same ``kind`` and ``source_key`` and so keeps the stream's
epoch and numbering; a different source under the same id starts afresh.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["META_NAME", "StreamMeta"]

META_NAME = "meta.json"


@dataclass
class StreamMeta:
    """What survives a restart besides the lines.

    ``epoch`` is None for a stream new to this data dir: the hub makes one and
    saves it with :meth:`tailcast.history.store.HistoryStore.save_meta`. The
    numbering itself is not here: it goes on from the log's ``last_seq``.
    """

    stream_id: str
    kind: str
    source_key: str
    epoch: str | None = None

    def same_source(self, other: StreamMeta) -> bool:
        return (self.stream_id, self.kind, self.source_key) == (
            other.stream_id,
            other.kind,
            other.source_key,
        )

    @classmethod
    def load(cls, folder: Path) -> StreamMeta | None:
        """The meta saved in ``folder``; None when missing or not readable as one."""
        try:
            body = json.loads((folder / META_NAME).read_bytes())
            meta = cls(
                stream_id=body["stream_id"],
                kind=body["kind"],
                source_key=body["source_key"],
                epoch=body.get("epoch"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        fields = (meta.stream_id, meta.kind, meta.source_key)
        if not all(isinstance(f, str) for f in fields):
            return None
        if meta.epoch is not None and not isinstance(meta.epoch, str):
            return None
        return meta

    def save(self, folder: Path) -> None:
        """Write atomically into ``folder`` (raises ``OSError``)."""
        temporary = folder / f".{META_NAME}.{os.getpid()}.tmp"
        data = json.dumps(asdict(self), separators=(",", ":")).encode()
        try:
            with temporary.open("wb") as file:
                file.write(data)
                file.flush()
                # Rare and small: made durable, so a power loss cannot leave an empty meta.
                os.fsync(file.fileno())
            os.replace(temporary, folder / META_NAME)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
