"""Recording and querying metric datapoints (10-second resolution), the numbers
auto scaling, `/metrics` and the console read.

Recording: each `Datapoint` is one sample of its series (namespace, metric, exact
dimension set) in the 10-second period its timestamp falls in. A period's row
keeps sum, sample count, minimum and maximum of its samples, so
* repeated samples in one period average correctly (Average = sum / count),
* Sum adds them (counters such as RequestCount send one sample per period, so
  their Sum is the count),
* recording is per (namespace, metric, dimensions, period): never a second row;
  a sample sent twice leaves Average, Minimum and Maximum as they were (it counts
  twice only in Sum and SampleCount, so senders of counts send each once).

Querying works like CloudWatch's GetMetricStatistics: dimensions match exactly;
start is inclusive and end exclusive; buckets of `period` seconds are aligned to
the epoch; periods without data are absent.
"""

from __future__ import annotations

import math

from sqlalchemy import Connection

from openecs.domain.errors import InvalidParameterException
from openecs.domain.metrics import RESOLUTION_SECONDS, Datapoint, Dimensions
from openecs.store import metrics as metric_rows
from openecs.usecases.backend import Backend

__all__ = ["STATISTICS", "query_metric", "record_datapoints"]

STATISTICS = ("Average", "Sum", "Maximum", "Minimum", "SampleCount")


def record_datapoints(backend: Backend, points: list[Datapoint]) -> None:
    """Merge the samples into their series' 10-second periods, in one transaction."""
    rows = [
        {
            "account_id": p.account_id,
            "region": p.region,
            "namespace": p.namespace,
            "metric": p.metric,
            "dimensions": metric_rows.dimensions_text(p.dimensions),
            "period_start": _period_start(p.timestamp),
            "sum": float(p.value),
            "sample_count": 1,
            "minimum": float(p.value),
            "maximum": float(p.value),
            "unit": p.unit,
        }
        for p in points
        if math.isfinite(p.value)
    ]
    if not rows:
        return

    def work(conn: Connection) -> None:
        metric_rows.merge_samples(conn, rows)

    backend.write(work)


def query_metric(
    backend: Backend,
    *,
    account_id: str,
    region: str,
    namespace: str,
    metric: str,
    dims: Dimensions,
    start: float,
    end: float,
    period: int,
    statistic: str,
) -> list[tuple[float, float]]:
    """(period start, value) of `statistic` per `period` seconds, ascending.

    `period` is a positive multiple of 10; `statistic` one of Average, Sum,
    Maximum, Minimum, SampleCount.
    """
    if statistic not in STATISTICS:
        raise InvalidParameterException(
            f"statistic must be one of {', '.join(STATISTICS)}, not {statistic!r}."
        )
    if period <= 0 or period % RESOLUTION_SECONDS:
        raise InvalidParameterException(
            f"period must be a positive multiple of {RESOLUTION_SECONDS} seconds, not {period}."
        )
    with backend.reading() as conn:
        buckets = metric_rows.aggregate(
            conn,
            account_id=account_id,
            region=region,
            namespace=namespace,
            metric=metric,
            dims=tuple(sorted(dims)),
            start=math.ceil(start),
            end=math.ceil(end),
            period=period,
        )
    return [(float(b), _statistic(statistic, s, n, lo, hi)) for b, s, n, lo, hi in buckets]


def _period_start(timestamp: float) -> int:
    return int(timestamp // RESOLUTION_SECONDS) * RESOLUTION_SECONDS


def _statistic(name: str, total: float, count: int, lo: float, hi: float) -> float:
    values: dict[str, float] = {
        "Average": total / count if count else 0.0,
        "Sum": total,
        "Maximum": hi,
        "Minimum": lo,
        "SampleCount": float(count),
    }
    return values[name]
