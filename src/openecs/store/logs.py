"""Rows of CloudWatch Logs: log groups, log streams and log events.

A stream row carries what DescribeLogStreams shows and what writers need
(`next_seq`, the stream's ingestion sequence; `event_count` and `stored_bytes`,
kept up to date by appends and by retention). Event reads are range scans on
an index: `(stream_id, timestamp, seq)` for one stream, `(group_id, timestamp,
stream_id, seq)` for a whole group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    Select,
    and_,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from openecs.domain.log_events import InputEvent, StoredEvent, StreamPosition, message_bytes
from openecs.domain.log_group import (
    LogGroup,
    LogStream,
    StreamRetentionView,
    effective_retention_days,
)
from openecs.domain.scope import Scope
from openecs.store.tables import log_events, log_groups, log_streams

__all__ = [
    "GroupCursor",
    "append_events",
    "delete_group",
    "delete_oldest_events",
    "delete_stream",
    "get_group",
    "get_stream",
    "insert_group",
    "insert_stream",
    "list_groups",
    "list_streams",
    "read_stream",
    "retention_view",
    "scan_group",
    "stored_bytes",
    "update_group",
]

GroupCursor = tuple[int, int, int]
"""A position across a group's streams: (timestamp, stream id, seq)."""


# --- log groups ----------------------------------------------------------------------


def _new_id(key: Any) -> int:
    assert key is not None
    return int(key[0])


def _group(row: Any) -> LogGroup:
    return LogGroup(
        name=row.name,
        arn=row.arn,
        created_at=row.created_at,
        retention_days=row.retention_days,
        kms_key_id=row.kms_key_id,
        log_group_class=row.log_group_class,
        deletion_protection=bool(row.deletion_protection),
        id=row.id,
    )


def _in_scope(scope: Scope) -> tuple[ColumnElement[bool], ...]:
    return (log_groups.c.account_id == scope.account_id, log_groups.c.region == scope.region)


def get_group(conn: Connection, scope: Scope, name: str) -> LogGroup | None:
    row = conn.execute(select(log_groups).where(*_in_scope(scope), log_groups.c.name == name))
    found = row.first()
    return _group(found) if found else None


def insert_group(conn: Connection, scope: Scope, group: LogGroup) -> None:
    result = conn.execute(
        insert(log_groups).values(
            account_id=scope.account_id,
            region=scope.region,
            name=group.name,
            arn=group.arn,
            created_at=group.created_at,
            retention_days=group.retention_days,
            kms_key_id=group.kms_key_id,
            log_group_class=group.log_group_class,
            deletion_protection=group.deletion_protection,
        )
    )
    group.id = _new_id(result.inserted_primary_key)


def update_group(conn: Connection, group: LogGroup) -> None:
    conn.execute(
        update(log_groups)
        .where(log_groups.c.id == group.id)
        .values(
            retention_days=group.retention_days,
            deletion_protection=group.deletion_protection,
        )
    )


def delete_group(conn: Connection, group_id: int) -> None:
    conn.execute(delete(log_events).where(log_events.c.group_id == group_id))
    conn.execute(delete(log_streams).where(log_streams.c.group_id == group_id))
    conn.execute(delete(log_groups).where(log_groups.c.id == group_id))


def list_groups(
    conn: Connection,
    scope: Scope,
    *,
    after: str | None,
    limit: int,
    prefix: str | None = None,
    contains: str | None = None,
    names: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
) -> list[LogGroup]:
    """Groups in name order after `after`. `contains` is a case-sensitive substring
    test the caller finishes: LIKE narrows (case-insensitively on SQLite) first."""
    query = select(log_groups).where(*_in_scope(scope)).order_by(log_groups.c.name).limit(limit)
    if after is not None:
        query = query.where(log_groups.c.name > after)
    if prefix:
        query = query.where(func.substr(log_groups.c.name, 1, len(prefix)) == prefix)
    if contains:
        query = query.where(log_groups.c.name.contains(contains, autoescape=True))
    if names is not None:
        query = query.where(log_groups.c.name.in_(list(names)))
    if classes is not None:
        query = query.where(log_groups.c.log_group_class.in_(list(classes)))
    return [_group(row) for row in conn.execute(query)]


def stored_bytes(conn: Connection, group_ids: Sequence[int]) -> dict[int, int]:
    if not group_ids:
        return {}
    rows = conn.execute(
        select(log_streams.c.group_id, func.sum(log_streams.c.stored_bytes))
        .where(log_streams.c.group_id.in_(list(group_ids)))
        .group_by(log_streams.c.group_id)
    )
    return {group_id: int(total or 0) for group_id, total in rows}


# --- log streams ---------------------------------------------------------------------


