"""Container logs over the Docker Engine API (``docker:NAME``, ``docker:*``,
``docker:label=KEY=VALUE``), without the docker CLI.

The engine is reached on its unix socket (aiohttp's ``UnixConnector``) or a
``tcp://`` ``DOCKER_HOST``; Docker and Podman's Docker-compatible service both
work. The bytes are decoded by :class:`tailcast.protocol.engine_logs.LogDecoder`;
this module is the I/O around it.

One *round* is one connection to the engine: ``/_ping``, then ``/events``
opened *before* the containers are listed (so a container that starts in
between is not missed), then one follower task per container. A follower
inspects its container (``Config.Tty`` picks the raw form), reads
``/containers/ID/logs?follow=1&timestamps=1`` while it runs, and when the
container dies (the ``die`` event: Podman never ends a follow by itself) reads
once more without ``follow`` from its resume point, so that the last lines are
never lost, then marks the stream ``exited`` with the exit code. A ``start``
event continues the same stream. Anything that breaks the connection ends the
round: every stream shows an ``error`` with what to do, and the source
reconnects with backoff; each container resumes with ``since=`` and the
decoder drops what was already published (see the protocol module).

The first time a container is attached, its last ``--lines`` lines are
shown if it was already running when tailcast started; a container first
seen later is read from the moment tailcast started.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import aiohttp

from tailcast.errors import ProtocolError, SourceError
from tailcast.protocol.engine_logs import LogDecoder, LogLine
from tailcast.sources.base import Source

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub, Stream

__all__ = ["BACKOFF_MAX", "BACKOFF_MIN", "DockerSource", "Engine", "cpu_percent"]

log = logging.getLogger("tailcast.docker")

BACKOFF_MIN = 0.2
BACKOFF_MAX = 5.0
REQUEST_TIMEOUT = 10.0
READ_SIZE = 64 * 1024
# A stats sample older than this is not used as the "before" of a CPU delta.
STATS_REUSE = 10.0


class Engine:
    """A thin client for the few Engine API calls we make; errors become SourceError."""

    def __init__(self, docker_host: str) -> None:
        self.docker_host = docker_host
        url = urlsplit(docker_host)
        self.socket_path: str | None = None
        if url.scheme == "unix":
            self.socket_path = url.path
            self.base = "http://docker"
        elif url.scheme == "tcp":
            self.base = f"http://{url.netloc}"
        else:
            raise SourceError(f"unsupported docker host {docker_host!r} (unix:// or tcp://)")
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self.socket_path is not None:
                connector = aiohttp.UnixConnector(path=self.socket_path, limit=0)
            else:
                connector = aiohttp.TCPConnector(limit=0)
            # No total timeout: follows and /events stay open for as long as
            # the engine does. Connecting is bounded.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET ``path`` and decode its JSON body; a 404 is ``SourceError(state='waiting')``."""
        async with asyncio.timeout(REQUEST_TIMEOUT), self.request(path, params) as resp:
            return await resp.json(content_type=None)

    @contextlib.asynccontextmanager
    async def request(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streaming GET; the response is checked before it is handed out."""
        try:
            async with self.session.get(self.base + path, params=params) as resp:
                if resp.status >= 400:
                    raise await self._http_error(resp)
                yield resp
        except aiohttp.ClientError as exc:
            raise self.translate(exc) from exc
        except OSError as exc:
            raise self.translate(exc) from exc

    async def _http_error(self, resp: aiohttp.ClientResponse) -> SourceError:
        try:
            body = await resp.json(content_type=None)
            message = str(body.get("message") or body)
        except (ValueError, aiohttp.ClientError, AttributeError):
            message = resp.reason or ""
        state = "waiting" if resp.status == 404 else "error"
        err = SourceError(
            f"engine answered {resp.status}: {message}", state=state, status=resp.status
        )
        return err

    def translate(self, exc: BaseException) -> SourceError:
        """A connection failure as a message a user can act on."""
        where = self.socket_path or self.docker_host
        os_error = getattr(exc, "os_error", None)
        cause = os_error if isinstance(os_error, OSError) else exc
        if isinstance(cause, FileNotFoundError):
            return SourceError(
                f"Docker socket {where} not found: is the engine running? "
                "(point --docker-host or DOCKER_HOST at it)"
            )
        if isinstance(cause, PermissionError):
            return SourceError(permission_message(where))
        if isinstance(cause, ConnectionRefusedError):
            return SourceError(f"the engine at {where} refused the connection: is it running?")
        if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
            return SourceError(f"lost the connection to the engine at {where}; reconnecting")
        return SourceError(f"cannot talk to the engine at {where}: {exc or type(exc).__name__}")


def permission_message(path: str) -> str:
    """What to do about EACCES on the socket: name the group that grants access."""
    try:
        group = grp.getgrgid(os.stat(path).st_gid).gr_name
    except (OSError, KeyError):
        group = "docker"
    return (
        f"permission denied on the Docker socket {path}: members of group '{group}' may use it "
        f"(add this user with: usermod -aG {group} $USER, then log in again)"
    )


def cpu_percent(stats: Mapping[str, Any], pre: Mapping[str, Any] | None = None) -> float | None:
    """CPU% as ``docker stats`` computes it: the container's share of the host's
    CPU time between two samples, times the number of CPUs.

    ``pre`` is the earlier sample's ``cpu_stats`` when the engine left
    ``precpu_stats`` empty (Podman with ``stream=false``).
    """
    cpu = stats.get("cpu_stats") or {}
    pre = pre if pre is not None else stats.get("precpu_stats") or {}
    try:
        total = cpu["cpu_usage"]["total_usage"]
        system = cpu["system_cpu_usage"]
        pre_total = pre["cpu_usage"]["total_usage"]
        pre_system = pre["system_cpu_usage"]
    except (KeyError, TypeError):
        return None
    cpu_delta = total - pre_total
    system_delta = system - pre_system
    if system_delta <= 0 or cpu_delta < 0:
        return None
    cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    return round(float(cpu_delta) / float(system_delta) * float(cpus) * 100.0, 2)


def memory_bytes(stats: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Memory in use (without the page cache, as ``docker stats``) and the limit."""
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is None:
        return None, mem.get("limit")
    extra = mem.get("stats") or {}
    cache = extra.get("inactive_file", extra.get("total_inactive_file", 0))
    if isinstance(cache, int) and 0 < cache < usage:
        usage -= cache
    return int(usage), mem.get("limit")


@dataclass
class Tracked:
    """One container followed into one stream; lives across rounds."""

    id: str
    stream: Stream
    since: int | None  # first attach: read from here (None = use ``tail``)
    tail: int | None
    decoder: LogDecoder | None = None
    exit_code: int | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    died: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False  # exited and read to the end
    stats_before: tuple[float, dict[str, Any]] | None = None


class DockerSource(Source):
    """``docker:NAME_OR_ID``, ``docker:*`` or ``docker:label=KEY[=VALUE]``."""

    def __init__(self, spec: SourceSpec, hub: Hub, config: Config) -> None:
        super().__init__(spec, hub, config)
        self.selector = spec.target
        self.engine = Engine(config.docker_host)
        self.label: tuple[str, str | None] | None = None
        if self.selector.startswith("label="):
            key, eq, value = self.selector[6:].partition("=")
            self.label = (key, value if eq else None)
        self.single = self.selector != "*" and self.label is None
        # The single stream for docker:NAME; for many containers, a stream that
        # carries the engine connection's state (each container gets its own).
        if self.single:
            self.stream = hub.add_stream(spec.name, "docker", container=self.selector)
            self.stream.stats_provider = self._single_stats
        else:
            name = spec.name if spec.named else f"docker {self.selector}"
            self.stream = hub.add_stream(name, "docker", container=self.selector)
        self.tracked: dict[str, Tracked] = {}
        self.started_at = time.time()
        self.rounds = 0
        self._connected_ok = False
        self.podman = False
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
        await self._ping()
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

    async def _ping(self) -> None:
        async with asyncio.timeout(REQUEST_TIMEOUT), self.engine.request("/_ping") as resp:
            await resp.read()
            # Podman's ``tail=`` loses newlines around long (partial) records,
            # so there the backlog is cut by us instead (see _read_logs).
            self.podman = "Libpod-Api-Version" in resp.headers

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
                stream = self.hub.add_stream(label, "docker", container=name)
            stream.detail["container"] = name
            stream.detail["container_id"] = cid[:12]
            t = Tracked(cid, stream, since=since, tail=tail)
            stream.stats_provider = lambda t=t: self._stats(t)
            self.tracked[cid] = t
            log.info("docker: following container %s (%s)", name, cid[:12])
        t.finished = False
        t.started.set()
        if cid not in self._tasks:
            self._spawn(t)

    def _spawn(self, t: Tracked) -> None:
        task = asyncio.create_task(self._follower(t), name=f"docker:{t.id[:12]}")
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

    # -- one container ---------------------------------------------------------------

    async def _follower(self, t: Tracked) -> None:
        """Follow one container through its runs, within one round."""
        while True:
            t.started.clear()
            t.died.clear()
            await self._follow_once(t)
            await t.started.wait()

    async def _follow_once(self, t: Tracked) -> None:
        try:
            info = await self.engine.get_json(f"/containers/{t.id}/json")
        except SourceError as exc:
            if exc.status != 404:
                raise
            if t.decoder is not None:
                self._publish(t, t.decoder.finish())
            t.finished = True
            self.hub.set_state(
                t.stream, "exited", exit_code=t.exit_code, message="container removed"
            )
            return
        tty = bool((info.get("Config") or {}).get("Tty"))
        state: Mapping[str, Any]
        if t.decoder is None or t.decoder.tty != tty:
            t.decoder = LogDecoder(tty=tty, max_line=self.config.max_line)
        state = info.get("State") or {}
        if str(state.get("Status", "")).lower() in ("created", "configured", "initialized"):
            self.hub.set_state(t.stream, "waiting", message="container created, not started yet")
            return
        if t.tail is not None and self.podman and t.decoder.resume.since() is None:
            await self._read_logs(t, follow=False, backlog=t.tail)
        if state.get("Running"):
            self.hub.set_state(t.stream, "live")
            reader = asyncio.create_task(self._read_logs(t, follow=True))
            died = asyncio.create_task(t.died.wait())
            try:
                await asyncio.wait({reader, died}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                died.cancel()
                if not reader.done():
                    reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader  # re-raises the reader's own error
        # The container stopped (or was never running): read to its end once more.
        await self._read_logs(t, follow=False)
        self._publish(t, t.decoder.finish())
        with contextlib.suppress(SourceError):
            info = await self.engine.get_json(f"/containers/{t.id}/json")
            state = info.get("State") or {}
        if state.get("Running"):
            t.started.set()  # restarted meanwhile: follow again
            return
        code = state.get("ExitCode", t.exit_code)
        t.exit_code = int(code) if isinstance(code, int) else t.exit_code
        t.finished = True
        self.hub.set_state(t.stream, "exited", exit_code=t.exit_code)

    async def _read_logs(self, t: Tracked, *, follow: bool, backlog: int | None = None) -> None:
        """One logs request from the resume point; ``backlog``: keep only the last N lines."""
        decoder = t.decoder
        assert decoder is not None
        params = {"stdout": "1", "stderr": "1", "timestamps": "1", "follow": "1" if follow else "0"}
        since = decoder.resume.since()
        if since is None and backlog is None:
            since = t.since
        if since is not None:
            params["since"] = str(since)
        elif t.tail is not None and backlog is None:
            params["tail"] = str(t.tail)
        t.tail = None  # the backlog is shown once
        kept: deque[LogLine] | None = None
        if backlog is not None:
            kept = deque(maxlen=backlog)
        publish = self._publish if kept is None else lambda _t, lines: kept.extend(lines)
        decoder.new_connection()
        timer: asyncio.TimerHandle | None = None
        loop = asyncio.get_running_loop()

        def flush() -> None:
            self._publish(t, decoder.flush())

        try:
            async with self.engine.request(f"/containers/{t.id}/logs", params) as resp:
                try:
                    async for chunk in resp.content.iter_chunked(READ_SIZE):
                        decoder.feed_data(chunk)
                        publish(t, decoder.events())
                        if timer is not None:
                            timer.cancel()
                            timer = None
                        if decoder.pending and kept is None:
                            timer = loop.call_later(self.config.flush_delay, flush)
                except (aiohttp.ClientError, OSError) as exc:
                    raise self.engine.translate(exc) from exc
                decoder.feed_eof()
                publish(t, decoder.events())
        finally:
            if timer is not None:
                timer.cancel()
        if kept:
            while kept and kept[0].cont:
                kept.popleft()  # the rest of a line whose start is not shown
            self._publish(t, list(kept))

    def _publish(self, t: Tracked, lines: list[LogLine]) -> None:
        if lines:
            self.hub.publish_lines(t.stream, ((p.ts, p.text, p.fd, p.cont) for p in lines))

    # -- stats -----------------------------------------------------------------------

    async def _single_stats(self) -> dict[str, Any]:
        for t in self.tracked.values():
            return await self._stats(t)
        return _no_stats(f"container {self.selector} not found yet")

    async def _stats(self, t: Tracked) -> dict[str, Any]:
        path = f"/containers/{t.id}/stats"
        params = {"stream": "false"}
        try:
            stats = await self.engine.get_json(path, params)
            if not isinstance(stats, dict) or not stats.get("cpu_stats"):
                return _no_stats("no stats: the container is not running")
            pre = None
            pre_cpu = (stats.get("precpu_stats") or {}).get("system_cpu_usage")
            if not pre_cpu:
                # Podman leaves precpu empty: use our last sample if it is
                # recent, otherwise take a second one now.
                before = t.stats_before
                if before is not None and time.monotonic() - before[0] < STATS_REUSE:
                    pre = before[1]
                else:
                    pre, stats = await self._two_samples(path, stats)
            t.stats_before = (time.monotonic(), stats.get("cpu_stats") or {})
        except (SourceError, TimeoutError, ValueError) as exc:
            return _no_stats(str(exc) or "stats timed out")
        used, limit = memory_bytes(stats)
        return {
            "cpu_percent": cpu_percent(stats, pre),
            "memory_bytes": used,
            "memory_limit_bytes": limit,
        }

    async def _two_samples(
        self, path: str, first: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two samples at the engine's own interval (``stream=true``, about 1 s):
        back-to-back one-shot samples are too close for the kernel's counters."""
        samples: list[dict[str, Any]] = []
        async with (
            asyncio.timeout(REQUEST_TIMEOUT),
            self.engine.request(path, {"stream": "true"}) as resp,
        ):
            async for raw in resp.content:
                if raw.strip():
                    samples.append(json.loads(raw))
                if len(samples) == 2:
                    break
        if not samples:
            return first.get("cpu_stats") or {}, first
        last = samples[-1]
        before = samples[0] if len(samples) == 2 else first
        return before.get("cpu_stats") or {}, last

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


def _no_stats(message: str) -> dict[str, Any]:
    return {"cpu_percent": None, "memory_bytes": None, "memory_limit_bytes": None, "error": message}
