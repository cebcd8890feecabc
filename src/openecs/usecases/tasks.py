"""Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.

Placement happens inside the write transaction that creates the tasks: the
scheduler decides on a snapshot of the capacity pool taken in that same
transaction, after claiming the pool's placement epoch (a row lock), so two
concurrent RunTask calls can never hand out the same capacity. The snapshot
is the view the previous placement in the pool left behind when the epoch
shows nothing changed since (usecases.capacity_views), else read afresh.
Once committed, the chosen instances' agents are woken, so containers start
the moment the call returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from openecs.domain.arns import cluster_arn, parse_arn, task_arn
from openecs.domain.cluster import Cluster
from openecs.domain.container_instance import FARGATE_POOL, CapacityKind, ContainerInstance
from openecs.domain.errors import (
    ClientException,
    InvalidParameterException,
)
from openecs.domain.resources import Reservation, reservation_for
from openecs.domain.scope import Scope
from openecs.domain.service import Service
from openecs.domain.tags import tags_from_api
from openecs.domain.task import ContainerRun, StopCode, Task, TaskStatus
from openecs.domain.task_definition import TaskDefinition
from openecs.domain.task_lifecycle import request_stop
from openecs.platform.ids import new_task_id, new_uuid
from openecs.scheduler.capacity_providers import split_by_capacity_provider
from openecs.scheduler.constraints import parse_constraints
from openecs.scheduler.filters import reject_reason
from openecs.scheduler.placement import Plan, place_tasks
from openecs.scheduler.strategies import FARGATE_STRATEGY, parse_strategy
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest
from openecs.store import attributes as attribute_rows
from openecs.store import container_instances as instance_rows
from openecs.store import services as service_rows
from openecs.store import tags as tag_rows
from openecs.store import tasks as task_rows
from openecs.usecases import capacity_views, usage_history
from openecs.usecases.backend import Backend
from openecs.usecases.capacity_views import ViewLease
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.container_instances import instance_id_from, with_custom_attributes
from openecs.usecases.pagination import decode_token, encode_token, page_limit
from openecs.usecases.service_targets import drain_task_targets
from openecs.usecases.task_definitions import resolve_task_definition

__all__ = [
    "LaunchRequest",
    "Launched",
    "TaskDescription",
    "describe_tasks",
    "expire_stopped_tasks",
    "launch_in_transaction",
    "list_tasks",
    "run_task",
    "start_task",
    "stop_task",
    "task_id_from",
]


@dataclass(slots=True)
class LaunchRequest:
    """RunTask / StartTask parameters, as validated by the protocol layer."""

    task_definition: str
    cluster: str | None = None
    count: int = 1
    launch_type: str | None = None
    capacity_provider_strategy: list[dict[str, Any]] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    network_configuration: dict[str, Any] | None = None
    group: str | None = None
    started_by: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    propagate_tags: str | None = None
    enable_ecs_managed_tags: bool = False
    enable_execute_command: bool = False
    client_token: str | None = None
    placement_constraints: list[dict[str, Any]] = field(default_factory=list)
    placement_strategy: list[dict[str, Any]] = field(default_factory=list)
    platform_version: str | None = None
    container_instances: list[str] | None = None


@dataclass(slots=True)
class TaskDescription:
    task: Task
    tags: dict[str, str] = field(default_factory=dict)


def task_id_from(ref: str) -> str:
    arn = parse_arn(ref)
    if arn is None:
        return ref
    if arn.resource_type != "task":
        raise InvalidParameterException(f"Invalid task identifier: {ref}")
    return arn.resource.rsplit("/", 1)[-1]


def _launch_type(
    req: LaunchRequest, cluster_strategy: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]] | None]:
    """(launch type, capacity provider strategy) of the tasks a request starts."""
    if req.launch_type and req.capacity_provider_strategy:
        raise InvalidParameterException(
            "Specifying both a launch type and capacity provider strategy is not supported. "
            "Remove one and try again."
        )
    strategy = req.capacity_provider_strategy
    if strategy is None and not req.launch_type:
        strategy = cluster_strategy or None
    if strategy:
        for item in strategy:
            name = item.get("capacityProvider")
            if name not in ("FARGATE", "FARGATE_SPOT"):
                raise InvalidParameterException(
                    f"The specified capacity provider {name} was not found."
                )
        return "FARGATE", list(strategy)
    return req.launch_type or "EC2", None


def _check_compatibility(td: TaskDefinition, launch_type: str, req: LaunchRequest) -> None:
    # An INACTIVE revision runs no new standalone tasks, but services using it keep scaling.
    if not td.active and not (req.group or "").startswith("service:"):
        raise ClientException("TaskDefinition is inactive")
    if launch_type == "FARGATE" and "FARGATE" not in td.compatibilities:
        raise InvalidParameterException("Task definition does not support launch_type FARGATE.")
    awsvpc = td.network_mode == "awsvpc"
    vpc = (req.network_configuration or {}).get("awsvpcConfiguration")
    if awsvpc and not vpc:
        raise InvalidParameterException(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        )
    if not awsvpc and req.network_configuration:
        raise InvalidParameterException(
            "Network Configuration is not valid for the given networkMode of this task definition."
        )
    if vpc is not None and not vpc.get("subnets"):
        raise InvalidParameterException("subnets can not be empty.")
    names = {c["name"] for c in td.container_definitions}
    for override in req.overrides.get("containerOverrides") or ():
        if override.get("name") not in names:
            raise InvalidParameterException(
                f"Override for container named {override.get('name')} is not a container in "
                "the TaskDefinition."
            )


def _new_task(
    scope: Scope,
    cluster_name: str,
    td: TaskDefinition,
    req: LaunchRequest,
    *,
    launch_type: str,
    capacity_provider: str | None,
    instance: ContainerInstance,
    reservation: Reservation,
    now: float,
) -> Task:
    task_id = new_task_id()
    arn = task_arn(scope, cluster_name, task_id)
    overrides = {o.get("name"): o for o in req.overrides.get("containerOverrides") or ()}
    containers = []
    for c in td.container_definitions:
        o = overrides.get(c["name"], {})
        memory = o.get("memory", c.get("memory"))
        soft = o.get("memoryReservation", c.get("memoryReservation"))
        containers.append(
            ContainerRun(
                name=c["name"],
                container_arn=f"arn:aws:ecs:{scope.region}:{scope.account_id}:container/"
                f"{cluster_name}/{task_id}/{new_uuid()}",
                image=c.get("image", ""),
                essential=c.get("essential", True),
                cpu=str(o.get("cpu", c.get("cpu", 0))),
                memory=str(memory) if memory is not None else None,
                memory_reservation=str(soft) if soft is not None else None,
            )
        )
    attachments: list[dict[str, Any]] = []
    if td.network_mode == "awsvpc":
        vpc = (req.network_configuration or {}).get("awsvpcConfiguration", {})
        attachments.append(
            {
                "id": new_uuid(),
                "type": "ElasticNetworkInterface",
                "status": "PRECREATED",
                "details": [{"name": "subnetId", "value": (vpc.get("subnets") or [""])[0]}],
            }
        )
    fargate = launch_type == "FARGATE"
    return Task(
        task_id=task_id,
        arn=arn,
        account_id=scope.account_id,
        region=scope.region,
        cluster=cluster_name,
        cluster_arn=cluster_arn(scope, cluster_name),
        task_definition_arn=td.arn,
        family=td.family,
        launch_type=launch_type,
        containers=containers,
        reservation=reservation,
        created_at=now,
        container_instance_id=instance.instance_id,
        container_instance_arn=None if fargate else instance.arn,
        capacity_provider=capacity_provider,
        availability_zone=instance.availability_zone,
        group=req.group or f"family:{td.family}",
        started_by=req.started_by,
        cpu=req.overrides.get("cpu") or td.body.get("cpu") or str(reservation.cpu),
        memory=req.overrides.get("memory") or td.body.get("memory") or str(reservation.memory),
        network_mode=td.network_mode,
        overrides=req.overrides,
        network_configuration=req.network_configuration,
        attachments=attachments,
        platform_version=(req.platform_version or "1.4.0") if fargate else None,
        enable_execute_command=req.enable_execute_command,
        last_status=TaskStatus.PROVISIONING,
    )


def _capacity_view(conn: Connection, scope: Scope, cluster: str, *, fargate: bool) -> ClusterView:
    """The capacity a placement chooses from: the cluster's EC2 instances (with their
    custom attributes), or the region's FARGATE capacity, each with what its live
    tasks hold."""
    pool = FARGATE_POOL if fargate else cluster
    instances = instance_rows.snapshot_instances(
        conn,
        scope,
        pool,
        statuses=("ACTIVE", "DRAINING"),
        kind=CapacityKind.FARGATE if fargate else CapacityKind.EC2,
    )
    if not fargate:
        custom = attribute_rows.custom_in_cluster(conn, scope, cluster)
        instances = with_custom_attributes(instances, custom)
    usage = task_rows.placement_usage(
        conn,
        scope,
        cluster=None if fargate else cluster,
        launch_type="FARGATE" if fargate else None,
    )
    empty = task_rows.InstanceUsage(Reservation(), {}, 0)
    views = []
    for inst in instances:
        used = usage.get(inst.instance_id, empty)
        views.append(
            InstanceView(
                inst,
                inst.capacity.remaining(used.reserved),
                Counter({g: n for g, n in used.groups.items() if g}),
                used.tasks,
            )
        )
    return ClusterView(views)


def _tags_for(req: LaunchRequest, td_tags: dict[str, str]) -> dict[str, str]:
    tags = tags_from_api(req.tags)
    if req.propagate_tags == "TASK_DEFINITION":
        tags = {**td_tags, **tags}
    return tags


@dataclass(slots=True)
class Launched:
    tasks: list[Task]
    failures: list[dict[str, str]]
    tags: dict[str, str]
    # Instances that got tasks: their agents are woken once the transaction commits.
    instances: list[str]


@dataclass(slots=True)
class PlacementDecision:
    """Where a request's tasks would go, decided on a snapshot read in the caller's
    transaction: what RunTask applies and what a dry run shows."""

    cluster: Cluster
    task_definition: TaskDefinition
    launch_type: str
    providers: list[str | None]
    reservation: Reservation
    view: ClusterView
    plan: Plan
    failures: list[dict[str, str]]
    # The instances of `view` (of the whole pool, for StartTask) by id.
    by_id: Mapping[str, InstanceView]
    # The pool's view this placement used, to keep for the next once the tasks are written.
    lease: ViewLease | None = None


def _live_per_provider(
    conn: Connection, scope: Scope, cluster: str, req: LaunchRequest
) -> dict[str, int]:
    """A service deployment's live tasks per capacity provider, so that a base and
    weights apply to the deployment's tasks as a whole, not again to each batch
    or scale-out. Tasks of other deployments do not count: a new deployment
    gets its own base, which it keeps once the old tasks are gone."""
    live: Counter[str] = Counter()
    for task in task_rows.for_group(conn, scope, cluster, req.group or ""):
        if (
            task.capacity_provider
            and task.started_by == req.started_by
            and task.last_status != TaskStatus.STOPPED
            and not task.wants_stop
        ):
            live[task.capacity_provider] += 1
    return dict(live)


def decide_placement(
    conn: Connection,
    backend: Backend,
    scope: Scope,
    req: LaunchRequest,
    *,
    chosen: list[str] | None = None,
    running_per_provider: dict[str, int] | None = None,
    lease_view: bool = False,
) -> PlacementDecision:
    """Resolve a RunTask/StartTask/service request and place it (nothing is written).

    With `lease_view` (write transactions only) the capacity view comes from
    capacity_views, and the caller keeps it once the placement is written.
    A service's tasks (group `service:NAME`) split over a capacity provider
    strategy counting the deployment's live tasks per provider, unless the
    caller passes `running_per_provider`.
    """
    cluster = require_active_cluster(conn, scope, req.cluster)
    td = resolve_task_definition(conn, scope, req.task_definition)
    if chosen is not None:
        launch_type, cp_strategy = "EC2", None
    else:
        launch_type, cp_strategy = _launch_type(req, cluster.default_capacity_provider_strategy)
    _check_compatibility(td, launch_type, req)
    fargate = launch_type == "FARGATE"
    is_service = (req.group or "").startswith("service:")
    strategy = parse_strategy(req.placement_strategy)
    constraints = parse_constraints(
        req.placement_constraints, task_definition=td.body.get("placementConstraints") or []
    )
    reservation = reservation_for(td.body, req.overrides)
    lease: ViewLease | None = None
    if lease_view:
        lease = capacity_views.lease(
            conn,
            scope,
            FARGATE_POOL if fargate else cluster.name,
            CapacityKind.FARGATE if fargate else CapacityKind.EC2,
            lambda: _capacity_view(conn, scope, cluster.name, fargate=fargate),
        )
        view, by_id = lease.view, lease.by_id
    else:
        view = _capacity_view(conn, scope, cluster.name, fargate=fargate)
        by_id = {v.instance_id: v for v in view.instances}
    failures: list[dict[str, str]] = []
    if chosen is not None:
        wanted = {instance_id_from(ref): ref for ref in chosen}
        known = {v.instance.instance_id for v in view.instances}
        for iid, ref in wanted.items():
            if iid not in known:
                failures.append({"arn": ref, "reason": "MISSING"})
        view = ClusterView([v for v in view.instances if v.instance.instance_id in wanted])
    elif not view.instances and not fargate and not is_service:
        raise InvalidParameterException("No Container Instances were found in your cluster.")
    request = PlacementRequest(
        count=req.count if chosen is None else len(view.instances),
        reservation=reservation,
        group=req.group or f"family:{td.family}",
        launch_type=launch_type,
        required_attributes=tuple(
            str(a["name"]) for a in td.body.get("requiresAttributes") or () if a.get("name")
        ),
        strategy=FARGATE_STRATEGY if fargate else strategy,
        constraints=() if fargate else constraints,
        seed=int(backend.clock.now() * 1000),
        is_service=is_service,
    )
    if chosen is not None:
        plan = Plan()
        for inst in view.instances:
            reason = reject_reason(inst, request)
            if reason is None:
                inst.take(request.reservation, request.group)
                plan.placements.append(inst.instance.instance_id)
            else:
                # StartTask: each failure is about the instance it named.
                plan.rejections[inst.instance.instance_id] = reason
                plan.failures.append((reason, f"container instance {inst.instance.arn}"))
                failures.append(
                    {
                        "arn": inst.instance.arn,
                        "reason": reason,
                        "detail": f"container instance {inst.instance.arn}",
                    }
                )
    else:
        plan = place_tasks(view, request)
        if fargate and not view.instances:
            plan.failures = [
                (
                    "Capacity is unavailable at this time. Please try again later or in a "
                    "different availability zone",
                    "No FARGATE capacity is connected: run `openecs up`, or `openecs agent "
                    "--capacity fargate`.",
                )
            ] * len(plan.failures)
        # ECS names the container instance that came closest (the one the detail
        # names); the cluster when none did, and for FARGATE capacity.
        closest = by_id.get(plan.closest or "") if not fargate else None
        arn = closest.instance.arn if closest is not None else cluster.arn
        failures.extend(
            {"arn": arn, "reason": reason, "detail": detail} for reason, detail in plan.failures
        )
    providers: list[str | None] = [None] * len(plan.placements)
    if cp_strategy:
        if running_per_provider is None and is_service:
            running_per_provider = _live_per_provider(conn, scope, cluster.name, req)
        providers = list(
            split_by_capacity_provider(cp_strategy, len(plan.placements), running_per_provider)
        )
    return PlacementDecision(
        cluster, td, launch_type, providers, reservation, view, plan, failures, by_id, lease
    )


def launch_in_transaction(
    conn: Connection,
    backend: Backend,
    scope: Scope,
    req: LaunchRequest,
    *,
    chosen: list[str] | None = None,
    extra_tags: dict[str, str] | None = None,
    running_per_provider: dict[str, int] | None = None,
) -> Launched:
    """Resolve, place and create tasks inside the caller's write transaction.

    RunTask and StartTask use it on their own; the service controller uses it
    for the tasks of a deployment (group `service:NAME`, startedBy the deployment).
    """
    if req.client_token:
        cluster = require_active_cluster(conn, scope, req.cluster)
        earlier = task_rows.by_client_token(conn, scope, cluster.name, req.client_token)
        if earlier:
            tags = tag_rows.get_tags(conn, earlier[0].arn)
            return Launched(earlier, [], tags, [])
    decision = decide_placement(
        conn,
        backend,
        scope,
        req,
        chosen=chosen,
        running_per_provider=running_per_provider,
        lease_view=True,
    )
    td = decision.task_definition
    now = backend.clock.now()
    new = [
        _new_task(
            scope,
            decision.cluster.name,
            td,
            req,
            launch_type=decision.launch_type,
            capacity_provider=provider,
            instance=decision.by_id[iid].instance,
            reservation=decision.reservation,
            now=now,
        )
        for iid, provider in zip(decision.plan.placements, decision.providers, strict=True)
    ]
    task_rows.insert_tasks(conn, new, req.client_token)
    tags = {**(extra_tags or {}), **_tags_for(req, tag_rows.get_tags(conn, td.arn))}
    for task in new:
        tag_rows.put_tags(conn, task.arn, tags)
    if decision.lease is not None:
        capacity_views.keep(conn, decision.lease)
    return Launched(new, decision.failures, tags, sorted(set(decision.plan.placements)))


def _launch(
    backend: Backend, scope: Scope, req: LaunchRequest, *, chosen: list[str] | None
) -> tuple[list[TaskDescription], list[dict[str, str]]]:
    if not 1 <= req.count <= 10:
        raise InvalidParameterException("count must be between 1 and 10.")
    if req.started_by is not None and len(req.started_by) > 128:
        raise InvalidParameterException("startedBy must be at most 128 characters.")

    def work(conn: Connection) -> Launched:
        return launch_in_transaction(conn, backend, scope, req, chosen=chosen)

    launched = backend.write(work)
    backend.instance_signals.notify(launched.instances)
    return [TaskDescription(t, launched.tags) for t in launched.tasks], launched.failures


def run_task(
    backend: Backend, scope: Scope, req: LaunchRequest
) -> tuple[list[TaskDescription], list[dict[str, str]]]:
    return _launch(backend, scope, req, chosen=None)


def start_task(
    backend: Backend, scope: Scope, req: LaunchRequest
) -> tuple[list[TaskDescription], list[dict[str, str]]]:
    refs = req.container_instances or []
    if not 1 <= len(refs) <= 10:
        raise InvalidParameterException("containerInstances must name between 1 and 10 instances.")
    return _launch(backend, scope, req, chosen=refs)


def _service_of(conn: Connection, scope: Scope, task: Task) -> Service | None:
    group = task.group or ""
    if not group.startswith("service:"):
        return None
    return service_rows.get(conn, scope, task.cluster, group.removeprefix("service:"))


def stop_task(
    backend: Backend,
    scope: Scope,
    cluster_ref: str | None,
    task_ref: str,
    reason: str | None,
    *,
    code: str = StopCode.USER_INITIATED,
) -> TaskDescription:
    notified: list[str] = []

    def work(conn: Connection) -> TaskDescription:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        task = task_rows.get(conn, scope, task_id_from(task_ref))
        if task is None or task.cluster != cluster.name:
            raise InvalidParameterException("The referenced task was not found.")
        now = backend.clock.now()
        if request_stop(task, now=now, code=code, reason=reason or "Task stopped by user"):
            service = _service_of(conn, scope, task)
            if service is not None and service.load_balancers:
                task.deactivate_until = drain_task_targets(conn, scope, service, task, now)
            task_rows.save(conn, task)
            if task.container_instance_id:
                notified.append(task.container_instance_id)
        return TaskDescription(task, tag_rows.get_tags(conn, task.arn))

    result = backend.write(work)
    backend.instance_signals.notify(notified)
    return result


def describe_tasks(
    backend: Backend, scope: Scope, cluster_ref: str | None, refs: list[str], include_tags: bool
) -> tuple[list[TaskDescription], list[dict[str, str]]]:
    if not refs:
        raise InvalidParameterException("Tasks cannot be empty.")
    if len(refs) > 100:
        raise InvalidParameterException("The tasks parameter can contain at most 100 items.")
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        ids = [task_id_from(r) for r in refs]
        found = task_rows.get_many(conn, scope, ids)
        tags = tag_rows.get_tags_many(conn, [t.arn for t in found.values()]) if include_tags else {}
    out: list[TaskDescription] = []
    failures: list[dict[str, str]] = []
    for ref, tid in zip(refs, ids, strict=True):
        task = found.get(tid)
        if task is None or task.cluster != cluster.name:
            arn = ref if ref.startswith("arn:") else task_arn(scope, cluster.name, tid)
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            out.append(TaskDescription(task, tags.get(task.arn, {})))
    return out, failures


def list_tasks(
    backend: Backend,
    scope: Scope,
    *,
    cluster_ref: str | None,
    container_instance: str | None = None,
    family: str | None = None,
    started_by: str | None = None,
    service_name: str | None = None,
    desired_status: str | None = None,
    launch_type: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[list[str], str | None]:
    limit = page_limit(max_results)
    after = decode_token(next_token)
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        f = task_rows.ListFilter(
            cluster=cluster.name,
            instance_id=instance_id_from(container_instance) if container_instance else None,
            family=family,
            started_by=started_by,
            group=f"service:{service_name.rsplit('/', 1)[-1]}" if service_name else None,
            desired_status=desired_status or TaskStatus.RUNNING,
            launch_type=launch_type,
        )
        rows = task_rows.list_arns(conn, scope, f, after=after, limit=limit + 1)
    token = encode_token(rows[limit - 1][0]) if len(rows) > limit else None
    return [arn for _, arn in rows[:limit]], token


def expire_stopped_tasks(backend: Backend, retention_seconds: float) -> int:
    """Forget tasks that stopped longer ago than the retention period (ECS keeps
    stopped tasks describable for at least an hour)."""
    cutoff = backend.clock.now() - retention_seconds

    def work(conn: Connection) -> int:
        # The bill outlives the task: its usage is recorded as its row goes.
        usage_history.record_expiring_tasks(conn, cutoff)
        arns = task_rows.delete_stopped_before(conn, cutoff)
        for arn in arns:
            tag_rows.delete_all(conn, arn)
        return len(arns)

    return backend.write(work)
