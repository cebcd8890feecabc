"""Deleting log events that a group's retention or the per-stream cap no longer keeps.

Deletes go in chunks, each its own short transaction, so that a large backlog
never holds the write lock for long.
"""

from __future__ import annotations

from sqlalchemy import Connection

from openecs.domain.log_group import StreamRetentionView
from openecs.store import logs as log_rows
from openecs.usecases.backend import Backend

__all__ = ["delete_oldest_events", "log_retention_view"]

_CHUNK = 5_000


def log_retention_view(
    backend: Backend, *, max_events_per_stream: int | None
) -> list[StreamRetentionView]:
    with backend.reading() as conn:
        return log_rows.retention_view(conn, max_events_per_stream=max_events_per_stream)


def delete_oldest_events(
    backend: Backend, stream_id: int, *, before: int | None = None, count: int | None = None
) -> int:
    """Delete a stream's events older than `before` (epoch ms), or its `count` oldest
    events, or (both given) the oldest `count` of those older than `before`; the number
    deleted. A stream deleted meanwhile simply has nothing left to delete."""
    deleted = 0
    while count is None or deleted < count:
        chunk = _CHUNK if count is None else min(_CHUNK, count - deleted)

        def work(conn: Connection, chunk: int = chunk) -> int:
            return log_rows.delete_oldest_events(conn, stream_id, before=before, limit=chunk)

        done = backend.write(work)
        deleted += done
        if done < chunk:
            break
    return deleted
