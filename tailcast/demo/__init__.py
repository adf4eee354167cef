"""The built-in demo: live sample logs and a fake build, served by tailcast.

``python -m tailcast.demo`` (what ``bash scripts/demo.sh`` runs) copies
``sample_logs/`` to a temp folder, keeps appending realistic lines to the
copies, and serves them with a fake build run as a ``cmd:`` source:

- :mod:`tailcast.demo.fake`: pure generators of realistic lines;
- :mod:`tailcast.demo.writer`: the process that appends them;
- :mod:`tailcast.demo.build`: the fake build (``python -m tailcast.demo build``);
- :mod:`tailcast.demo.runner`: starts and stops all of it.
"""

__all__: list[str] = []
