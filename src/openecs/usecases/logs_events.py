"""Log events: PutLogEvents, GetLogEvents, FilterLogEvents.

GetLogEvents reads one stream. Without a token it takes the oldest (`startFromHead`)
or the newest `limit` events of [startTime, endTime). A token bounds the range:
`f/P` keeps what lies after position P, `b/P` what lies before it, and
`startFromHead` still chooses which end of that range the page comes from (which
is why AWS asks for startFromHead=true when paging forward). The page's
nextForwardToken points after its last event, nextBackwardToken before its
first; an empty page hands back the token it was given.

FilterLogEvents reads a group across streams in (timestamp, stream, seq) order,
ascending or (startFromHead=false) descending, matching a filter pattern. A
page ends at `limit` events, at 1 MB, or after scanning 100,000 events; the
nextToken then says where to continue, and no token means nothing is left.

LIMITATIONS (where OpenECS differs from AWS):
* tokens do not expire after 24 hours;
* `unmask`, `interleaved` and `searchedLogStreams` have no effect (no data
  protection; results are always interleaved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from openecs.domain.errors import InvalidParameterException
from openecs.domain.log_events import (
    MAX_RESPONSE_BYTES,
    InputEvent,
    StoredEvent,
    StreamPosition,
    check_batch_shape,
    classify_batch,
    event_size,
    parse_stream_token,
    stream_token,
)
from openecs.domain.log_filter_pattern import parse_filter_pattern
from openecs.domain.scope import Scope
from openecs.store import logs as log_rows
from openecs.store.logs import GroupCursor
from openecs.usecases.backend import Backend
from openecs.usecases.logs import require_group, require_stream, resolve_group_name
from openecs.usecases.pagination import decode_token, encode_token

__all__ = [
    "FilteredPage",
    "PutResult",
    "StreamPage",
    "filter_log_events",
    "get_log_events",
    "put_log_events",
]

_DEFAULT_LIMIT = 10_000
_SCAN_BATCH = 1_000
_SCAN_BUDGET = 100_000
# FilterLogEvents reads newest-first only from this time on (Jan 1, 2024 00:00:00 UTC).
_DESCENDING_SINCE_MS = 1_704_067_200_000


@dataclass(frozen=True, slots=True)
class PutResult:
    next_sequence_token: str
    rejected: dict[str, int] | None


@dataclass(frozen=True, slots=True)
class StreamPage:
    events: list[StoredEvent]
    forward_token: str
    backward_token: str


@dataclass(frozen=True, slots=True)
class FilteredPage:
    events: list[StoredEvent]
    next_token: str | None


def put_log_events(
    backend: Backend,
    scope: Scope,
    group_name: str,
    stream_name: str,
    events: Sequence[InputEvent],
) -> PutResult:
    """Store a batch at the end of a stream. Sequence tokens are not asked for: any
    or none is accepted, as on AWS since 2023."""
    check_batch_shape(events)
    now_ms = int(backend.clock.now() * 1000)

    def work(conn: Connection) -> PutResult:
        group = require_group(conn, scope, group_name)
        stream = require_stream(conn, scope, group, stream_name, lock=True)
        verdict = classify_batch(
            events, now_ms=now_ms, retention_days=group.effective_retention_days
        )
        log_rows.append_events(conn, stream, verdict.accepted, ingestion_time=now_ms)
        return PutResult(f"{stream.upload_sequence:056d}", verdict.rejected_info())

    return backend.write(work)


def _within_response(events: list[StoredEvent], *, keep_newest: bool) -> list[StoredEvent]:
    """The longest run from the chosen end that fits in a response (at least one event)."""
    ordered = reversed(events) if keep_newest else iter(events)
    kept: list[StoredEvent] = []
    total = 0
    for event in ordered:
        total += event_size(event.message)
        if kept and total > MAX_RESPONSE_BYTES:
            break
        kept.append(event)
    if keep_newest:
        kept.reverse()
    return kept


def get_log_events(
    backend: Backend,
    scope: Scope,
    *,
    group_name: str | None,
    group_identifier: str | None,
    stream_name: str,
    start: int | None = None,
    end: int | None = None,
    next_token: str | None = None,
    limit: int | None = None,
    start_from_head: bool = False,
) -> StreamPage:
    name = resolve_group_name(scope, group_name, group_identifier)
    direction, position = parse_stream_token(next_token) if next_token else (None, None)
    with backend.reading() as conn:
        group = require_group(conn, scope, name)
        stream = require_stream(conn, scope, group, stream_name)
        found = log_rows.read_stream(
            conn,
            stream.id,
            start=start,
            end=end,
            after=position if direction == "f" else None,
            before=position if direction == "b" else None,
            newest_first=not start_from_head,
            limit=limit or _DEFAULT_LIMIT,
        )
    events = _within_response(found, keep_newest=not start_from_head)
    if events:
        return StreamPage(
            events,
            stream_token("f", events[-1].position),
            stream_token("b", events[0].position),
        )
    if next_token is not None and position is not None:
        forward = next_token if direction == "f" else stream_token("f", position)
        backward = next_token if direction == "b" else stream_token("b", position)
        return StreamPage([], forward, backward)
    origin = StreamPosition(start or 0, 0)
    return StreamPage([], stream_token("f", origin), stream_token("b", origin))


def _filter_cursor(token: str | None) -> tuple[GroupCursor | None, bool | None]:
    value = decode_token(token)
    if value is None:
        return None, None
    if (
        isinstance(value, dict)
        and value.get("d") in ("f", "b")
        and isinstance(value.get("c"), list)
        and len(value["c"]) == 3
        and all(isinstance(part, int) for part in value["c"])
    ):
        ts, stream_id, seq = value["c"]
        return (ts, stream_id, seq), value["d"] == "b"
    raise InvalidParameterException("The specified nextToken is invalid.")


def filter_log_events(
    backend: Backend,
    scope: Scope,
    *,
    group_name: str | None,
    group_identifier: str | None,
    stream_names: list[str] | None = None,
    stream_prefix: str | None = None,
    start: int | None = None,
    end: int | None = None,
    filter_pattern: str | None = None,
    next_token: str | None = None,
    limit: int | None = None,
    start_from_head: bool | None = None,
) -> FilteredPage:
    name = resolve_group_name(scope, group_name, group_identifier)
    if stream_names is not None and stream_prefix is not None:
        raise InvalidParameterException(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
        )
    pattern = parse_filter_pattern(filter_pattern)
    cursor, descending = _filter_cursor(next_token)
    if descending is None:
        descending = start_from_head is False
        if descending and (start is None or start < _DESCENDING_SINCE_MS):
            raise InvalidParameterException(
                "startFromHead=false is supported only with a startTime on or after "
                "Jan 1, 2024 00:00:00 UTC."
            )
    wanted = limit or _DEFAULT_LIMIT
    events: list[StoredEvent] = []
    size = scanned = 0
    more = full = False
    with backend.reading() as conn:
        group = require_group(conn, scope, name)
        more = True
        while more and not full and len(events) < wanted and scanned < _SCAN_BUDGET:
            batch = log_rows.scan_group(
                conn,
                group.id,
                stream_names=stream_names,
                stream_prefix=stream_prefix,
                start=start,
                end=end,
                cursor=cursor,
                descending=descending,
                limit=_SCAN_BATCH,
            )
            more = len(batch) == _SCAN_BATCH
            for index, event in enumerate(batch):
                if pattern.matches(event.message):
                    size += event_size(event.message)
                    if events and size > MAX_RESPONSE_BYTES:
                        # This event opens the next page: the cursor stays before it.
                        more = full = True
                        break
                    events.append(event)
                cursor = (event.timestamp, event.stream_id, event.seq)
                scanned += 1
                if len(events) >= wanted:
                    more = more or index < len(batch) - 1
                    break
    token = None
    if more and cursor is not None:
        token = encode_token({"c": list(cursor), "d": "b" if descending else "f"})
    return FilteredPage(events, token)
