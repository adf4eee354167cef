"""The open-files limit: raised at start from its soft value toward the hard one.

A login shell or a systemd service starts with a soft ``RLIMIT_NOFILE`` of
1 024, too few for the default ``--max-clients 1000`` plus the sources and the
history, while the hard limit (what an unprivileged process may raise itself
to) is usually far higher. :func:`raise_nofile` raises the soft limit to the
hard one (capped at :data:`CEILING`: some systems say "unlimited" and some
libraries allocate per possible descriptor) and logs it at ``-v``. Whatever
is left too small is then handled by :func:`tailcast.web.listen.plan_limits`.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable

__all__ = ["CEILING", "raise_nofile"]

log = logging.getLogger("tailcast.limits")

CEILING = 1 << 20  # 1 048 576, Linux's default nr_open


def raise_nofile(report: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Raise the soft open-files limit toward the hard one; (before, after).

    What happened goes to ``report`` (default: the log at ``-v``); a server
    passes its own so that the line comes after the ``serving`` line, which
    the contract wants first on standard error.
    """
    say = report or log.info
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = CEILING if hard == resource.RLIM_INFINITY else min(hard, CEILING)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:  # a container may refuse; keep what we have
            say(f"open-files limit stays at {soft} (cannot raise it to {target}: {exc})")
            return soft, soft
        say(f"open-files limit raised from {soft} to {target} (the hard limit)")
        return soft, target
    say(f"open-files limit is {_text(soft)} (hard {_text(hard)})")
    return soft, soft


def _text(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)
