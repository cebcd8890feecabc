"""The service controller's read and apply steps: what one reconcile pass reads
about a service (`read_service_state`, including which instances a DAEMON service
must cover) and carrying out its decision (`apply_service_actions`: stop and
launch tasks, record events and deployment changes). The decision itself is
controllers.service_reconcile."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

from openecs.domain.container_instance import CapacityKind, ContainerInstance
from openecs.domain.errors import (
    ClientError,
)
from openecs.domain.resources import Reservation
from openecs.domain.scope import Scope
from openecs.domain.service import (
    Deployment,
    Service,
)
from openecs.domain.task import StopCode, Task
from openecs.domain.task_lifecycle import request_stop
from openecs.platform.ids import new_uuid
from openecs.scheduler.constraints import parse_constraints
from openecs.scheduler.filters import (
    AGENT,
    ATTRIBUTE,
    DISTINCT_INSTANCE,
    INSTANCE_STATUS,
    MEMBER_OF,
    RESOURCE_CPU,
    RESOURCE_GPU,
    RESOURCE_MEMORY,
    RESOURCE_PORTS,
    build_filters,
    first_rejection,
)
from openecs.scheduler.view import InstanceView, PlacementRequest
from openecs.store import attributes as attribute_rows
from openecs.store import container_instances as instance_rows
from openecs.store import services as service_rows
from openecs.store import tags as tag_rows
from openecs.store import tasks as task_rows
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import with_custom_attributes
from openecs.usecases.service_targets import drain_task_targets
from openecs.usecases.services import new_deployment_id, new_revision_id
from openecs.usecases.task_definitions import resolve_task_definition
from openecs.usecases.tasks import LaunchRequest, launch_in_transaction

__all__ = [
    "ServiceDecision",
    "ServiceState",
    "apply_service_actions",
    "live_services",
    "placement_failure_event",
    "read_service_state",
]


def live_services(backend: Backend) -> list[Service]:
    with backend.reading() as conn:
        return service_rows.list_live(conn)


@dataclass(slots=True)
class ServiceState:
    """What the controller decides on for one service, read in one snapshot."""

    service: Service
    tasks: list[Task]
    health_checked: frozenset[str]
    draining_instances: frozenset[str]
    daemon_instances: tuple[str, ...]
    # ACTIVE instances whose agent is not connected.
    unreachable_instances: frozenset[str] = frozenset()


def read_service_state(backend: Backend, service: Service) -> ServiceState:
    scope = Scope.root(service.account_id, service.region)
    daemon_instances: tuple[str, ...] = ()
    with backend.reading() as conn:
        tasks = task_rows.for_group(conn, scope, service.cluster, service.group)
        instances = instance_rows.list_instances(
            conn, scope, service.cluster, statuses=("ACTIVE", "DRAINING"), kind=CapacityKind.EC2
        )
        checked: set[str] = set()
        for d in service.live_deployments:
            td = resolve_task_definition(conn, scope, d.task_definition)
            if any(
                c.get("healthCheck") and c.get("essential", True) for c in td.container_definitions
            ):
                checked.add(td.arn)
        active = [i for i in instances if i.status == "ACTIVE"]
        if service.scheduling_strategy == "DAEMON":
            connected = [i for i in active if i.agent_connected]
            daemon_instances = _daemon_instances(conn, scope, service, connected)
    return ServiceState(
        service,
        tasks,
        frozenset(checked),
        draining_instances=frozenset(i.instance_id for i in instances if i.status == "DRAINING"),
        daemon_instances=daemon_instances,
        unreachable_instances=frozenset(i.instance_id for i in active if not i.agent_connected),
    )


# What a DAEMON service's eligibility leaves out: whether the task fits now. An
# instance short of memory still needs the daemon (and its failed placement says why).
_CAPACITY_REASONS = frozenset(
    {RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_PORTS, RESOURCE_GPU, DISTINCT_INSTANCE}
)


def _daemon_instances(
    conn: Connection, scope: Scope, service: Service, candidates: list[ContainerInstance]
) -> tuple[str, ...]:
    """The instances a DAEMON service runs one task on, as ECS picks them: the connected
    ACTIVE EC2 instances that have the attributes its task definition requires and
    satisfy its placement constraints (the task definition's and the service's)."""
    if not candidates:
        return ()
    td = resolve_task_definition(conn, scope, service.primary.task_definition)
    request = PlacementRequest(
        count=1,
        reservation=Reservation(),
        group=service.group,
        launch_type="EC2",
        required_attributes=tuple(
            str(a["name"]) for a in td.body.get("requiresAttributes") or () if a.get("name")
        ),
        constraints=parse_constraints(
            service.placement_constraints,
            task_definition=td.body.get("placementConstraints") or [],
        ),
        is_service=True,
    )
    checks = [f for f in build_filters(request) if f.reason not in _CAPACITY_REASONS]
    custom = attribute_rows.custom_in_cluster(conn, scope, service.cluster)
    usage = task_rows.placement_usage(conn, scope, cluster=service.cluster)
    eligible: list[str] = []
    for inst in with_custom_attributes(candidates, custom):
        used = usage.get(inst.instance_id)
        # Its own tasks do not make an instance more or less eligible for the service.
        groups = Counter(
            {g: n for g, n in (used.groups if used else {}).items() if g and g != service.group}
        )
        view = InstanceView(inst, inst.capacity, groups, used.tasks if used else 0)
        if first_rejection(checks, view) is None:
            eligible.append(inst.instance_id)
    return tuple(sorted(eligible))


class ServiceDecision(Protocol):
    """What the service controller decided (controllers.service_reconcile.ServiceActions)."""

    @property
    def launch(self) -> Mapping[str, int]: ...
    @property
    def launch_on(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def stop(self) -> Sequence[tuple[str, str]]: ...
    @property
    def events(self) -> Sequence[str]: ...
    @property
    def rollback_to(self) -> Deployment | None: ...


def apply_service_actions(
    backend: Backend,
    decided: Service,
    actions: ServiceDecision,
    *,
    event_id: Callable[[], str] = new_uuid,
) -> bool:
    """Carry out a decision of the service controller in one transaction; False
    if the service changed since the decision was made: then nothing is done,
    and the next round decides again on fresh state.

    `decided` is the service as the decision left it (with its deployment
    bookkeeping). Each attempt of the transaction works on a copy of it, so a
    retried transaction starts over clean."""
    scope = Scope.root(decided.account_id, decided.region)
    woken: set[str] = set()

    def work(conn: Connection) -> bool:
        current = service_rows.get(conn, scope, decided.cluster, decided.name)
        if current is None or current.row_version != decided.row_version:
            return False
        service = Service.from_doc(decided.to_doc(), decided.row_version)
        now = backend.clock.now()
        if actions.rollback_to is not None:
            service.roll_back(actions.rollback_to, new_deployment_id(), new_revision_id(), now)
        for message in actions.events:
            service.add_event(event_id(), now, message)
        _stop_tasks(conn, scope, service, actions.stop, now, woken, event_id)
        for deployment in service.deployments:
            count = actions.launch.get(deployment.id, 0)
            chosen = list(actions.launch_on.get(deployment.id) or ())
            if count or chosen:
                _launch_tasks(
                    conn, backend, scope, service, deployment, count, chosen, woken, event_id
                )
        service_rows.save(conn, service)
        return True

    applied = backend.write(work)
    backend.instance_signals.notify(sorted(woken))
    return applied


def _stop_tasks(
    conn: Connection,
    scope: Scope,
    service: Service,
    stops: Sequence[tuple[str, str]],
    now: float,
    woken: set[str],
    event_id: Callable[[], str],
) -> None:
    if not stops:
        return
    by_id = task_rows.get_many(conn, scope, [tid for tid, _ in stops])
    stopped: list[str] = []
    for tid, reason in stops:
        task = by_id.get(tid)
        if task is not None and request_stop(
            task, now=now, code=StopCode.SERVICE_SCHEDULER_INITIATED, reason=reason
        ):
            if service.load_balancers:
                task.deactivate_until = drain_task_targets(conn, scope, service, task, now)
            task_rows.save(conn, task)
            stopped.append(tid)
            if task.container_instance_id:
                woken.add(task.container_instance_id)
    if stopped:
        _tasks_event(service, event_id(), now, "has stopped {n} running tasks", stopped)


def _launch_tasks(
    conn: Connection,
    backend: Backend,
    scope: Scope,
    service: Service,
    deployment: Deployment,
    count: int,
    chosen: list[str],
    woken: set[str],
    event_id: Callable[[], str],
) -> None:
    """Start `count` tasks of a deployment (or one on each `chosen` instance), as RunTask
    (StartTask) would, in batches of ten; events say what started and what could not."""
    now = backend.clock.now()
    tags = tag_rows.get_tags(conn, service.arn) if service.propagate_tags == "SERVICE" else {}
    if service.enable_ecs_managed_tags:
        tags = {**tags, "aws:ecs:serviceName": service.name, "aws:ecs:clusterName": service.cluster}
    started: list[Task] = []
    failures: list[dict[str, str]] = []
    batches: list[tuple[int, list[str] | None]] = [
        (min(10, count - i), None) for i in range(0, count, 10)
    ]
    batches += [(len(chosen[i : i + 10]), chosen[i : i + 10]) for i in range(0, len(chosen), 10)]
    for size, batch in batches:
        req = LaunchRequest(
            task_definition=deployment.task_definition,
            cluster=service.cluster,
            count=size,
            launch_type=deployment.launch_type,
            capacity_provider_strategy=deployment.capacity_provider_strategy or None,
            network_configuration=deployment.network_configuration,
            group=service.group,
            started_by=deployment.id,
            propagate_tags="TASK_DEFINITION"
            if service.propagate_tags == "TASK_DEFINITION"
            else None,
            enable_execute_command=service.enable_execute_command,
            placement_constraints=list(service.placement_constraints),
            placement_strategy=list(service.placement_strategy),
            platform_version=deployment.platform_version,
            container_instances=batch,
        )
        try:
            launched = launch_in_transaction(
                conn, backend, scope, req, chosen=batch, extra_tags=tags
            )
        except ClientError as exc:
            # Nothing of this launch is written; the rest of the decision still is.
            failures.append({"reason": exc.code, "detail": exc.message})
            continue
        started.extend(launched.tasks)
        failures.extend(launched.failures)
        woken.update(launched.instances)
    if started:
        ids = [t.task_id for t in started]
        _tasks_event(service, event_id(), now, "has started {n} tasks", ids)
    if failures:
        message = placement_failure_event(service.name, failures[0])
        if not service.events or service.events[0].message != message:
            service.add_event(event_id(), now, message)


# The scheduler's detail of a failed placement (scheduler.placement), read back into
# ECS's event: the closest instance, why it was turned away, and every filter's toll.
_PLACEMENT_DETAIL = re.compile(
    r"No container instance met all of the task's requirements \((?P<checked>\d+) checked; "
    r"rejected (?P<tolls>[^)]*)\)\. The closest matching container instance (?P<id>\S+) "
    r"(?P<why>.+?)\.?"
)
# StartTask's failures (a DAEMON's launch on chosen instances) name only the reason.
_REJECTED_BECAUSE = {
    AGENT: "has a disconnected container agent",
    INSTANCE_STATUS: "is not ACTIVE",
    ATTRIBUTE: "lacks an attribute the task requires",
    RESOURCE_CPU: "has insufficient CPU units available",
    RESOURCE_MEMORY: "has insufficient memory available",
    RESOURCE_PORTS: "has a host port the task needs already in use",
    RESOURCE_GPU: "has insufficient GPUs available",
    MEMBER_OF: "does not satisfy a memberOf placement constraint",
    DISTINCT_INSTANCE: "already runs a task of the service",
}
_TROUBLESHOOTING = (
    "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
)


def _tasks_event(
    service: Service, event_id: str, now: float, what: str, task_ids: Sequence[str]
) -> None:
    """ECS's "(service web) has started 2 tasks: (task a) (task b)." shape."""
    listed = " ".join(f"(task {t})" for t in task_ids)
    said = what.format(n=len(task_ids))
    service.add_event(event_id, now, f"(service {service.name}) {said}: {listed}.")


