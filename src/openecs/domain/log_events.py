"""Log events: PutLogEvents' batch rules, positions in a stream, and the tokens
and event ids the read operations hand out.

Where an event sits: `(timestamp, seq)` inside a stream, where `seq` is the
stream's ingestion sequence (1, 2, 3... in the order PutLogEvents stored them).
Across the streams of a group: `(timestamp, stream id, seq)`.

GetLogEvents tokens look like AWS's, `f/<56 digits>/s` and `b/<56 digits>/s`:
the digits are a position, `f` reads after it, `b` reads before it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from openecs.domain.errors import InvalidParameterException
from openecs.domain.log_group import DAY_MS

__all__ = [
    "EVENT_OVERHEAD_BYTES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_RESPONSE_BYTES",
    "BatchVerdict",
    "InputEvent",
    "StoredEvent",
    "StreamPosition",
    "check_batch",
    "check_batch_shape",
    "classify_batch",
    "encode_event_id",
    "event_size",
    "input_events",
    "message_bytes",
    "parse_stream_token",
    "stream_token",
]

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_RESPONSE_BYTES = 1_048_576
MAX_BATCH_SPAN_MS = DAY_MS
MAX_AGE_MS = 14 * DAY_MS
MAX_FUTURE_MS = 2 * 3_600_000

_SEQ_SCALE = 10**20
_TOKEN = re.compile(r"([fb])/(\d{1,56})(?:/s)?")


class InputEvent(NamedTuple):
    """An event as PutLogEvents takes it (a tuple: batches hold 10,000 of them)."""

    timestamp: int
    message: str


@dataclass(frozen=True, slots=True)
class BatchVerdict:
    """What PutLogEvents keeps of a batch: one contiguous run, the rest rejected."""

    accepted: Sequence[InputEvent]
    too_new_start: int | None = None
    too_old_end: int | None = None
    expired_end: int | None = None

    def rejected_info(self) -> dict[str, int] | None:
        info = {
            "tooNewLogEventStartIndex": self.too_new_start,
            "tooOldLogEventEndIndex": self.too_old_end,
            "expiredLogEventEndIndex": self.expired_end,
        }
        present = {k: v for k, v in info.items() if v is not None}
        return present or None


@dataclass(frozen=True, order=True, slots=True)
class StreamPosition:
    timestamp: int
    seq: int


class StoredEvent(NamedTuple):
    """An event as the store holds it; `stream_name` is filled in by group-wide reads.
    (A tuple: reads hand out 10,000 at a time.)"""

    stream_id: int
    timestamp: int
    seq: int
    ingestion_time: int
    message: str
    stream_name: str = ""

    @property
    def position(self) -> StreamPosition:
        return StreamPosition(self.timestamp, self.seq)

    @property
    def event_id(self) -> str:
        return encode_event_id(self.timestamp, self.stream_id, self.seq)


def message_bytes(message: str) -> int:
    return len(message.encode("utf-8", "surrogatepass"))


def event_size(message: str) -> int:
    """An event's share of a batch or response, as AWS counts it."""
    return message_bytes(message) + EVENT_OVERHEAD_BYTES


def check_batch_shape(events: Sequence[InputEvent]) -> None:
    """The rules that fail a whole PutLogEvents call regardless of the clock."""
    size = sum(event_size(e.message) for e in events)
    if size > MAX_BATCH_BYTES:
        raise InvalidParameterException(
            f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )
    for before, after in itertools.pairwise(events):
        if after.timestamp < before.timestamp:
            raise InvalidParameterException(
                "Log events in a single PutLogEvents request must be in chronological order."
            )


def check_batch(
    events: Sequence[InputEvent], *, now_ms: int, retention_days: int | None
) -> BatchVerdict:
    """Split a batch into what is stored and what is rejected (`check_batch_shape`,
    then `classify_batch`)."""
    check_batch_shape(events)
    return classify_batch(events, now_ms=now_ms, retention_days=retention_days)


def classify_batch(
    events: Sequence[InputEvent], *, now_ms: int, retention_days: int | None
) -> BatchVerdict:
    """Split a batch that passed `check_batch_shape` into what is stored and what is
    rejected.

    Events older than 14 days or than the group's retention, or more than two hours
    ahead, are rejected by index (a prefix and a suffix, since the batch is in order);
    the rest must not span more than 24 hours or the call fails.
    """
    too_old = sum(1 for e in events if e.timestamp < now_ms - MAX_AGE_MS)
    expired = 0
    if retention_days is not None:
        expired = sum(1 for e in events if e.timestamp < now_ms - retention_days * DAY_MS)
    too_new_at = next(
        (i for i, e in enumerate(events) if e.timestamp > now_ms + MAX_FUTURE_MS), len(events)
    )
    first = max(too_old, expired)
    accepted = events[first:too_new_at] if first < too_new_at else []
    if accepted and accepted[-1].timestamp - accepted[0].timestamp > MAX_BATCH_SPAN_MS:
        raise InvalidParameterException(
            "The batch of log events in a single PutLogEvents request cannot span more than "
            "24 hours."
        )
    return BatchVerdict(
        accepted=accepted,
        too_new_start=too_new_at if too_new_at < len(events) else None,
        too_old_end=too_old or None,
        expired_end=expired or None,
    )


def stream_token(direction: str, position: StreamPosition) -> str:
    """`f/...` (read after `position`) or `b/...` (read before it)."""
    return f"{direction}/{position.timestamp * _SEQ_SCALE + position.seq:056d}/s"


def parse_stream_token(token: str) -> tuple[str, StreamPosition]:
    found = _TOKEN.fullmatch(token)
    if found is None:
        raise InvalidParameterException("The specified nextToken is invalid.")
    timestamp, seq = divmod(int(found[2]), _SEQ_SCALE)
    return found[1], StreamPosition(timestamp, seq)


def encode_event_id(timestamp: int, stream_id: int, seq: int) -> str:
    """A 56-digit event id, unique in its log group, ordered like the events."""
    return f"{timestamp:019d}{stream_id:018d}{seq:019d}"


def input_events(items: Sequence[dict[str, Any]]) -> list[InputEvent]:
    return [InputEvent(item["timestamp"], item["message"]) for item in items]
