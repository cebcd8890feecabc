"""What cost accounting meters: the usage history plus what still exists.

Two hooks keep the history, each inside the transaction that would lose
what metering needs:

* `record_expiring_tasks` — before stopped tasks are deleted at the end of
  their retention (usecases.tasks.expire_stopped_tasks);
* `record_deregistered_instance` — when an EC2 container instance is
  deregistered (its deregistration time is kept nowhere else).

`metered_usage` reads both halves, records and live rows, for a report. A task
is in exactly one of them: its record is written in the transaction that
deletes its row.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from openecs.domain.container_instance import CapacityKind, ContainerInstance
from openecs.domain.metering import MeteredInstance, MeteredTask, metered_task
from openecs.domain.scope import Scope
from openecs.domain.task import Task
from openecs.store import tags as tag_rows
from openecs.store import task_definitions as definition_rows
from openecs.store import usage_records

__all__ = [
    "metered_instance",
    "metered_tasks",
    "metered_usage",
    "record_deregistered_instance",
    "record_expiring_tasks",
]


def _definition_key(arn: str) -> tuple[str, int] | None:
    family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
    return (family, int(revision)) if family and revision.isdigit() else None


def metered_tasks(conn: Connection, found: Iterable[Task]) -> list[MeteredTask]:
    """Tasks as metering sees them, with their definitions' CPU architecture and their tags."""
    tasks = list(found)
    if not tasks:
        return []
    architectures: dict[str, str] = {}
    by_scope: dict[Scope, set[tuple[str, int]]] = {}
    for task in tasks:
        key = _definition_key(task.task_definition_arn)
        if key is not None:
            by_scope.setdefault(Scope.root(task.account_id, task.region), set()).add(key)
    for scope, keys in by_scope.items():
        wanted = sorted(keys)
        for start in range(0, len(wanted), 200):
            found_defs = definition_rows.get_many(conn, scope, wanted[start : start + 200])
            for td in found_defs.values():
                platform = td.body.get("runtimePlatform") or {}
                architectures[td.arn] = str(platform.get("cpuArchitecture") or "X86_64")
    tags = tag_rows.get_tags_many(conn, [t.arn for t in tasks])
    return [
        metered_task(
            t, cpu_architecture=architectures.get(t.task_definition_arn), tags=tags.get(t.arn)
        )
        for t in tasks
    ]


def metered_instance(inst: ContainerInstance, *, end: float | None = None) -> MeteredInstance:
    return MeteredInstance(
        arn=inst.arn,
        instance_id=inst.instance_id,
        cluster=inst.cluster,
        ec2_instance_id=inst.ec2_instance_id,
        instance_type=inst.instance_type or inst.attribute("ecs.instance-type"),
        cpu_units=inst.capacity.cpu,
        memory_mib=inst.capacity.memory,
        begin=inst.registered_at,
        end=end,
    )


def record_expiring_tasks(conn: Connection, cutoff: float) -> int:
    """Record the tasks that stopped before `cutoff`, in the transaction that forgets them."""
    expiring = usage_records.stopped_before(conn, cutoff)
    metered = metered_tasks(conn, expiring)
    usage_records.insert_task_records(
        conn,
        [
            usage_records.TaskRecord(t.account_id, t.region, t.task_id, m)
            for t, m in zip(expiring, metered, strict=True)
        ],
    )
    return len(expiring)


def record_deregistered_instance(conn: Connection, inst: ContainerInstance, now: float) -> None:
    """Record an EC2 instance's metered interval as it is deregistered."""
    if inst.kind != CapacityKind.EC2:
        return
    usage_records.insert_instance_record(
        conn, inst.account_id, inst.region, metered_instance(inst, end=now)
    )


def metered_usage(
    conn: Connection,
    scope: Scope,
    *,
    cluster: str | None = None,
    group: str | None = None,
    since: float | None = None,
    until: float | None = None,
    with_instances: bool = True,
) -> tuple[list[MeteredTask], list[MeteredInstance]]:
    """Every task and EC2 instance of the scope that may overlap [since, until):
    recorded ones and live ones."""
    live = usage_records.live_tasks(
        conn, scope, cluster=cluster, group=group, since=since, until=until
    )
    tasks = usage_records.task_records(
        conn, scope, cluster=cluster, group=group, since=since, until=until
    ) + metered_tasks(conn, live)
    instances: list[MeteredInstance] = []
    if with_instances:
        instances = usage_records.instance_records(
            conn, scope, cluster=cluster, since=since, until=until
        )
        recorded = {i.instance_id for i in instances}
        instances += [
            metered_instance(inst)
            for inst in usage_records.live_ec2_instances(conn, scope, cluster=cluster)
            if inst.instance_id not in recorded and (until is None or inst.registered_at < until)
        ]
    return tasks, instances
