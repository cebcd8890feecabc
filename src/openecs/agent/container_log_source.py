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
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

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
_UNFINISHED = "unfinished"
_HEAD_LIMIT = 64 * 1024
_READ_SIZE = 256 * 1024


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

    def with_marks(self, marks: Iterable[tuple[str, int, int]]) -> OutputPosition:
        """This position moved on by `marks` (later marks of a stream win)."""
        merged = {source: (nanos, count) for source, nanos, count in self.marks}
        for source, nanos, count in marks:
            merged[source] = (nanos, count)
        return OutputPosition(tuple(sorted((s, n, c) for s, (n, c) in merged.items())))

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
    where each new line leaves its stream. A reading must start at or before
    `start.since()`, so that it sees every line at each stream's marked time."""

    def __init__(self, start: OutputPosition) -> None:
        self.start = start
        self._starts = {source: (nanos, count) for source, nanos, count in start.marks}
        self._last: dict[str, tuple[int, int]] = {}
        self._taken: dict[str, tuple[int, int]] = {}
        self.mark: tuple[str, int, int] = ("", 0, 0)

    def step(self, line: LogLine) -> bool:
        """Advance past `line`; True if it is new (not covered by the start), and then
        `mark` is (stream, time, lines taken at that time) after it."""
        last_nanos, index = self._last.get(line.source, (-1, -1))
        index = index + 1 if line.nanos == last_nanos else 0
        self._last[line.source] = (line.nanos, index)
        start_nanos, start_count = self._starts.get(line.source, (0, 0))
        if line.nanos < start_nanos or (line.nanos == start_nanos and index < start_count):
            return False
        self._taken[line.source] = (line.nanos, index + 1)
        self.mark = (line.source, line.nanos, index + 1)
        return True

    @property
    def position(self) -> OutputPosition:
        """The start, moved on by every new line taken."""
        return self.start.with_marks((s, n, c) for s, (n, c) in self._taken.items())


class LogSource(Protocol):
    def follow(self, container_id: str, *, since_nanos: int) -> AsyncIterator[LogLine]:
        """The container's messages from `since_nanos` (inclusive) on, until it stops."""
        ...


@functools.lru_cache(maxsize=64)
def _epoch_seconds(whole: str, offset: str) -> int:
    return int(datetime.fromisoformat(whole + offset).timestamp())


def parse_docker_time(text: str) -> int:
    """Nanoseconds since the epoch of Docker's RFC 3339 time with up to 9 decimals."""
    utc = text.endswith("Z")
    stamp, offset = (text[:-1], "+00:00") if utc else (text[:-6], text[-6:])
    whole, _, fraction = stamp.partition(".")
    # Lines come many to a second: the date arithmetic is done once per second.
    return _epoch_seconds(whole, offset) * 1_000_000_000 + int((fraction + "000000000")[:9])


def _split_timestamp(payload: bytes) -> tuple[int, str]:
    head, _, rest = payload.partition(b" ")
    text = rest.decode("utf-8", "replace")
    return parse_docker_time(head.decode("ascii")), text.removesuffix("\n").removesuffix("\r")


def _since_param(nanos: int) -> str:
    return f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"


class DockerLogSource:
    """Follows container output through the Docker Engine API.

    `docker` negotiates the API version and inspects containers. Each log stream is
    a connection of its own to the daemon's socket, asked over HTTP/1.0: Docker
    then sends the body raw until the stream ends, instead of one HTTP chunk per
    message (which costs an HTTP client more than the message is worth). A stream
    that ends while the container is still created or running, or that Docker
    cuts, is resumed after the last line taken.
    """

    def __init__(
        self,
        docker: DockerClient,
        *,
        socket_path: str | None = None,
        retry_delay: float = 0.2,
    ) -> None:
        self._docker = docker
        self._socket_path = socket_path or docker.socket_path
        self._retry_delay = retry_delay

    async def follow(self, container_id: str, *, since_nanos: int) -> AsyncIterator[LogLine]:
        tty = await self._tty(container_id)
        since = since_nanos
        tracker = OutputTracker(OutputPosition())
        while True:
            try:
                async for line in self._stream(container_id, since, tty):
                    if tracker.step(line):
                        yield line
            except (OSError, asyncio.IncompleteReadError, DockerError) as exc:
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
        query = urlencode(
            {
                "follow": "1",
                "stdout": "1",
                "stderr": "1",
                "timestamps": "1",
                "since": _since_param(since),
            }
        )
        target = f"/v{version}/containers/{quote(container_id)}/logs?{query}"
        reader, writer = await asyncio.open_unix_connection(self._socket_path, limit=_HEAD_LIMIT)
        try:
            writer.write(f"GET {target} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status == 404:
                return
            if status >= 400:
                raise DockerError(_error_text(await reader.read()), status_code=status)
            chunks = _body(reader)
            frames = _raw_lines(chunks) if tty else _frames(chunks)
            unfinished = b""
            async for source, payload in frames:
                if source == _UNFINISHED:
                    unfinished = payload
                elif payload.strip():
                    nanos, text = _split_timestamp(payload)
                    yield LogLine(nanos, text, source)
            # A TTY's last line may lack its newline: it is whole once the container is
            # gone, and cut short if the stream merely broke (then it is read again).
            if unfinished.strip() and not await self._still_producing(container_id):
                nanos, text = _split_timestamp(unfinished)
                yield LogLine(nanos, text, "stdout")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _error_text(body: bytes) -> str:
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace").strip()


async def _body(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while chunk := await reader.read(_READ_SIZE):
        yield chunk


async def _frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, bytes]]:
    """Docker's multiplexed stream: [stream, 0, 0, 0, size (4 bytes, big-endian)] + payload."""
    buffer = b""
    async for chunk in chunks:
        buffer = buffer + chunk if buffer else chunk
        pos = 0
        while len(buffer) - pos >= 8:
            size = int.from_bytes(buffer[pos + 4 : pos + 8], "big")
            if len(buffer) - pos < 8 + size:
                break
            source = "stderr" if buffer[pos] == 2 else "stdout"
            yield source, buffer[pos + 8 : pos + 8 + size]
            pos += 8 + size
        buffer = buffer[pos:]


async def _raw_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, bytes]]:
    """A TTY container's single raw stream, one timestamped message per line."""
    buffer = b""
    async for chunk in chunks:
        buffer = buffer + chunk if buffer else chunk
        pos = 0
        while (end := buffer.find(b"\n", pos)) >= 0:
            yield "stdout", buffer[pos : end + 1]
            pos = end + 1
        buffer = buffer[pos:]
    if buffer:
        yield _UNFINISHED, buffer
