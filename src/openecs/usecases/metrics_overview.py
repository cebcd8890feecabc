"""What the server's `/metrics` shows: a snapshot of counts across every account
and region, and the newest datapoints of the metrics auto scaling reads."""

from __future__ import annotations

from dataclasses import dataclass

from openecs.domain.metrics import ALB_NAMESPACE, ECS_NAMESPACE
from openecs.store import metrics as metric_rows
from openecs.store import overview
from openecs.store.metrics import SeriesPeriod
from openecs.usecases.backend import Backend

__all__ = ["LatestDatapoint", "Overview", "read_overview"]

# Newer than this many seconds, or not shown: a stopped service has no CPU figure.
_FRESH_SECONDS = 60

_LATEST = (
    (ECS_NAMESPACE, "CPUUtilization"),
    (ECS_NAMESPACE, "MemoryUtilization"),
    (ALB_NAMESPACE, "RequestCount"),
    (ALB_NAMESPACE, "HTTPCode_Target_5XX_Count"),
    (ALB_NAMESPACE, "TargetResponseTime"),
)


@dataclass(frozen=True, slots=True)
class LatestDatapoint:
    account_id: str
    region: str
    namespace: str
    metric: str
    period: SeriesPeriod


@dataclass(frozen=True, slots=True)
class Overview:
    tasks: dict[tuple[str, str, str, str], int]
    services: dict[tuple[str, str, str, str], tuple[int, int]]
    instances: dict[tuple[str, str, str, bool], int]
    latest: list[LatestDatapoint]


def read_overview(backend: Backend) -> Overview:
    since = int(backend.clock.now()) - _FRESH_SECONDS
    with backend.reading() as conn:
        latest = [
            LatestDatapoint(account, region, namespace, metric, period)
            for namespace, metric in _LATEST
            for account, region, period in metric_rows.latest_periods(
                conn, namespace=namespace, metric=metric, since=since
            )
        ]
        return Overview(
            tasks=overview.task_status_counts(conn),
            services=overview.service_task_counts(conn),
            instances=overview.connected_instance_counts(conn),
            latest=latest,
        )
