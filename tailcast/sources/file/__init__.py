"""Files followed like ``tail -F``: the ``file`` and ``glob`` sources."""
