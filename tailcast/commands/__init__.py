"""The commands of the command line, one module each: what ``tailcast CMD`` does.

- :mod:`tailcast.commands.serve`: ``tailcast [serve] SOURCE...``;
- :mod:`tailcast.commands.run`: ``tailcast run -- COMMAND`` (its terminal
  echo is :mod:`tailcast.commands.echo`);
- :mod:`tailcast.commands.watch`: ``tailcast watch URL``;
- :mod:`tailcast.commands.agent`: ``tailcast agent SOURCE...``;
- :mod:`tailcast.commands.lifecycle`: what they share: logging, signals, the
  ``serving`` line.

:mod:`tailcast.cli` parses the arguments and calls one of them; nothing here
imports it.
"""

__all__: list[str] = []
