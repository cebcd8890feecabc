"""Following a container's output through the Docker Engine API.

`GET /containers/{id}/logs?follow=1&timestamps=1&since=<s.nanoseconds>` gives every
message with Docker's own time, to the nanosecond; `since` is inclusive. Non-TTY
containers answer in Docker's multiplexed framing (one frame per message); TTY
containers in one raw stream (one message per line).

Where a reader is in that output (`OutputPosition`) is kept per stream: Docker
stamps stdout and stderr lines in two copiers, so each stream is in time order
but the two interleave with a small skew (a stderr line may follow a stdout line
stamped a little later). A position holds, per stream, the time of the last line
taken and how many lines at exactly that nanosecond were taken; resuming reads
from a little before the oldest of them and skips what the position covers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from openecs.agent.docker_api import DockerClient, DockerError, NotFound

__all__ = [
    "MAX_STREAM_SKEW_NS",
    "DockerLogSource",
    "LogLine",
    "LogSource",
    "OutputPosition",
    "OutputTracker",
    "parse_docker_time",
]

log = logging.getLogger("openecs.agent.logs")

# How far apart in time a stdout and a stderr line written in one order can be
# stamped in the other; far more than Docker's copiers ever drift.
MAX_STREAM_SKEW_NS = 10_000_000_000
_SOURCES = ("stdout", "stderr")


@dataclass(frozen=True, slots=True)
class LogLine:
    """One Docker log message: its Docker time (ns since the epoch) and text."""

    nanos: int
    text: str
    source: str = "stdout"


@dataclass(frozen=True, slots=True)
class OutputPosition:
    """Per stream: (time of the last line taken, lines taken at exactly that time)."""

    marks: tuple[tuple[str, int, int], ...] = ()

    def mark(self, source: str) -> tuple[int, int]:
        for name, nanos, count in self.marks:
            if name == source:
                return nanos, count
        return 0, 0

    def with_mark(self, source: str, nanos: int, count: int) -> OutputPosition:
        others = tuple(m for m in self.marks if m[0] != source)
        return OutputPosition(tuple(sorted((*others, (source, nanos, count)))))

    def since(self) -> int:
        """Where to resume Docker's `since`: no line past this position is older."""
        if not self.marks:
            return 0
        newest = max(nanos for _, nanos, _ in self.marks)
        floor = newest - MAX_STREAM_SKEW_NS
        return max(0, min(max(self.mark(source)[0], floor) for source in _SOURCES))

    def to_json(self) -> list[list[Any]]:
        return [list(m) for m in self.marks]

    @classmethod
    def from_json(cls, doc: Any) -> OutputPosition:
        return cls(tuple((str(s), int(n), int(c)) for s, n, c in doc or ()))


class OutputTracker:
    """Reads lines against a starting position: says which ones it already covers and
    what the position is after each line. A reading must start at or before
    `start.since()`, so that it sees every line at each stream's marked time."""

    def __init__(self, start: OutputPosition) -> None:
        self.start = start
        self.position = start
        self._last: dict[str, tuple[int, int]] = {}

    def step(self, line: LogLine) -> bool:
        """Advance past `line`; True if `line` is new (not covered by the start)."""
        last_nanos, index = self._last.get(line.source, (-1, -1))
        index = index + 1 if line.nanos == last_nanos else 0
        self._last[line.source] = (line.nanos, index)
        mark_nanos, mark_count = self.start.mark(line.source)
        if line.nanos < mark_nanos or (line.nanos == mark_nanos and index < mark_count):
            return False
        self.position = self.position.with_mark(line.source, line.nanos, index + 1)
        return True


class LogSource(Protocol):
    def follow(self, container_id: str, *, since_nanos: int) -> AsyncIterator[LogLine]:
        """The container's messages from `since_nanos` (inclusive) on, until it stops."""
        ...


