"""``python -m tailcast``: the same as the ``tailcast`` command."""

from tailcast.cli import console_main

console_main()
