"""The awslogs log driver, agent side: one container's output, shipped to CloudWatch Logs.

Containers keep Docker's own json-file logging; a `LogShipper` follows a
container's output through the Engine API (`GET /containers/{id}/logs?follow=1
&timestamps=1`) and ships it, in order, with PutLogEvents to the control plane:

    Docker ──lines──▶ reader ──▶ buffer (max-buffer-size) ──▶ flusher ──PutLogEvents──▶ logs
                        │                                        │
                        └── skips what the checkpoint covers     └── checkpoint after each ack

* Stream name: `awslogs-stream-prefix/container-name/task-id`, or the container id
  without a prefix (as ECS names them). `prepare()` creates the stream, and the
  group when `awslogs-create-group` is true; a missing group it may not create
  is a `LogDriverError` worded as ECS words the failed start.
* Batches: at most 10,000 events and 1 MiB (messages in UTF-8 + 26 bytes each)
  spanning at most 24 hours, sent when full or `flush_interval` after their first
  line. Event times are Docker's, in milliseconds, never decreasing within a
  stream. Empty lines are not sent (CloudWatch refuses empty messages).
* Modes: `blocking` (the default in Docker) never drops a line: when the buffer
  is full the reader waits (Docker keeps the output on disk meanwhile).
  `non-blocking` drops new lines while the buffer holds `max-buffer-size` bytes.
* Delivery: transient failures (no answer, 5xx, throttling) are retried with
  backoff until `stop()`'s deadline. The checkpoint (in the agent's data dir) is
  the `OutputPosition` of the last shipped line: per stream, its Docker time and
  how many lines at that very nanosecond were shipped, so resuming with Docker's
  inclusive `since` skips exactly what was shipped. Before each PutLogEvents the
  batch is recorded as pending; after a crash between the ack and the checkpoint,
  the shipper asks GetLogEvents whether the pending batch arrived. Lines are
  neither lost nor repeated across agent restarts.

LIMITATIONS (where OpenECS differs from ECS's awslogs driver):
* `awslogs-datetime-format`, `awslogs-multiline-pattern` and `awslogs-endpoint`
  are ignored: every Docker message is one event;
* a container must log through a driver Docker can read back (json-file or local).

The pieces: `container_log_source` reads Docker, `logs_client` calls the control
plane; both are re-exported here, the one module the task runner needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openecs.agent.container_log_source import (
    DockerLogSource,
    LogLine,
    LogSource,
    OutputPosition,
    OutputTracker,
)
from openecs.agent.logs_client import LogsApiError, LogsClient, LogsClientPool, LogsUnavailable

__all__ = [
    "AwslogsOptions",
    "DockerLogSource",
    "LogDriverError",
    "LogLine",
    "LogShipper",
    "LogSource",
    "LogsApiError",
    "LogsClient",
    "LogsClientPool",
    "LogsUnavailable",
    "checkpoint_path",
]

log = logging.getLogger("openecs.agent.logs")

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
# The per-event limit AWS has long documented (it allows more today); longer lines
# are split into pieces of at most this many bytes, kept in one batch.
MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD
MAX_SPAN_MS = 24 * 3_600_000
DEFAULT_MAX_BUFFER = 1024 * 1024
_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class LogDriverError(Exception):
    """The awslogs logger cannot work for this container; the container must not start.
    The text is the stoppedReason ECS gives for such a task."""


# --- options -------------------------------------------------------------------------


def _parse_size(text: str) -> int:
    found = _SIZE.match(text)
    if found is None or float(found[1]) <= 0:
        raise LogDriverError(
            "ResourceInitializationError: failed to validate logger args: "
            f"invalid value for log opt 'max-buffer-size': {text!r}"
        )
    return int(float(found[1]) * _UNITS[found[2].lower()])


@dataclass(frozen=True, slots=True)
class AwslogsOptions:
    """The `logConfiguration.options` of an awslogs container, checked."""

    group: str
    region: str
    stream_prefix: str | None = None
    create_group: bool = False
    mode: str = "blocking"
    max_buffer_size: int = DEFAULT_MAX_BUFFER

    @classmethod
    def parse(
        cls, options: Mapping[str, str], *, default_mode: str = "non-blocking"
    ) -> AwslogsOptions:
        """`default_mode` is the account's defaultLogDriverMode (ECS: non-blocking)."""

        def required(key: str) -> str:
            value = options.get(key)
            if not value:
                raise LogDriverError(
                    "ResourceInitializationError: failed to validate logger args: "
                    f"must specify a value for log opt '{key}'"
                )
            return value

        mode = options.get("mode") or default_mode
        if mode not in ("blocking", "non-blocking"):
            raise LogDriverError(
                "ResourceInitializationError: failed to validate logger args: "
                f"unknown log mode {mode!r}: use blocking or non-blocking"
            )
        create = options.get("awslogs-create-group", "false").strip().lower()
        if create not in ("true", "false"):
            raise LogDriverError(
                "ResourceInitializationError: failed to validate logger args: "
                f"invalid value for log opt 'awslogs-create-group': {create!r}"
            )
        size = options.get("max-buffer-size")
        return cls(
            group=required("awslogs-group"),
            region=required("awslogs-region"),
            stream_prefix=options.get("awslogs-stream-prefix") or None,
            create_group=create == "true",
            mode=mode,
            max_buffer_size=_parse_size(size) if size else DEFAULT_MAX_BUFFER,
        )

    def stream_name(self, *, task_arn: str, container_name: str, container_id: str) -> str:
        if self.stream_prefix is None:
            return container_id
        task_id = task_arn.rsplit("/", 1)[-1]
        return f"{self.stream_prefix}/{container_name}/{task_id}"


