"""Rows of metric datapoints: merge samples into a series' period, aggregate a
series over coarser periods, read the newest period of every series of a metric,
and drop periods past retention.

A series is (account, region, namespace, metric, dimensions); dimensions are
stored as canonical text (`dimensions_text`), so equal sets match exactly, as
CloudWatch matches them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from openecs.domain.metrics import Dimensions
from openecs.store.tables import metric_datapoints

__all__ = [
    "SeriesPeriod",
    "aggregate",
    "delete_older_than",
    "dimensions_from_text",
    "dimensions_text",
    "latest_periods",
    "merge_samples",
]

_KEY = ("account_id", "region", "namespace", "metric", "dimensions", "period_start")


@dataclass(frozen=True, slots=True)
class SeriesPeriod:
    """What one series holds for one 10-second period."""

    dimensions: Dimensions
    period_start: int
    sum: float
    sample_count: int
    minimum: float
    maximum: float
    unit: str

    @property
    def average(self) -> float:
        return self.sum / self.sample_count


def dimensions_text(dims: Dimensions) -> str:
    return json.dumps([list(pair) for pair in sorted(dims)], separators=(",", ":"))


def dimensions_from_text(text: str) -> Dimensions:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


def merge_samples(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert each sample row (the key columns, sum, sample_count, minimum, maximum,
    unit), or merge it into the period's row: sums and counts add, extremes widen."""
    if not rows:
        return
    table = metric_datapoints
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:  # pragma: no cover - the store supports SQLite and PostgreSQL only
        raise NotImplementedError(dialect)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={
            "sum": table.c.sum + new.sum,
            "sample_count": table.c.sample_count + new.sample_count,
            "minimum": case((new.minimum < table.c.minimum, new.minimum), else_=table.c.minimum),
            "maximum": case((new.maximum > table.c.maximum, new.maximum), else_=table.c.maximum),
            "unit": new.unit,
        },
    )
    conn.execute(stmt, list(rows))


def aggregate(
    conn: Connection,
    *,
    account_id: str,
    region: str,
    namespace: str,
    metric: str,
    dims: Dimensions,
    start: int,
    end: int,
    period: int,
) -> list[tuple[int, float, int, float, float]]:
    """(bucket start, sum, sample count, minimum, maximum) per `period`-second bucket
    (aligned to the epoch) of the series' rows with start <= period_start < end,
    ascending; buckets without rows are absent."""
    t = metric_datapoints
    bucket = (t.c.period_start - t.c.period_start % period).label("bucket")
    query = (
        select(
            bucket,
            func.sum(t.c.sum),
            func.sum(t.c.sample_count),
            func.min(t.c.minimum),
            func.max(t.c.maximum),
        )
        .where(
            t.c.account_id == account_id,
            t.c.region == region,
            t.c.namespace == namespace,
            t.c.metric == metric,
            t.c.dimensions == dimensions_text(dims),
            t.c.period_start >= start,
            t.c.period_start < end,
        )
        .group_by(bucket)
        .order_by(bucket)
    )
    return [
        (int(b), float(s), int(n), float(lo), float(hi))
        for b, s, n, lo, hi in conn.execute(query).all()
    ]


def latest_periods(
    conn: Connection, *, namespace: str, metric: str, since: int
) -> list[tuple[str, str, SeriesPeriod]]:
    """The newest period (at or after `since`) of every series of `metric`, with the
    series' account and region."""
    t = metric_datapoints
    series = (t.c.account_id, t.c.region, t.c.namespace, t.c.metric, t.c.dimensions)
    newest = (
        select(*series, func.max(t.c.period_start).label("newest"))
        .where(t.c.namespace == namespace, t.c.metric == metric, t.c.period_start >= since)
        .group_by(*series)
        .subquery()
    )
    query = select(t).join(
        newest,
        (t.c.account_id == newest.c.account_id)
        & (t.c.region == newest.c.region)
        & (t.c.namespace == newest.c.namespace)
        & (t.c.metric == newest.c.metric)
        & (t.c.dimensions == newest.c.dimensions)
        & (t.c.period_start == newest.c.newest),
    )
    return [
        (
            row.account_id,
            row.region,
            SeriesPeriod(
                dimensions=dimensions_from_text(row.dimensions),
                period_start=int(row.period_start),
                sum=float(row.sum),
                sample_count=int(row.sample_count),
                minimum=float(row.minimum),
                maximum=float(row.maximum),
                unit=row.unit,
            ),
        )
        for row in conn.execute(query).all()
    ]


def delete_older_than(conn: Connection, cutoff: int, *, limit: int) -> int:
    """Delete rows whose period starts before `cutoff`, oldest first, in whole periods
    and about `limit` rows at a time (more when the last period holds more); how many
    went. 0 means nothing before the cutoff is left."""
    t = metric_datapoints
    oldest = (
        select(t.c.period_start)
        .where(t.c.period_start < cutoff)
        .order_by(t.c.period_start)
        .limit(limit)
        .offset(limit - 1)
    )
    # Bounded chunks without DELETE ... LIMIT (not portable): delete up to the
    # `limit`-th oldest period start, or everything before the cutoff if fewer remain.
    bound = conn.execute(oldest).scalar()
    upper = cutoff if bound is None else min(int(bound) + 1, cutoff)
    return int(conn.execute(delete(t).where(t.c.period_start < upper)).rowcount)
