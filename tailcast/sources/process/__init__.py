"""The process source (``cmd:COMMAND``): a command's output as a stream.

- :mod:`tailcast.sources.process.source`: :class:`ProcessSource`, the
  lifecycle (start, read, exit, restart, control) and the publishing;
- :mod:`tailcast.sources.process.spawn`: the OS half: starting the command in
  its own process group and ending the whole group.
"""

__all__: list[str] = []