def parse_docker_time(text: str) -> int:
    """Nanoseconds since the epoch of Docker's RFC 3339 time with up to 9 decimals."""
    stamp, _, zone = text.partition("Z") if text.endswith("Z") else (text[:-6], "", text[-6:])
    whole, _, fraction = stamp.partition(".")
    offset = "+00:00" if text.endswith("Z") else zone
    seconds = int(datetime.fromisoformat(whole + offset).timestamp())
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9])


def _split_timestamp(payload: bytes) -> tuple[int, str]:
    head, _, rest = payload.partition(b" ")
    text = rest.decode("utf-8", "replace")
    return parse_docker_time(head.decode("ascii")), text.removesuffix("\n").removesuffix("\r")


def _since_param(nanos: int) -> str:
    return f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"


class DockerLogSource:
    """Follows container output through the Docker Engine API.

    `docker` negotiates the API version and inspects containers; the long-lived log
    streams go over a connection pool of their own (`transport` replaces the
    Unix-socket transport in tests). A stream that ends while the container is
    still created or running, or that Docker cuts, is resumed from the last line.
    """

    def __init__(
        self,
        docker: DockerClient,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_delay: float = 0.2,
    ) -> None:
        self._docker = docker
        self._http = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(uds=docker.socket_path),
            base_url="http://docker",
            timeout=httpx.Timeout(None, connect=5.0),
        )
        self._retry_delay = retry_delay

    async def aclose(self) -> None:
        await self._http.aclose()

    async def follow(self, container_id: str, *, since_nanos: int) -> AsyncIterator[LogLine]:
        tty = await self._tty(container_id)
        since = since_nanos
        tracker = OutputTracker(OutputPosition())
        while True:
            try:
                async for line in self._stream(container_id, since, tty):
                    if tracker.step(line):
                        yield line
            except (httpx.TransportError, DockerError) as exc:
                log.debug("log stream cut", extra={"container": container_id, "error": repr(exc)})
            if not await self._still_producing(container_id):
                return
            await asyncio.sleep(self._retry_delay)
            tracker = OutputTracker(tracker.position)
            since = max(since_nanos, tracker.start.since())

    async def _tty(self, container_id: str) -> bool:
        try:
            info = await self._docker.container_inspect(container_id)
        except NotFound:
            return False
        return bool((info.get("Config") or {}).get("Tty"))

    async def _still_producing(self, container_id: str) -> bool:
        try:
            info = await self._docker.container_inspect(container_id)
        except NotFound:
            return False
        status = (info.get("State") or {}).get("Status")
        return status in ("created", "running", "restarting", "paused")

    async def _stream(self, container_id: str, since: int, tty: bool) -> AsyncIterator[LogLine]:
        version = await self._docker.api_version()
        params = {
            "follow": "1",
            "stdout": "1",
            "stderr": "1",
            "timestamps": "1",
            "since": _since_param(since),
        }
        url = f"/v{version}/containers/{container_id}/logs"
        async with self._http.stream("GET", url, params=params) as response:
            if response.status_code == 404:
                return
            if response.status_code >= 400:
                await response.aread()
                raise DockerError(response.text, status_code=response.status_code)
            chunks = response.aiter_bytes()
            frames = _raw_lines(chunks) if tty else _frames(chunks)
            async for source, payload in frames:
                if payload.strip():
                    nanos, text = _split_timestamp(payload)
                    yield LogLine(nanos, text, source)


async def _frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, bytes]]:
    """Docker's multiplexed stream: [stream, 0, 0, 0, size (4 bytes, big-endian)] + payload."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer.extend(chunk)
        while len(buffer) >= 8:
            size = int.from_bytes(buffer[4:8], "big")
            if len(buffer) < 8 + size:
                break
            source = "stderr" if buffer[0] == 2 else "stdout"
            yield source, bytes(buffer[8 : 8 + size])
            del buffer[: 8 + size]


async def _raw_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, bytes]]:
    """A TTY container's single raw stream, one timestamped message per line."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer.extend(chunk)
        while (end := buffer.find(b"\n")) >= 0:
            yield "stdout", bytes(buffer[: end + 1])
            del buffer[: end + 1]
    if buffer:
        yield "stdout", bytes(buffer)