def _stream(row: Any) -> LogStream:
    return LogStream(
        name=row.name,
        arn="",
        created_at=row.created_at,
        group_id=row.group_id,
        first_event_ts=row.first_event_ts,
        last_event_ts=row.last_event_ts if row.first_event_ts is not None else None,
        last_ingestion_time=row.last_ingestion_time,
        upload_sequence=row.upload_sequence,
        event_count=row.event_count,
        stored_bytes=row.stored_bytes,
        next_seq=row.next_seq,
        id=row.id,
    )


def get_stream(
    conn: Connection, group_id: int, name: str, *, lock: bool = False
) -> LogStream | None:
    """A stream by name; `lock` holds its row until the transaction ends (PostgreSQL;
    SQLite's write transactions are exclusive anyway)."""
    query = select(log_streams).where(log_streams.c.group_id == group_id)
    query = query.where(log_streams.c.name == name)
    if lock:
        query = query.with_for_update()
    found = conn.execute(query).first()
    return _stream(found) if found else None


def insert_stream(conn: Connection, stream: LogStream) -> None:
    result = conn.execute(
        insert(log_streams).values(
            group_id=stream.group_id,
            name=stream.name,
            created_at=stream.created_at,
            first_event_ts=None,
            last_event_ts=0,
            last_ingestion_time=None,
            upload_sequence=0,
            next_seq=1,
            event_count=0,
            stored_bytes=0,
        )
    )
    stream.id = _new_id(result.inserted_primary_key)


def delete_stream(conn: Connection, stream_id: int) -> None:
    conn.execute(delete(log_events).where(log_events.c.stream_id == stream_id))
    conn.execute(delete(log_streams).where(log_streams.c.id == stream_id))


def list_streams(
    conn: Connection,
    group_id: int,
    *,
    prefix: str | None,
    by_last_event: bool,
    descending: bool,
    after: tuple[int, str] | None,
    limit: int,
) -> list[LogStream]:
    """Streams ordered by name, or by (last event time, name); `after` is the sort key
    of the last stream of the previous page (its time is ignored when ordering by name)."""
    columns = (
        (log_streams.c.last_event_ts, log_streams.c.name)
        if by_last_event
        else (log_streams.c.name,)
    )
    query = select(log_streams).where(log_streams.c.group_id == group_id).limit(limit)
    query = query.order_by(*(c.desc() if descending else c.asc() for c in columns))
    if prefix:
        query = query.where(func.substr(log_streams.c.name, 1, len(prefix)) == prefix)
    if after is not None:
        key = tuple_(*columns)
        bound = tuple_(*(after if by_last_event else after[1:]))
        query = query.where(key < bound if descending else key > bound)
    return [_stream(row) for row in conn.execute(query)]


# --- log events ----------------------------------------------------------------------


def append_events(
    conn: Connection,
    stream: LogStream,
    events: Sequence[InputEvent],
    *,
    ingestion_time: int,
) -> None:
    """Store `events` (in order) at the end of the stream's ingestion sequence and
    update the stream's counters. The stream must have been read with `lock=True`."""
    stream.upload_sequence += 1
    stream.last_ingestion_time = ingestion_time
    if events:
        # Straight to the driver's executemany: SQLAlchemy's per-row parameter
        # processing would cost more than the insert itself for 10,000 events.
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO {log_events.name} "
            "(stream_id, timestamp, seq, group_id, ingestion_time, message) "
            f"VALUES ({', '.join([marker] * 6)})",
            [
                (
                    stream.id,
                    event.timestamp,
                    stream.next_seq + offset,
                    stream.group_id,
                    ingestion_time,
                    event.message,
                )
                for offset, event in enumerate(events)
            ],
        )
        low = min(e.timestamp for e in events)
        high = max(e.timestamp for e in events)
        first = stream.first_event_ts
        stream.first_event_ts = low if first is None else min(first, low)
        stream.last_event_ts = max(stream.last_event_ts or 0, high)
        stream.next_seq += len(events)
        stream.event_count += len(events)
        stream.stored_bytes += sum(message_bytes(e.message) for e in events)
    conn.execute(
        update(log_streams)
        .where(log_streams.c.id == stream.id)
        .values(
            first_event_ts=stream.first_event_ts,
            last_event_ts=stream.last_event_ts or 0,
            last_ingestion_time=stream.last_ingestion_time,
            upload_sequence=stream.upload_sequence,
            next_seq=stream.next_seq,
            event_count=stream.event_count,
            stored_bytes=stream.stored_bytes,
        )
    )


