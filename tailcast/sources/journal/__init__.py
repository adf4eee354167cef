"""The systemd journal (``journal:``, ``journal:UNIT``, ``journal:FIELD=VALUE``) via journalctl.

- :mod:`~tailcast.sources.journal.entry`: journalctl's JSON output into lines
  (``ts``, ``text``, ``level``) and its command line; no I/O;
- :mod:`~tailcast.sources.journal.source`: :class:`JournalSource`, which runs
  ``journalctl --follow`` in its own process group and resumes by cursor.

``--journal-dir DIR`` reads the journal files in ``DIR`` (``journalctl -D``).
"""

__all__: list[str] = []
