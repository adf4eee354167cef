"""Pure protocol code: no I/O, no asyncio, no aiohttp (a test enforces it).

- :mod:`tailcast.protocol.lines`: incremental line splitting of raw bytes.
- :mod:`tailcast.protocol.wire`: the JSON frames of protocol v1.
"""