def read_stream(
    conn: Connection,
    stream_id: int,
    *,
    start: int | None,
    end: int | None,
    after: StreamPosition | None,
    before: StreamPosition | None,
    newest_first: bool,
    limit: int,
) -> list[StoredEvent]:
    """Up to `limit` events with start <= timestamp < end, strictly between `after`
    and `before`, from the oldest end of that range or (`newest_first`) the newest;
    always returned oldest first."""
    c = log_events.c
    query: Select[Any] = select(c.stream_id, c.timestamp, c.seq, c.ingestion_time, c.message).where(
        c.stream_id == stream_id
    )
    if start is not None:
        query = query.where(c.timestamp >= start)
    if end is not None:
        query = query.where(c.timestamp < end)
    if after is not None:
        query = query.where(c.timestamp >= after.timestamp)
        query = query.where(tuple_(c.timestamp, c.seq) > tuple_(after.timestamp, after.seq))
    if before is not None:
        query = query.where(c.timestamp <= before.timestamp)
        query = query.where(tuple_(c.timestamp, c.seq) < tuple_(before.timestamp, before.seq))
    if newest_first:
        query = query.order_by(c.timestamp.desc(), c.seq.desc())
    else:
        query = query.order_by(c.timestamp, c.seq)
    # Columns in StoredEvent's order: rows become events without a look-up per field.
    events = [StoredEvent(*row) for row in conn.execute(query.limit(limit))]
    if newest_first:
        events.reverse()
    return events


def scan_group(
    conn: Connection,
    group_id: int,
    *,
    stream_names: Sequence[str] | None,
    stream_prefix: str | None,
    start: int | None,
    end: int | None,
    cursor: GroupCursor | None,
    descending: bool,
    limit: int,
) -> list[StoredEvent]:
    """Up to `limit` events of a group in (timestamp, stream, seq) order (or its reverse)
    strictly past `cursor`, with start <= timestamp <= end, with their stream names."""
    e, s = log_events.c, log_streams.c
    query: Select[Any] = (
        select(e.stream_id, e.timestamp, e.seq, e.ingestion_time, e.message, s.name)
        .join_from(log_events, log_streams, s.id == e.stream_id)
        .where(e.group_id == group_id)
    )
    if stream_names is not None:
        query = query.where(s.name.in_(list(stream_names)))
    if stream_prefix:
        query = query.where(func.substr(s.name, 1, len(stream_prefix)) == stream_prefix)
    if start is not None:
        query = query.where(e.timestamp >= start)
    if end is not None:
        query = query.where(e.timestamp <= end)
    key = (e.timestamp, e.stream_id, e.seq)
    if cursor is not None:
        if descending:
            query = query.where(e.timestamp <= cursor[0], tuple_(*key) < tuple_(*cursor))
        else:
            query = query.where(e.timestamp >= cursor[0], tuple_(*key) > tuple_(*cursor))
    query = query.order_by(*(k.desc() for k in key) if descending else key)
    return [StoredEvent(*row) for row in conn.execute(query.limit(limit))]


# --- retention -----------------------------------------------------------------------


def retention_view(
    conn: Connection, *, max_events_per_stream: int | None
) -> list[StreamRetentionView]:
    """Streams that retention may have work for: in a group that expires events, or
    holding more than `max_events_per_stream`."""
    g, s = log_groups.c, log_streams.c
    oldest = (
        select(func.min(log_events.c.timestamp))
        .where(log_events.c.stream_id == s.id)
        .scalar_subquery()
    )
    interesting = [g.retention_days.is_not(None), g.log_group_class == "DELIVERY"]
    if max_events_per_stream is not None:
        interesting.append(s.event_count > max_events_per_stream)
    query = (
        select(s.id, s.event_count, g.retention_days, g.log_group_class, oldest.label("oldest"))
        .join_from(log_streams, log_groups, g.id == s.group_id)
        .where(s.event_count > 0, or_(*interesting))
        .order_by(s.id)
    )
    return [
        StreamRetentionView(
            stream_id=row.id,
            retention_days=effective_retention_days(row.retention_days, row.log_group_class),
            event_count=row.event_count,
            oldest_event_ts=row.oldest,
        )
        for row in conn.execute(query)
    ]


def _octets(conn: Connection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.octet_length(column)
    return func.length(cast(column, LargeBinary))


def delete_oldest_events(
    conn: Connection, stream_id: int, *, before: int | None, limit: int
) -> int:
    """Delete up to `limit` of the stream's oldest events (only those with timestamp <
    `before`, when given); the number deleted. Keeps the stream's counters right."""
    c = log_events.c
    candidates = select(c.timestamp, c.seq).where(c.stream_id == stream_id)
    if before is not None:
        candidates = candidates.where(c.timestamp < before)
    rows = conn.execute(candidates.order_by(c.timestamp, c.seq).limit(limit)).all()
    if not rows:
        return 0
    last = rows[-1]
    doomed = and_(
        c.stream_id == stream_id,
        c.timestamp <= last.timestamp,
        tuple_(c.timestamp, c.seq) <= tuple_(last.timestamp, last.seq),
    )
    size = conn.execute(select(func.sum(_octets(conn, c.message))).where(doomed)).scalar()
    deleted = conn.execute(delete(log_events).where(doomed)).rowcount
    conn.execute(
        update(log_streams)
        .where(log_streams.c.id == stream_id)
        .values(
            event_count=log_streams.c.event_count - deleted,
            stored_bytes=log_streams.c.stored_bytes - int(size or 0),
        )
    )
    return int(deleted)
