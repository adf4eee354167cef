"""The Docker source: which containers ``docker:NAME``, ``docker:*`` or
``docker:label=KEY[=VALUE]`` means, kept up to date from the engine's events.

One *round* is one connection to the engine: ``/_ping``, then ``/events``
opened *before* the containers are listed (so a container that starts in
between is not missed), then one follow task per container
(:mod:`tailcast.sources.docker.follow`). A ``start`` event attaches a new
matching container or continues a known one's stream; a ``die`` event tells
its follow to read to the end. Anything that breaks the connection ends the
round: every stream shows an ``error`` with what to do, and the source
reconnects with backoff; each container resumes where its log was read up to.

``docker:NAME`` is one stream whose container may come and go (``waiting``
until it exists; a container recreated under the same name continues the
stream). ``docker:*`` and ``label=`` give each container its own stream plus
one for the engine connection's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp

from tailcast.errors import ProtocolError, SourceError
from tailcast.sources.base import Source
from tailcast.sources.docker.engine import Engine
from tailcast.sources.docker.follow import Follower, Tracked, resume_point
from tailcast.sources.docker.stats import ContainerStats, NoContainerStats

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub, Stream

__all__ = ["BACKOFF_MAX", "BACKOFF_MIN", "DockerSource"]

log = logging.getLogger("tailcast.docker")

BACKOFF_MIN = 0.2
BACKOFF_MAX = 5.0


class DockerSource(Source):
    """``docker:NAME_OR_ID``, ``docker:*`` or ``docker:label=KEY[=VALUE]``."""

    def __init__(self, spec: SourceSpec, hub: Hub, config: Config) -> None:
        super().__init__(spec, hub, config)
        self.selector = spec.target
        self.engine = Engine(config.docker_host)
        self.follower = Follower(self.engine, hub, config)
        self.label: tuple[str, str | None] | None = None
        if self.selector.startswith("label="):
            key, eq, value = self.selector[6:].partition("=")
            self.label = (key, value if eq else None)
        self.single = self.selector != "*" and self.label is None
        # The single stream for docker:NAME; for many containers, a stream that
        # carries the engine connection's state (each container gets its own).
        if self.single:
            self.stream = hub.add_stream(
                spec.name, "docker", source_key=spec.raw, container=self.selector
            )
            self.stream.stats_provider = NoContainerStats(self.selector)
        else:
            name = spec.name if spec.named else f"docker {self.selector}"
            self.stream = hub.add_stream(
                name, "docker", source_key=spec.raw, container=self.selector
            )
        self.tracked: dict[str, Tracked] = {}
        self.started_at = time.time()
        self.rounds = 0
        self._connected_ok = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Set to the first exception a follower dies of: it ends the round.
        self._failure: asyncio.Future[BaseException] | None = None

    # -- the reconnect loop ----------------------------------------------------------

    async def run(self) -> None:
        delay = BACKOFF_MIN
        try:
            while True:
                try:
                    await self._round()
                except SourceError as exc:
                    self._outage(exc)
                except ProtocolError as exc:
                    self._outage(SourceError(f"bad data from the engine: {exc}"))
                if self.rounds and self._connected_ok:
                    delay = BACKOFF_MIN
                await asyncio.sleep(delay)  # backoff between reconnects, not synchronisation
                delay = min(BACKOFF_MAX, delay * 2)
        finally:
            await self._stop_followers()

    def _outage(self, exc: SourceError) -> None:
        log.warning("docker %s: %s", self.selector, exc)
        message = str(exc)
        if self.single and exc.state == "waiting":
            self.hub.set_state(self.stream, "waiting", message=message)
            return
        for stream in self._streams_to_report():
            self.hub.set_state(stream, "error", message=message)

    def _streams_to_report(self) -> list[Stream]:
        streams = [self.stream] if not self.single else []
        streams += [t.stream for t in self.tracked.values() if not t.finished]
        if self.single and self.stream not in streams:
            streams.append(self.stream)
        return streams

    async def _round(self) -> None:
        """One connection's worth: events, listing, followers; returns by raising."""
        self.rounds += 1
        self._connected_ok = False
        self.follower.podman = await self.engine.ping()
        failure: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        self._failure = failure
        async with self.engine.request("/events") as events:
            await self._discover()
            self._connected_ok = True
            if not self.single:
                self.hub.set_state(self.stream, "live")
            watcher = asyncio.create_task(self._watch(events), name="docker:events")
            try:
                # Whichever breaks first ends the round: the event stream, or
                # a follower's connection (both go when the engine does).
                done: set[asyncio.Future[Any]] = {watcher, failure}
                await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher
                await self._stop_followers()
            if failure.done():
                raise failure.result()
            watcher.result()
        raise SourceError("the engine closed its event stream; reconnecting")

    async def _discover(self) -> None:
        """Attach every matching container, and resume the ones already tracked."""
        first_round = not self.tracked and self.rounds == 1
        tail = self.config.lines if first_round else None
        since = None if first_round else int(self.started_at) - 1
        if self.single:
            try:
                info = await self.engine.get_json(f"/containers/{quote(self.selector)}/json")
            except SourceError as exc:
                if exc.status != 404:
                    raise
                self.hub.set_state(
                    self.stream,
                    "waiting",
                    message=f"container {self.selector} not found yet; waiting for it to start",
                )
            else:
                self._attach(info["Id"], _name(info), tail=tail, since=since)
        else:
            params = {}
            if self.label is not None:
                key, value = self.label
                want = key if value is None else f"{key}={value}"
                params["filters"] = json.dumps({"label": [want]})
            for item in await self.engine.get_json("/containers/json", params):
                names = item.get("Names") or [item["Id"][:12]]
                if self._matches_labels(item.get("Labels") or {}):
                    self._attach(item["Id"], names[0].lstrip("/"), tail=tail, since=since)
        for cid, t in self.tracked.items():
            if not t.finished and cid not in self._tasks:
                self._spawn(t)

    def _matches_labels(self, labels: Mapping[str, str]) -> bool:
        if self.label is None:
            return True
        key, value = self.label
        return key in labels and (value is None or labels[key] == value)

    def _attach(self, cid: str, name: str, *, tail: int | None, since: int | None) -> None:
        t = self.tracked.get(cid)
        if t is None:
            if self.single:
                # The name may now be a different container (recreated): the
                # stream goes on, the new container's log starts fresh.
                for old_id in list(self.tracked):
                    self._cancel(old_id)
                    del self.tracked[old_id]
                stream = self.stream
            else:
                label = f"{self.spec.name}/{name}" if self.spec.named else name
                stream = self.hub.add_stream(
                    label, "docker", source_key=f"{self.spec.raw} {name}", container=name
                )
            stream.detail["container"] = name
            stream.detail["container_id"] = cid[:12]
            t = Tracked(cid, stream, since=since, tail=tail)
            # After a restart: read on where the stream's history ends.
            t.resume = resume_point(stream.history.checkpoint, cid)
            stream.stats_provider = ContainerStats(self.engine, cid)
            self.tracked[cid] = t
            log.info("docker: following container %s (%s)", name, cid[:12])
        t.finished = False
        t.started.set()
        if cid not in self._tasks:
            self._spawn(t)

    def _spawn(self, t: Tracked) -> None:
        task = asyncio.create_task(self.follower.follow(t), name=f"docker:{t.id[:12]}")
        self._tasks[t.id] = task
        cid = t.id
        task.add_done_callback(lambda _: self._forget(cid, task))

    def _forget(self, cid: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(cid) is task:
            del self._tasks[cid]
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._failure is not None and not self._failure.done():
            self._failure.set_result(exc)

    def _cancel(self, cid: str) -> None:
        task = self._tasks.pop(cid, None)
        if task is not None:
            task.cancel()

    async def _stop_followers(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _watch(self, events: aiohttp.ClientResponse) -> None:
        """Act on container events until the stream ends (raises if it breaks)."""
        async for raw in self._event_lines(events):
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if event.get("Type", "container") != "container":
                continue
            action = str(event.get("Action") or event.get("status") or "")
            actor = event.get("Actor") or {}
            cid = str(actor.get("ID") or event.get("id") or "")
            attrs = actor.get("Attributes") or {}
            if action == "start":
                await self._on_start(cid, attrs, event)
            elif action == "die" and cid in self.tracked:
                t = self.tracked[cid]
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    t.exit_code = int(attrs["exitCode"])
                t.died.set()

    async def _event_lines(self, events: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        try:
            async for raw in events.content:
                if raw.strip():
                    yield raw
        except (aiohttp.ClientError, OSError) as exc:
            raise self.engine.translate(exc) from exc
        except ValueError as exc:  # a line over aiohttp's limit
            raise SourceError(f"bad event from the engine: {exc}") from exc

    async def _on_start(self, cid: str, attrs: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        if cid in self.tracked:
            self._attach(
                cid, str(self.tracked[cid].stream.detail["container"]), tail=None, since=None
            )
            return
        name = str(attrs.get("name") or cid[:12]).lstrip("/")
        if self.single:
            if self.selector not in (name, cid) and not cid.startswith(self.selector):
                return
        else:
            try:
                info = await self.engine.get_json(f"/containers/{cid}/json")
            except SourceError as exc:
                if exc.status == 404:
                    return  # already gone
                raise
            if not self._matches_labels((info.get("Config") or {}).get("Labels") or {}):
                return
            name = _name(info)
        since = int(self.started_at) - 1
        self._attach(cid, name, tail=None, since=since)

    # -- lifecycle -------------------------------------------------------------------

    async def close(self) -> None:
        await self._stop_followers()
        await self.engine.close()

    def statistics(self) -> dict[str, Any]:
        decoders = [t.decoder for t in self.tracked.values() if t.decoder is not None]
        return {
            "kind": "docker",
            "selector": self.selector,
            "containers": len(self.tracked),
            "following": len(self._tasks),
            "rounds": self.rounds,
            "records": sum(d.records for d in decoders),
            "duplicates_dropped": sum(d.dropped for d in decoders),
        }


def _name(info: Mapping[str, Any]) -> str:
    return str(info.get("Name") or info.get("Id", "")[:12]).lstrip("/")
