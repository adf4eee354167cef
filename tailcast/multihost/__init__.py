"""Multi-host mode (``--redis``, ``tailcast agent``): agents -> Redis Streams -> web nodes.

Read downwards, each module using only those above it:

- :mod:`tailcast.multihost.keys`: key names and record encoding (pure);
- :mod:`tailcast.multihost.client`: the ``--redis`` URL, redis-py (optional,
  imported only there, at the point of use) and its replies;
- :mod:`tailcast.multihost.reconnect`: the one reconnect loop with backoff;
- :mod:`tailcast.multihost.publisher`: agent side, a hub's lines into Redis;
- :mod:`tailcast.multihost.mirror`: web-node side, Redis into a local hub;
- :mod:`tailcast.multihost.roles`: ``tailcast agent`` and a web node's Redis side.
"""

__all__: list[str] = []
