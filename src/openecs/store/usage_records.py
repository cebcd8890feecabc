"""Usage records: the metering history that outlives tasks and instances, and the
reads of live rows that metering needs.

A task row is deleted once its retention ends, and a deregistered instance
keeps no deregistration time; the transaction that does either writes a
record here first (usecases.usage_history), so a bill can still be computed
afterwards. Records hold domain.metering's MeteredTask / MeteredInstance as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Select, insert, or_, select

from openecs.domain.container_instance import CapacityKind, ContainerInstance, InstanceStatus
from openecs.domain.metering import MeteredInstance, MeteredTask
from openecs.domain.scope import Scope
from openecs.domain.task import Task, TaskStatus
from openecs.store import container_instances as instance_rows
from openecs.store.tables import container_instances, tasks, usage_records

__all__ = [
    "TaskRecord",
    "insert_instance_record",
    "insert_task_records",
    "instance_records",
    "live_ec2_instances",
    "live_tasks",
    "stopped_before",
    "task_records",
]

_TASK = "task"
_INSTANCE = "instance"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    account_id: str
    region: str
    task_id: str
    metered: MeteredTask


def _existing(conn: Connection, kind: str, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        rows = conn.execute(
            select(usage_records.c.resource_id).where(
                usage_records.c.kind == kind, usage_records.c.resource_id.in_(chunk)
            )
        )
        found.update(r.resource_id for r in rows)
    return found


def insert_task_records(conn: Connection, records: Sequence[TaskRecord]) -> None:
    """Keep what metering needs of tasks about to be forgotten (once per task)."""
    if not records:
        return
    known = _existing(conn, _TASK, [r.task_id for r in records])
    rows = [
        {
            "kind": _TASK,
            "resource_id": r.task_id,
            "account_id": r.account_id,
            "region": r.region,
            "cluster": r.metered.cluster,
            "group_name": r.metered.group,
            "begin_at": r.metered.begin,
            "end_at": r.metered.end if r.metered.end is not None else r.metered.begin,
            "doc": json.dumps(r.metered.to_doc()),
        }
        for r in records
        if r.task_id not in known
    ]
    if rows:
        conn.execute(insert(usage_records), rows)


def insert_instance_record(
    conn: Connection, account_id: str, region: str, metered: MeteredInstance
) -> None:
    """Keep a deregistered instance's metered interval (once per instance)."""
    if _existing(conn, _INSTANCE, [metered.instance_id]):
        return
    conn.execute(
        insert(usage_records).values(
            kind=_INSTANCE,
            resource_id=metered.instance_id,
            account_id=account_id,
            region=region,
            cluster=metered.cluster,
            group_name=None,
            begin_at=metered.begin,
            end_at=metered.end if metered.end is not None else metered.begin,
            doc=json.dumps(metered.to_doc()),
        )
    )


def _record_query(
    scope: Scope, kind: str, cluster: str | None, since: float | None, until: float | None
) -> Select[tuple[str]]:
    query = select(usage_records.c.doc).where(
        usage_records.c.account_id == scope.account_id,
        usage_records.c.region == scope.region,
        usage_records.c.kind == kind,
    )
    if cluster is not None:
        query = query.where(usage_records.c.cluster == cluster)
    if since is not None:
        query = query.where(usage_records.c.end_at >= since)
    if until is not None:
        query = query.where(usage_records.c.begin_at < until)
    return query


def task_records(
    conn: Connection,
    scope: Scope,
    *,
    cluster: str | None = None,
    group: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[MeteredTask]:
    """Recorded (forgotten) tasks that may overlap [since, until)."""
    query = _record_query(scope, _TASK, cluster, since, until)
    if group is not None:
        query = query.where(usage_records.c.group_name == group)
    return [MeteredTask.from_doc(json.loads(r.doc)) for r in conn.execute(query)]


def instance_records(
    conn: Connection,
    scope: Scope,
    *,
    cluster: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[MeteredInstance]:
    """Recorded (deregistered) instances that may overlap [since, until)."""
    query = _record_query(scope, _INSTANCE, cluster, since, until)
    return [MeteredInstance.from_doc(json.loads(r.doc)) for r in conn.execute(query)]


def live_tasks(
    conn: Connection,
    scope: Scope,
    *,
    cluster: str | None = None,
    group: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[Task]:
    """Tasks still kept (running or stopped within their retention) that may overlap
    [since, until)."""
    query = select(tasks.c.doc, tasks.c.version).where(
        tasks.c.account_id == scope.account_id, tasks.c.region == scope.region
    )
    if cluster is not None:
        query = query.where(tasks.c.cluster == cluster)
    if group is not None:
        query = query.where(tasks.c.group_name == group)
    if since is not None:
        query = query.where(or_(tasks.c.stopped_at.is_(None), tasks.c.stopped_at >= since))
    if until is not None:
        query = query.where(tasks.c.created_at < until)
    return [Task.from_doc(json.loads(r.doc), r.version) for r in conn.execute(query)]


def stopped_before(conn: Connection, cutoff: float) -> list[Task]:
    """The tasks `store.tasks.delete_stopped_before(cutoff)` is about to forget."""
    rows = conn.execute(
        select(tasks.c.doc, tasks.c.version).where(
            tasks.c.last_status == TaskStatus.STOPPED, tasks.c.stopped_at < cutoff
        )
    )
    return [Task.from_doc(json.loads(r.doc), r.version) for r in rows]


def live_ec2_instances(
    conn: Connection, scope: Scope, *, cluster: str | None = None
) -> list[ContainerInstance]:
    """Registered (not yet deregistered) EC2 container instances, of one cluster or all."""
    if cluster is not None:
        clusters = [cluster]
    else:
        clusters = [
            r.cluster
            for r in conn.execute(
                select(container_instances.c.cluster)
                .where(
                    container_instances.c.account_id == scope.account_id,
                    container_instances.c.region == scope.region,
                    container_instances.c.kind == CapacityKind.EC2,
                )
                .distinct()
            )
        ]
    statuses = (
        InstanceStatus.REGISTERING,
        InstanceStatus.ACTIVE,
        InstanceStatus.DRAINING,
        InstanceStatus.DEREGISTERING,
    )
    found: list[ContainerInstance] = []
    for name in sorted(clusters):
        found.extend(
            instance_rows.list_instances(
                conn, scope, name, statuses=statuses, kind=CapacityKind.EC2
            )
        )
    return found
