"""Dropping metric datapoints past retention, in short transactions."""

from __future__ import annotations

from sqlalchemy import Connection

from openecs.store import metrics as metric_rows
from openecs.usecases.backend import Backend

__all__ = ["expire_datapoints"]

_CHUNK = 5_000


def expire_datapoints(backend: Backend, older_than: float) -> int:
    """Delete datapoints whose period started before `older_than` (epoch seconds);
    how many went. Chunked, so a backlog never holds the write lock for long."""
    cutoff = int(older_than)
    total = 0
    while True:

        def work(conn: Connection) -> int:
            return metric_rows.delete_older_than(conn, cutoff, limit=_CHUNK)

        deleted = backend.write(work)
        total += deleted
        if deleted == 0:
            return total
