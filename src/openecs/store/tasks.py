"""Task rows: the full task document plus the columns lists filter on and
placement sums (what each task reserves on its instance).

Creating a task, and saving one that has stopped, changes what its capacity
pool holds: both touch the pool's placement epoch (store.placement_epochs).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from openecs.domain.container_instance import FARGATE_POOL
from openecs.domain.resources import Reservation
from openecs.domain.scope import Scope
from openecs.domain.task import Task, TaskStatus
from openecs.store import placement_epochs
from openecs.store.errors import ConcurrentUpdateError
from openecs.store.tables import tasks

__all__ = [
    "ListFilter",
    "awaiting_agents",
    "by_client_token",
    "delete_stopped_before",
    "get",
    "get_many",
    "insert_tasks",
    "list_arns",
    "save",
    "tasks_on_instance",
    "usage_by_instance",
]


def _ports(res: Reservation) -> str:
    return ",".join(
        [f"tcp:{p}" for p in sorted(res.tcp_ports)] + [f"udp:{p}" for p in sorted(res.udp_ports)]
    )


def _row(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "account_id": task.account_id,
        "region": task.region,
        "cluster": task.cluster,
        "arn": task.arn,
        "task_definition_arn": task.task_definition_arn,
        "family": task.family,
        "group_name": task.group,
        "started_by": task.started_by,
        "launch_type": task.launch_type,
        "container_instance_id": task.container_instance_id,
        "last_status": task.last_status,
        "desired_status": task.desired_status,
        "created_at": task.created_at,
        "stopped_at": task.stopped_at,
        "version": task.row_version,
        "doc": json.dumps(task.to_doc()),
        "reserved_cpu": task.reservation.cpu,
        "reserved_memory": task.reservation.memory,
        "reserved_ports": _ports(task.reservation),
    }


def _from_row(row: Any) -> Task:
    return Task.from_doc(json.loads(row.doc), row.version)


def _pool(task: Task) -> str:
    """The capacity pool a task holds resources in (see store.placement_epochs)."""
    return FARGATE_POOL if task.launch_type == "FARGATE" else task.cluster


def insert_tasks(conn: Connection, new: Sequence[Task], client_token: str | None = None) -> None:
    if not new:
        return
    rows = [_row(t) for t in new]
    for row in rows:
        row["client_token"] = client_token
    conn.execute(insert(tasks), rows)
    for account_id, region, pool in {(t.account_id, t.region, _pool(t)) for t in new}:
        placement_epochs.touch(conn, account_id, region, pool)


# Built once (the SET clause comes from the parameters' keys): a save pays for its
# parameters only, not for building and fingerprinting a statement.
_SAVE = update(tasks).where(
    tasks.c.task_id == bindparam("match_task_id"), tasks.c.version == bindparam("match_version")
)


def save(conn: Connection, task: Task) -> None:
    """Write back a task read in this transaction; fails if it changed meanwhile."""
    row = _row(task)
    row["version"] = task.row_version + 1
    row["match_task_id"] = task.task_id
    row["match_version"] = task.row_version
    result = conn.execute(_SAVE, row)
    if result.rowcount != 1:
        raise ConcurrentUpdateError(task.arn)
    task.row_version += 1
    if task.last_status == TaskStatus.STOPPED:
        # What it held is free again (saved again once stopped: a harmless extra touch).
        placement_epochs.touch(conn, task.account_id, task.region, _pool(task))


# The reads DescribeTasks and the agents' reports run most, built once.
_GET = select(tasks.c.doc, tasks.c.version).where(
    tasks.c.task_id == bindparam("task_id"),
    tasks.c.account_id == bindparam("account_id"),
    tasks.c.region == bindparam("region"),
)
_GET_MANY = select(tasks.c.doc, tasks.c.version).where(
    tasks.c.task_id.in_(bindparam("task_ids", expanding=True)),
    tasks.c.account_id == bindparam("account_id"),
    tasks.c.region == bindparam("region"),
)


def get(conn: Connection, scope: Scope, task_id: str) -> Task | None:
    params = {"task_id": task_id, "account_id": scope.account_id, "region": scope.region}
    row = conn.execute(_GET, params).first()
    return _from_row(row) if row else None


def get_many(conn: Connection, scope: Scope, task_ids: Iterable[str]) -> dict[str, Task]:
    ids = list(task_ids)
    if not ids:
        return {}
    params = {"task_ids": ids, "account_id": scope.account_id, "region": scope.region}
    found = [_from_row(r) for r in conn.execute(_GET_MANY, params)]
    return {t.task_id: t for t in found}


def by_client_token(conn: Connection, scope: Scope, cluster: str, token: str) -> list[Task]:
    rows = conn.execute(
        select(tasks.c.doc, tasks.c.version)
        .where(
            tasks.c.account_id == scope.account_id,
            tasks.c.region == scope.region,
            tasks.c.cluster == cluster,
            tasks.c.client_token == token,
        )
        .order_by(tasks.c.created_at, tasks.c.task_id)
    )
    return [_from_row(r) for r in rows]


def tasks_on_instance(
    conn: Connection, instance_id: str, *, include_stopped: bool = False
) -> list[Task]:
    query = select(tasks.c.doc, tasks.c.version).where(tasks.c.container_instance_id == instance_id)
    if not include_stopped:
        query = query.where(tasks.c.last_status != TaskStatus.STOPPED)
    return [_from_row(r) for r in conn.execute(query.order_by(tasks.c.created_at))]


def awaiting_agents(
    conn: Connection, scope: Scope, cluster: str, instance_ids: Collection[str]
) -> list[Task]:
    """The tasks on some of a cluster's instances that wait for their agent: placed and
    not yet reported running, or asked to stop and not yet stopped (oldest first).

    Two exact look-ups of ix_tasks_cluster_status: the cost follows the tasks
    waiting, not the tasks running nor the number of instances asked about.
    """
    in_cluster = (
        tasks.c.account_id == scope.account_id,
        tasks.c.region == scope.region,
        tasks.c.cluster == cluster,
    )
    waiting = (
        and_(
            tasks.c.desired_status == TaskStatus.RUNNING,
            tasks.c.last_status.in_(
                (TaskStatus.PROVISIONING, TaskStatus.PENDING, TaskStatus.ACTIVATING)
            ),
        ),
        and_(
            tasks.c.desired_status == TaskStatus.STOPPED,
            tasks.c.last_status != TaskStatus.STOPPED,
        ),
    )
    found: list[Task] = []
    for condition in waiting:
        rows = conn.execute(
            select(tasks.c.container_instance_id, tasks.c.doc, tasks.c.version).where(
                *in_cluster, condition
            )
        )
        found.extend(_from_row(r) for r in rows if r.container_instance_id in instance_ids)
    return sorted(found, key=lambda t: (t.created_at, t.task_id))


def usage_by_instance(
    conn: Connection, instance_ids: Sequence[str] | None = None
) -> dict[str, Reservation]:
    """What the not-yet-stopped tasks hold on each instance (all instances if None)."""
    query = select(
        tasks.c.container_instance_id,
        func.sum(tasks.c.reserved_cpu),
        func.sum(tasks.c.reserved_memory),
        func.count(),
    ).where(tasks.c.last_status != TaskStatus.STOPPED, tasks.c.container_instance_id.is_not(None))
    if instance_ids is not None:
        query = query.where(tasks.c.container_instance_id.in_(list(instance_ids)))
    usage = {
        iid: Reservation(int(cpu or 0), int(mem or 0))
        for iid, cpu, mem, _ in conn.execute(query.group_by(tasks.c.container_instance_id))
    }
    port_query = select(tasks.c.container_instance_id, tasks.c.reserved_ports).where(
        tasks.c.last_status != TaskStatus.STOPPED,
        tasks.c.reserved_ports != "",
        tasks.c.container_instance_id.is_not(None),
    )
    if instance_ids is not None:
        port_query = port_query.where(tasks.c.container_instance_id.in_(list(instance_ids)))
    for iid, ports in conn.execute(port_query):
        tcp = frozenset(int(p[4:]) for p in ports.split(",") if p.startswith("tcp:"))
        udp = frozenset(int(p[4:]) for p in ports.split(",") if p.startswith("udp:"))
        usage[iid] = usage.get(iid, Reservation()) + Reservation(0, 0, tcp, udp)
    return usage


class ListFilter:
    """The ListTasks filters, already resolved to column values."""

    def __init__(
        self,
        *,
        cluster: str,
        instance_id: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        group: str | None = None,
        desired_status: str = TaskStatus.RUNNING,
        launch_type: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.instance_id = instance_id
        self.family = family
        self.started_by = started_by
        self.group = group
        self.desired_status = desired_status
        self.launch_type = launch_type


def list_arns(
    conn: Connection, scope: Scope, f: ListFilter, *, after: str | None, limit: int
) -> list[tuple[str, str]]:
    """(task_id, arn) pairs in task-id order after a pagination key."""
    conditions = [
        tasks.c.account_id == scope.account_id,
        tasks.c.region == scope.region,
        tasks.c.cluster == f.cluster,
        tasks.c.desired_status == f.desired_status,
    ]
    if f.instance_id is not None:
        conditions.append(tasks.c.container_instance_id == f.instance_id)
    if f.family is not None:
        conditions.append(tasks.c.family == f.family)
    if f.started_by is not None:
        conditions.append(tasks.c.started_by == f.started_by)
    if f.group is not None:
        conditions.append(tasks.c.group_name == f.group)
    if f.launch_type is not None:
        conditions.append(tasks.c.launch_type == f.launch_type)
    if after is not None:
        conditions.append(tasks.c.task_id > after)
    query = (
        select(tasks.c.task_id, tasks.c.arn)
        .where(and_(*conditions))
        .order_by(tasks.c.task_id)
        .limit(limit)
    )
    return [(r.task_id, r.arn) for r in conn.execute(query)]


def delete_stopped_before(conn: Connection, cutoff: float) -> list[str]:
    """Forget tasks stopped before `cutoff`; returns their ARNs (to drop their tags)."""
    arns = [
        r.arn
        for r in conn.execute(
            select(tasks.c.arn).where(
                tasks.c.last_status == TaskStatus.STOPPED, tasks.c.stopped_at < cutoff
            )
        )
    ]
    if arns:
        conn.execute(
            delete(tasks).where(
                tasks.c.last_status == TaskStatus.STOPPED, tasks.c.stopped_at < cutoff
            )
        )
    return arns


def for_group(conn: Connection, scope: Scope, cluster: str, group: str) -> list[Task]:
    """A group's tasks, stopped ones included while they are retained (failure counts)."""
    rows = conn.execute(
        select(tasks.c.doc, tasks.c.version)
        .where(
            tasks.c.account_id == scope.account_id,
            tasks.c.region == scope.region,
            tasks.c.cluster == cluster,
            tasks.c.group_name == group,
        )
        .order_by(tasks.c.created_at)
    )
    return [_from_row(r) for r in rows]


