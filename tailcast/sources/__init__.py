"""Sources: the I/O shells that read something and publish it into the hub.

Every source implements :class:`tailcast.sources.base.Source`. The kinds:

- ``stdin``: standard input (``-``), :mod:`tailcast.sources.stdin`;
- ``file`` / ``glob``: files followed like ``tail -F``, :mod:`tailcast.sources.file`;
- ``process``: a command's output, :mod:`tailcast.sources.process`;
- ``docker``: container logs over the Engine API, :mod:`tailcast.sources.docker`.

:func:`build_source` maps a parsed :class:`~tailcast.config.SourceSpec` to its
class; a kind whose module is not there yet is a :class:`ConfigError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tailcast.errors import ConfigError

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub
    from tailcast.sources.base import Source

__all__ = ["build_source"]

# kind -> (module, class name). Imported lazily so that a source's
# dependencies load only when it is used.
_KINDS: dict[str, tuple[str, str]] = {
    "stdin": ("tailcast.sources.stdin", "StdinSource"),
    "file": ("tailcast.sources.file", "FileSource"),
    "glob": ("tailcast.sources.file", "GlobSource"),
    "process": ("tailcast.sources.process.source", "ProcessSource"),
    "docker": ("tailcast.sources.docker", "DockerSource"),
}


def build_source(spec: SourceSpec, hub: Hub, config: Config) -> Source:
    """The source object for one spec (streams are created in the hub here)."""
    module_name, class_name = _KINDS[spec.kind]
    try:
        module = importlib.import_module(module_name)
        cls: type[Source] = getattr(module, class_name)
    except (ImportError, AttributeError):
        raise ConfigError(
            f"source kind {spec.kind!r} is not available in this build", option=spec.raw
        ) from None
    return cls(spec, hub, config)
