"""``python -m tailcast``: the same as the ``tailcast`` command."""

from tailcast.cli import console_main

__all__: list[str] = []

console_main()
