"""Sources: the I/O shells that read something and publish it into the hub.

Every source implements :class:`tailcast.sources.base.Source`. The kinds:

- ``stdin``: standard input (``-``), :mod:`tailcast.sources.stdin`;
- ``file`` / ``glob``: files followed like ``tail -F``, :mod:`tailcast.sources.file`;
- ``process``: a command's output, :mod:`tailcast.sources.process`;
- ``docker``: container logs over the Engine API, :mod:`tailcast.sources.docker`;
- ``journal``: the systemd journal through ``journalctl``, :mod:`tailcast.sources.journal`.

:func:`build_source` maps a parsed :class:`~tailcast.config.SourceSpec` to its
class, importing a kind's module only when it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub
    from tailcast.sources.base import Source

__all__ = ["build_source"]

# kind -> (module, class name). Imported lazily so that a source's
# dependencies load only when it is used.
_KINDS: dict[str, tuple[str, str]] = {
    "stdin": ("tailcast.sources.stdin", "StdinSource"),
    "file": ("tailcast.sources.file.source", "FileSource"),
    "glob": ("tailcast.sources.file.source", "GlobSource"),
    "process": ("tailcast.sources.process.source", "ProcessSource"),
    "docker": ("tailcast.sources.docker.source", "DockerSource"),
    "journal": ("tailcast.sources.journal.source", "JournalSource"),
}


def build_source(spec: SourceSpec, hub: Hub, config: Config) -> Source:
    """The source object for one spec (streams are created in the hub here)."""
    module_name, class_name = _KINDS[spec.kind]
    # Every kind ships with tailcast: an ImportError here is a bug in a source
    # and must surface as one, never as "not available".
    cls: type[Source] = getattr(importlib.import_module(module_name), class_name)
    return cls(spec, hub, config)
