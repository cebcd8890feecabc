"""What agents ask of the control plane and tell it.

* `desired_state`: the tasks an instance should be running or stopping, with
  their task definitions. Agents long-poll it; a digest of the desired set
  lets a poll return the moment the set changes.
* `apply_reports`: task and container state an agent observed, folded into
  the tasks with the lifecycle rules (domain.task_lifecycle).
* `awaiting_fleet`: for a simulated fleet of many instances, only the tasks
  that wait for it (to start, or to stop): what it must act on, without
  reading every task it already runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.errors import ClientException
from openecs.domain.scope import Scope
from openecs.domain.task import Task
from openecs.domain.task_lifecycle import apply_report
from openecs.store import container_instances as instance_rows
from openecs.store import task_definitions as task_definition_rows
from openecs.store import tasks as task_rows
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.tasks import task_id_from

__all__ = ["DesiredState", "apply_reports", "awaiting_fleet", "desired_state"]


@dataclass(slots=True)
class DesiredState:
    instance: ContainerInstance
    tasks: list[Task]
    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        h = hashlib.sha256(self.instance.status.encode())
        for task in sorted(self.tasks, key=lambda t: t.task_id):
            h.update(f"{task.task_id}:{task.desired_status};".encode())
        return h.hexdigest()[:32]


def _require_instance(conn: Connection, scope: Scope, instance_id: str) -> ContainerInstance:
    inst = instance_rows.get(conn, scope, instance_id)
    if inst is None:
        raise ClientException(f"Container instance {instance_id} is not registered.")
    return inst


def _definitions(
    conn: Connection, scope: Scope, tasks: Iterable[Task]
) -> dict[str, dict[str, Any]]:
    """The task definitions (ECS shape) of some tasks, by ARN."""
    keys = set()
    for task in tasks:
        family, _, revision = task.task_definition_arn.rsplit("/", 1)[-1].rpartition(":")
        keys.add((family, int(revision)))
    found = task_definition_rows.get_many(conn, scope, sorted(keys))
    return {td.arn: td.to_api() for td in found.values()}


def desired_state(backend: Backend, scope: Scope, instance_id: str) -> DesiredState:
    with backend.reading() as conn:
        inst = _require_instance(conn, scope, instance_id)
        tasks = task_rows.tasks_on_instance(conn, instance_id)
        bodies = _definitions(conn, scope, tasks)
    return DesiredState(inst, tasks, bodies)


def apply_reports(
    backend: Backend, scope: Scope, instance_id: str | None, reports: list[dict[str, Any]]
) -> int:
    """Fold a batch of task reports in one transaction; returns how many tasks changed.

    A report is only taken from the instance the task was placed on: `instance_id`
    for an agent, or each report's own `instanceId` for a simulated fleet.
    """

    def work(conn: Connection) -> int:
        if instance_id is not None:
            _require_instance(conn, scope, instance_id)
        ids = [task_id_from(str(r.get("taskArn", ""))) for r in reports]
        tasks = task_rows.get_many(conn, scope, ids)
        bodies = _definitions(conn, scope, tasks.values())
        now = backend.clock.now()
        changed = 0
        service_changed = False
        for tid, report in zip(ids, reports, strict=True):
            task = tasks.get(tid)
            reporter = instance_id if instance_id is not None else report.get("instanceId")
            if task is None or task.container_instance_id != reporter:
                continue
            body = bodies.get(task.task_definition_arn, {})
            checked = {
                c["name"] for c in body.get("containerDefinitions", ()) if c.get("healthCheck")
            }
            if apply_report(task, report, now=now, health_checked=checked):
                task_rows.save(conn, task)
                changed += 1
                service_changed = service_changed or (task.group or "").startswith("service:")
        if service_changed:
            woken.append("services")
        return changed

    woken: list[str] = []
    result = backend.write(work)
    backend.controller_signals.notify(woken)
    return result


def awaiting_fleet(
    backend: Backend, scope: Scope, cluster_ref: str | None, instance_ids: Collection[str]
) -> list[Task]:
    """The tasks on these instances of a cluster that wait for them: placed and not yet
    reported running, or asked to stop and not yet stopped (oldest first)."""
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        return task_rows.awaiting_agents(conn, scope, cluster.name, instance_ids)
