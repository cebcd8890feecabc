"""Task utilization reported by agents → AWS/ECS datapoints.

Each report is one task's CPUUtilization and/or MemoryUtilization (percent of
what it reserves) for the current 10-second period. It becomes a datapoint with
dimensions (ClusterName, ServiceName, TaskId) — (ClusterName, TaskId) for a task
outside a service — and, for a service's task, a sample of the service's series
(ClusterName, ServiceName). The service's Average is thus the mean over its
tasks; ECS weights by reservation, which is the same for tasks of one revision.

Cluster and service names come from the server's record of the task, not from
the agent; reports of tasks this account and region do not know are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from openecs.domain.metrics import ECS_NAMESPACE, Datapoint, dimensions
from openecs.domain.scope import Scope
from openecs.store import tasks as task_rows
from openecs.usecases.backend import Backend
from openecs.usecases.metrics import record_datapoints

__all__ = ["record_task_utilization"]

_FIGURES = {"cpuUtilization": "CPUUtilization", "memoryUtilization": "MemoryUtilization"}


def record_task_utilization(
    backend: Backend, scope: Scope, reports: Sequence[Mapping[str, Any]]
) -> int:
    """Record the reports; how many datapoints were written."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for report in reports:
        arn = str(report.get("taskArn") or "")
        if arn:
            by_id[arn.rsplit("/", 1)[-1]] = report
    with backend.reading() as conn:
        known = task_rows.get_many(conn, scope, by_id)
    now = backend.clock.now()
    points: list[Datapoint] = []
    for task_id, task in known.items():
        report = by_id[task_id]
        group = task.group or ""
        service = group.removeprefix("service:") if group.startswith("service:") else None
        per_task = (
            dimensions(ClusterName=task.cluster, ServiceName=service, TaskId=task_id)
            if service
            else dimensions(ClusterName=task.cluster, TaskId=task_id)
        )
        series = [per_task]
        if service:
            series.append(dimensions(ClusterName=task.cluster, ServiceName=service))
        for key, metric in _FIGURES.items():
            value = report.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if not math.isfinite(value) or value < 0:
                continue
            points.extend(
                Datapoint(
                    ECS_NAMESPACE,
                    metric,
                    dims,
                    now,
                    float(value),
                    "Percent",
                    scope.account_id,
                    scope.region,
                )
                for dims in series
            )
    record_datapoints(backend, points)
    return len(points)