def group_counts_by_instance(
    conn: Connection, instance_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """For each instance: not-yet-stopped tasks per task group ("" for no group)."""
    out: dict[str, dict[str, int]] = {}
    ids = list(instance_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            select(tasks.c.container_instance_id, tasks.c.group_name, func.count())
            .where(
                tasks.c.container_instance_id.in_(chunk),
                tasks.c.last_status != TaskStatus.STOPPED,
            )
            .group_by(tasks.c.container_instance_id, tasks.c.group_name)
        )
        for iid, group, count in rows:
            out.setdefault(iid, {})[group or ""] = int(count)
    return out


@dataclass(slots=True)
class InstanceUsage:
    reserved: Reservation
    groups: dict[str, int]
    tasks: int


def placement_usage(
    conn: Connection, scope: Scope, *, cluster: str | None, launch_type: str | None = None
) -> dict[str, InstanceUsage]:
    """What not-yet-stopped tasks hold per instance, with their groups: one pass
    over a cluster's live tasks (or, with `cluster=None`, the region's tasks of
    a launch type — FARGATE capacity serves every cluster)."""
    where = [
        tasks.c.account_id == scope.account_id,
        tasks.c.region == scope.region,
        tasks.c.last_status != TaskStatus.STOPPED,
        tasks.c.container_instance_id.is_not(None),
    ]
    if cluster is not None:
        where.append(tasks.c.cluster == cluster)
    if launch_type is not None:
        where.append(tasks.c.launch_type == launch_type)
    out: dict[str, InstanceUsage] = {}
    rows = conn.execute(
        select(
            tasks.c.container_instance_id,
            tasks.c.group_name,
            func.sum(tasks.c.reserved_cpu),
            func.sum(tasks.c.reserved_memory),
            func.count(),
        )
        .where(*where)
        .group_by(tasks.c.container_instance_id, tasks.c.group_name)
    )
    for iid, group, cpu, memory, count in rows:
        usage = out.get(iid)
        if usage is None:
            usage = out[iid] = InstanceUsage(Reservation(), {}, 0)
        usage.reserved = usage.reserved + Reservation(int(cpu or 0), int(memory or 0))
        usage.groups[group or ""] = int(count)
        usage.tasks += int(count)
    for iid, ports in conn.execute(
        select(tasks.c.container_instance_id, tasks.c.reserved_ports).where(
            *where, tasks.c.reserved_ports != ""
        )
    ):
        tcp = frozenset(int(p[4:]) for p in ports.split(",") if p.startswith("tcp:"))
        udp = frozenset(int(p[4:]) for p in ports.split(",") if p.startswith("udp:"))
        usage = out.setdefault(iid, InstanceUsage(Reservation(), {}, 0))
        usage.reserved = usage.reserved + Reservation(0, 0, tcp, udp)
    return out
