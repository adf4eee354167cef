"""The history of every stream on disk: plain sync file I/O, no asyncio, no aiohttp.

- :mod:`tailcast.history.records`: the record format (a line, a checkpoint) and its validation;
- :mod:`tailcast.history.segment`: one segment file: find a seq by byte offset, read records;
- :mod:`tailcast.history.recovery`: bring a stream's folder back to whole records at open;
- :mod:`tailcast.history.log`: :class:`~tailcast.history.log.StreamLog`, one stream's history;
- :mod:`tailcast.history.meta`: :class:`~tailcast.history.meta.StreamMeta`,
  epoch and source identity;
- :mod:`tailcast.history.reader`: reading a run of lines forwards or backwards;
- :mod:`tailcast.history.placement`: where a private history goes (on disk, not RAM);
- :mod:`tailcast.history.store`: :class:`~tailcast.history.store.HistoryStore`, the data dir,
  its lock and the disk budget over all streams.
"""