# --- checkpoints ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pending:
    """A batch sent but not known to be stored: enough to recognise it in the stream."""

    first_ms: int
    last_ms: int
    count: int
    digest: str
    # Events of earlier batches that the window [first_ms, last_ms] also holds.
    earlier_in_window: int
    end: OutputPosition
    last_ms_after: int
    at_last_ms_after: int


def checkpoint_path(data_dir: Path, container_id: str) -> Path:
    return data_dir / "awslogs" / f"{container_id}.json"


@dataclass(slots=True)
class _Checkpoint:
    """What has been shipped: up to `shipped` in Docker's output; the last event time
    sent and how many events were sent at exactly that millisecond."""

    shipped: OutputPosition = field(default_factory=OutputPosition)
    last_ms: int = 0
    at_last_ms: int = 0
    pending: _Pending | None = None

    @classmethod
    def load(cls, path: Path) -> _Checkpoint:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except ValueError:
            log.warning("unreadable log checkpoint ignored", extra={"path": str(path)})
            return cls()
        pending = doc.get("pending")
        return cls(
            shipped=OutputPosition.from_json(doc.get("shipped")),
            last_ms=int(doc.get("last_ms", 0)),
            at_last_ms=int(doc.get("at_last_ms", 0)),
            pending=(
                _Pending(
                    first_ms=pending["first_ms"],
                    last_ms=pending["last_ms"],
                    count=pending["count"],
                    digest=pending["digest"],
                    earlier_in_window=pending["earlier_in_window"],
                    end=OutputPosition.from_json(pending["end"]),
                    last_ms_after=pending["last_ms_after"],
                    at_last_ms_after=pending["at_last_ms_after"],
                )
                if pending
                else None
            ),
        )

    def save(self, path: Path) -> None:
        doc: dict[str, Any] = {
            "shipped": self.shipped.to_json(),
            "last_ms": self.last_ms,
            "at_last_ms": self.at_last_ms,
        }
        if self.pending is not None:
            p = self.pending
            doc["pending"] = {
                "first_ms": p.first_ms,
                "last_ms": p.last_ms,
                "count": p.count,
                "digest": p.digest,
                "earlier_in_window": p.earlier_in_window,
                "end": p.end.to_json(),
                "last_ms_after": p.last_ms_after,
                "at_last_ms_after": p.at_last_ms_after,
            }
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        with scratch.open("w") as out:
            json.dump(doc, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(scratch, path)


def _digest(messages: list[str]) -> str:
    hasher = hashlib.sha256()
    for message in messages:
        hasher.update(message.encode("utf-8", "surrogatepass"))
        hasher.update(b"\x00")
    return hasher.hexdigest()


# --- the shipper ---------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """A line read: its place (stream, Docker time, lines at that time), and the message
    pieces it becomes (none if empty)."""

    mark: tuple[str, int, int]
    timestamp_ms: int
    pieces: list[str]
    size: int


def _pieces(text: str) -> tuple[list[str], int]:
    """A message as events of at most MAX_EVENT_BYTES, never more than a batch, and
    their size as PutLogEvents counts it."""
    if not text:
        return [], 0
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_EVENT_BYTES:
        return [text], len(encoded) + EVENT_OVERHEAD
    pieces: list[str] = []
    budget = MAX_BATCH_BYTES
    start = 0
    while start < len(encoded) and budget >= EVENT_OVERHEAD + 4:
        end = min(start + MAX_EVENT_BYTES, start + budget - EVENT_OVERHEAD, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1  # never cut a UTF-8 sequence
        pieces.append(encoded[start:end].decode("utf-8", "surrogatepass"))
        budget -= end - start + EVENT_OVERHEAD
        start = end
    return pieces, MAX_BATCH_BYTES - budget


@dataclass(frozen=True, slots=True)
class _Batch:
    items: list[_Item]
    events: list[dict[str, Any]]
    last_ms: int
    at_last_ms: int


class LogShipper:
    """Ships one container's output to one log stream. See the module docstring.

    Use: `await prepare()` before starting the container (a LogDriverError fails the
    start), `start()` once it runs, then either `await wait()` (the container has
    exited: everything it wrote gets shipped) or `await stop()` (the agent is shutting
    down). `discard_checkpoint()` once the container is removed.
    """

    # In blocking mode nothing is dropped; this only bounds the agent's memory.
    BLOCKING_BUFFER = 4 * MAX_BATCH_BYTES

    def __init__(
        self,
        *,
        source: LogSource,
        client: LogsClient,
        options: AwslogsOptions,
        container_id: str,
        task_arn: str,
        container_name: str,
        data_dir: Path,
        flush_interval: float = 0.5,
        max_batch_events: int = MAX_BATCH_EVENTS,
        retry_delay: float = 0.2,
        max_retry_delay: float = 5.0,
    ) -> None:
        self.source = source
        self.client = client
        self.options = options
        self.container_id = container_id
        self.group = options.group
        self.stream = options.stream_name(
            task_arn=task_arn, container_name=container_name, container_id=container_id
        )
        self.checkpoint_file = checkpoint_path(data_dir, container_id)
        self.flush_interval = flush_interval
        self.max_batch_events = max(1, min(max_batch_events, MAX_BATCH_EVENTS))
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.buffer_limit = (
            options.max_buffer_size if options.mode == "non-blocking" else self.BLOCKING_BUFFER
        )
        self.shipped_events = 0
        # Non-blocking mode: lines dropped while the buffer was full.
        self.dropped_lines = 0
        # Events the control plane refused for good (the group was deleted...).
        self.refused_events = 0
        self._checkpoint = _Checkpoint.load(self.checkpoint_file)
        self._buffer: deque[_Item] = deque()
        self._buffered_bytes = 0
        self._buffered_events = 0
        self._has_data = asyncio.Event()  # reader -> flusher: a batch may be due
        self._has_space = asyncio.Event()  # flusher -> reader: the buffer shrank
        self._reader_waiting = False
        self._reading_done = False
        self._reader: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    # -- setting up ----------------------------------------------------------------

    async def prepare(self, *, attempts: int = 5) -> None:
        """Make sure the stream exists (and the group, when allowed to create it)."""
        for attempt in range(attempts):
            try:
                await self._ensure_stream()
                return
            except LogsUnavailable as exc:
                if attempt == attempts - 1:
                    raise self._init_error(
                        f"failed to create Cloudwatch log stream: {exc}"
                    ) from exc
                await asyncio.sleep(self.retry_delay * 2**attempt)

    async def _ensure_stream(self) -> None:
        try:
            await self._create("CreateLogStream", logStreamName=self.stream)
            return
        except LogsApiError as exc:
            if exc.code != "ResourceNotFoundException" or not self.options.create_group:
                raise self._init_error(
                    f"failed to create Cloudwatch log stream: {exc.code}: {exc.message}"
                ) from exc
        try:
            await self._create("CreateLogGroup")
            await self._create("CreateLogStream", logStreamName=self.stream)
        except LogsApiError as exc:
            raise self._init_error(
                f"failed to create Cloudwatch log group: {exc.code}: {exc.message}"
            ) from exc

    async def _create(self, operation: str, **extra: str) -> None:
        try:
            await self.client.call(operation, {"logGroupName": self.group, **extra})
        except LogsApiError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise

    def _init_error(self, detail: str) -> LogDriverError:
        return LogDriverError(
            "ResourceInitializationError: failed to validate logger args: "
            f"create stream has been retried 1 times: {detail} : exit status 1"
        )

    # -- running -------------------------------------------------------------------

    def start(self) -> None:
        if self._reader is not None:
            raise RuntimeError("the shipper is already running")
        self._reader = asyncio.create_task(self._read(), name=f"awslogs-read-{self.stream}")
        self._flusher = asyncio.create_task(self._flush_loop(), name=f"awslogs-{self.stream}")

    async def wait(self) -> None:
        """Until the container's output has ended and all of it is shipped."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop reading; ship what is buffered for up to `timeout` seconds. What could not
        be shipped is not checkpointed, so the next shipper of this container sends it."""
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._reading_done = True
        self._has_data.set()
        if self._flusher is not None and not self._flusher.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._flusher), timeout)
            except TimeoutError:
                self._flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._flusher

    def discard_checkpoint(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.checkpoint_file.unlink()

    async def _read(self) -> None:
        lines: AsyncIterator[LogLine] | None = None
        try:
            await self._settle_pending()
            tracker = OutputTracker(self._checkpoint.shipped)
            lines = self.source.follow(self.container_id, since_nanos=tracker.start.since())
            async for line in lines:
                if tracker.step(line):
                    await self._enqueue(tracker.mark, line)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading container output failed", extra={"stream": self.stream})
        finally:
            closer = getattr(lines, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
            self._reading_done = True
            self._has_data.set()

    async def _enqueue(self, mark: tuple[str, int, int], line: LogLine) -> None:
        pieces, size = _pieces(line.text)
        if self.options.mode == "non-blocking":
            if self._buffer and self._buffered_bytes + size > self.buffer_limit:
                self.dropped_lines += 1
                if self.dropped_lines % 1000 == 1:
                    log.warning(
                        "log buffer full: lines dropped (non-blocking mode)",
                        extra={"stream": self.stream, "dropped": self.dropped_lines},
                    )
                return
        else:
            while self._buffer and self._buffered_bytes + size > self.buffer_limit:
                self._reader_waiting = True
                self._has_data.set()  # a full buffer is a full batch: ship now
                self._has_space.clear()
                await self._has_space.wait()
            self._reader_waiting = False
        was_empty = not self._buffer
        self._buffer.append(_Item(mark, line.nanos // 1_000_000, pieces, size))
        self._buffered_bytes += size
        self._buffered_events += len(pieces)
        if was_empty or self._batch_full():
            self._has_data.set()

    def _batch_full(self) -> bool:
        return (
            self._reader_waiting
            or self._buffered_events >= self.max_batch_events
            or self._buffered_bytes >= MAX_BATCH_BYTES
        )

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        first_seen: float | None = None
        while True:
            if not self._buffer:
                if self._reading_done:
                    return
                first_seen = None
                self._has_data.clear()
                await self._has_data.wait()
                continue
            if first_seen is None:
                first_seen = loop.time()
            due = first_seen + self.flush_interval - loop.time()
            if not self._batch_full() and not self._reading_done and due > 0:
                self._has_data.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._has_data.wait(), due)
                continue
            await self._ship(self._take_batch())
            # What was left behind waited already: it goes in the next batch at once.
            first_seen = first_seen if self._buffer else None

    def _take_batch(self) -> _Batch:
        """Items from the buffer's head that make one valid PutLogEvents call, with their
        events; times are clamped so that they never go back within the stream."""
        items: list[_Item] = []
        events: list[dict[str, Any]] = []
        size = 0
        last_ms, at_last_ms = self._checkpoint.last_ms, self._checkpoint.at_last_ms
        first_ms: int | None = None
        for item in self._buffer:
            stamp = max(item.timestamp_ms, last_ms)
            if item.pieces:
                too_many = len(events) + len(item.pieces) > self.max_batch_events
                too_big = size + item.size > MAX_BATCH_BYTES
                too_long = first_ms is not None and stamp - first_ms > MAX_SPAN_MS
                if events and (too_many or too_big or too_long):
                    break
                if first_ms is None:
                    first_ms = stamp
                events.extend({"timestamp": stamp, "message": p} for p in item.pieces)
                size += item.size
                at_last_ms = (at_last_ms if stamp == last_ms else 0) + len(item.pieces)
                last_ms = stamp
            items.append(item)
        return _Batch(items, events, last_ms, at_last_ms)

    async def _ship(self, batch: _Batch) -> None:
        end = self._checkpoint.shipped.with_marks(item.mark for item in batch.items)
        if batch.events:
            first_ms = batch.events[0]["timestamp"]
            before = self._checkpoint
            self._checkpoint.pending = _Pending(
                first_ms=first_ms,
                last_ms=batch.events[-1]["timestamp"],
                count=len(batch.events),
                digest=_digest([e["message"] for e in batch.events]),
                earlier_in_window=before.at_last_ms if before.last_ms == first_ms else 0,
                end=end,
                last_ms_after=batch.last_ms,
                at_last_ms_after=batch.at_last_ms,
            )
            self._checkpoint.save(self.checkpoint_file)
            if await self._put(batch.events):
                self.shipped_events += len(batch.events)
            else:
                self.refused_events += len(batch.events)
        self._checkpoint = _Checkpoint(end, batch.last_ms, batch.at_last_ms)
        self._checkpoint.save(self.checkpoint_file)
        for item in batch.items:
            self._buffer.popleft()
            self._buffered_bytes -= item.size
            self._buffered_events -= len(item.pieces)
        self._has_space.set()

    async def _put(self, events: list[dict[str, Any]]) -> bool:
        """Send one batch until it is stored (True) or refused for good (False)."""
        delay = self.retry_delay
        payload = {"logGroupName": self.group, "logStreamName": self.stream, "logEvents": events}
        while True:
            try:
                answer = await self.client.call("PutLogEvents", payload)
            except LogsUnavailable as exc:
                log.warning("PutLogEvents failed; retrying", extra={"error": str(exc)})
            except LogsApiError as exc:
                if exc.code != "ResourceNotFoundException" or not await self._recreate():
                    log.error(
                        "PutLogEvents refused; batch dropped",
                        extra={"stream": self.stream, "error": str(exc), "events": len(events)},
                    )
                    return False
                continue
            else:
                rejected = answer.get("rejectedLogEventsInfo")
                if rejected:
                    log.warning(
                        "CloudWatch Logs rejected events of a batch",
                        extra={"stream": self.stream, "rejected": rejected},
                    )
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)

    async def _recreate(self) -> bool:
        """The stream (or group) went away while shipping: make it again if allowed."""
        try:
            await self._ensure_stream()
        except (LogDriverError, LogsUnavailable) as exc:
            log.error("log stream cannot be recreated", extra={"error": str(exc)})
            return False
        return True

    async def _settle_pending(self) -> None:
        """After a crash between PutLogEvents and its checkpoint: did the batch arrive?
        The stream is this container's alone, so the window of the batch's times holds
        exactly the earlier events it overlaps and, if it arrived, the batch."""
        pending = self._checkpoint.pending
        if pending is None:
            return
        delay = self.retry_delay
        while True:
            try:
                found = await self._messages_between(pending.first_ms, pending.last_ms)
                break
            except LogsUnavailable as exc:
                log.warning("pending log batch not verified yet", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
        arrived = (
            found is not None
            and len(found) == pending.earlier_in_window + pending.count
            and _digest(found[pending.earlier_in_window :]) == pending.digest
        )
        before = self._checkpoint
        self._checkpoint = (
            _Checkpoint(pending.end, pending.last_ms_after, pending.at_last_ms_after)
            if arrived
            else _Checkpoint(before.shipped, before.last_ms, before.at_last_ms)
        )
        self._checkpoint.save(self.checkpoint_file)

    async def _messages_between(self, first_ms: int, last_ms: int) -> list[str] | None:
        messages: list[str] = []
        token: str | None = None
        while True:
            payload: dict[str, Any] = {
                "logGroupName": self.group,
                "logStreamName": self.stream,
                "startTime": first_ms,
                "endTime": last_ms + 1,
                "startFromHead": True,
            }
            if token:
                payload["nextToken"] = token
            try:
                page = await self.client.call("GetLogEvents", payload)
            except LogsApiError as exc:
                log.warning("pending log batch not found; resending", extra={"error": str(exc)})
                return None
            events = page.get("events") or []
            messages += [event["message"] for event in events]
            following = page.get("nextForwardToken")
            if not events or following == token:
                return messages
            token = following