def placement_failure_event(service_name: str, failure: Mapping[str, str]) -> str:
    """ECS's event for a task the service could not place, e.g. "(service web) was unable
    to place a task because no container instance met all of its requirements. The
    closest matching (container-instance 5db3...) has insufficient memory available. For
    more information, ..." — plus how many instances each filter turned away."""
    reason, detail = failure.get("reason") or "", failure.get("detail") or ""
    head = (
        f"(service {service_name}) was unable to place a task because no container instance "
        "met all of its requirements."
    )
    found = _PLACEMENT_DETAIL.fullmatch(detail)
    if found:
        said = f"The closest matching (container-instance {found['id']}) {found['why']}."
        if int(found["checked"]) > 1:
            said += f" Checked {found['checked']} container instances; rejected {found['tolls']}."
    elif reason in _REJECTED_BECAUSE:
        instance = detail.rsplit("/", 1)[-1] if detail.startswith("container instance ") else ""
        closest = f"(container-instance {instance})" if instance else "container instance"
        said = f"The closest matching {closest} {_REJECTED_BECAUSE[reason]}."
    elif reason == "NO_CAPACITY":
        said = f"Reason: {_sentence(detail)}"
    else:
        # Capacity that is not there at all (FARGATE), or a launch the API refused (an
        # error code as the reason, its message as the detail).
        head = f"(service {service_name}) was unable to place a task."
        parts = [detail] if detail and " " not in reason else [reason, detail]
        said = "Reason: " + " ".join(_sentence(p) for p in parts if p)
    return f"{head} {said} {_TROUBLESHOOTING}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."
