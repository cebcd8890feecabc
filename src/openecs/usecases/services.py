"""Services: CreateService, UpdateService, DeleteService, DescribeServices,
ListServices, service deployments and revisions — and the apply step of the
service controller (the decision itself is controllers.service_reconcile)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection

from openecs.domain.arns import cluster_arn, parse_arn, service_arn
from openecs.domain.container_instance import CapacityKind, ContainerInstance
from openecs.domain.errors import (
    ClientError,
    ClusterNotFoundException,
    InvalidParameterException,
    ServiceNotActiveException,
    ServiceNotFoundException,
)
from openecs.domain.resources import Reservation
from openecs.domain.scope import Scope
from openecs.domain.service import (
    Deployment,
    Service,
    ServiceStatus,
)
from openecs.domain.tags import tags_from_api
from openecs.domain.task import StopCode, Task
from openecs.domain.task_definition import TaskDefinition
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
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.container_instances import with_custom_attributes
from openecs.usecases.pagination import decode_token, encode_token, page_limit
from openecs.usecases.service_targets import check_service_load_balancers, drain_task_targets
from openecs.usecases.task_definitions import resolve_task_definition
from openecs.usecases.tasks import LaunchRequest, launch_in_transaction

__all__ = [
    "ServiceDecision",
    "ServiceDescription",
    "ServiceState",
    "apply_service_actions",
    "create_service",
    "delete_service",
    "describe_services",
    "list_services",
    "live_services",
    "placement_failure_event",
    "read_service_state",
    "require_service",
    "service_name_from",
    "update_service",
]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
# Fields that make a new deployment when UpdateService changes them.
_DEPLOYMENT_FIELDS = (
    "taskDefinition",
    "networkConfiguration",
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "loadBalancers",
)


@dataclass(slots=True)
class ServiceDescription:
    service: Service
    # deployment id → (running, pending) counts, from the live tasks.
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def new_deployment_id() -> str:
    return "ecs-svc/" + "".join(secrets.choice("0123456789") for _ in range(19))


def service_name_from(ref: str) -> str:
    arn = parse_arn(ref)
    if arn is None:
        return ref
    if arn.resource_type != "service":
        raise InvalidParameterException(f"Invalid service identifier: {ref}")
    return arn.resource.rsplit("/", 1)[-1]


def require_service(conn: Connection, scope: Scope, cluster: str, ref: str) -> Service:
    service = service_rows.get(conn, scope, cluster, service_name_from(ref))
    if service is None:
        raise ServiceNotFoundException("Service not found.")
    return service


def _describe(
    conn: Connection, scope: Scope, service: Service, with_tags: bool
) -> ServiceDescription:
    tasks = task_rows.for_group(conn, scope, service.cluster, service.group)
    counts: dict[str, tuple[int, int]] = {}
    for d in service.deployments:
        mine = [t for t in tasks if t.started_by == d.id and t.last_status != "STOPPED"]
        running = sum(1 for t in mine if t.last_status == "RUNNING")
        counts[d.id] = (running, len(mine) - running)
    return ServiceDescription(
        service, counts, tag_rows.get_tags(conn, service.arn) if with_tags else {}
    )


def _validate_deployment_configuration(config: Mapping[str, Any], daemon: bool) -> None:
    max_pct = config.get("maximumPercent")
    min_pct = config.get("minimumHealthyPercent")
    if min_pct is not None and not 0 <= min_pct <= 100:
        raise InvalidParameterException(
            "minimumHealthyPercent must be between 0 and 100 inclusive."
        )
    if max_pct is not None and max_pct < 100 and not daemon:
        raise InvalidParameterException("maximumPercent must be greater than or equal to 100.")
    if max_pct is not None and min_pct is not None and max_pct < min_pct:
        raise InvalidParameterException(
            "maximumPercent must be greater than or equal to minimumHealthyPercent."
        )


def _snapshot(p: Mapping[str, Any], base: Deployment | None, td_arn: str) -> dict[str, Any]:
    """The launch settings of a deployment: those given, else the previous deployment's."""

    def pick(key: str, attr: str) -> Any:
        if key in p and p[key] is not None:
            return p[key]
        return getattr(base, attr) if base is not None else None

    strategy = pick("capacityProviderStrategy", "capacity_provider_strategy") or []
    launch_type = pick("launchType", "launch_type")
    if p.get("capacityProviderStrategy") and not p.get("launchType"):
        # A strategy given now replaces the launch type the service had (one or the other).
        launch_type = None
    return {
        "task_definition": td_arn,
        "launch_type": launch_type,
        "capacity_provider_strategy": strategy,
        "network_configuration": pick("networkConfiguration", "network_configuration"),
        "platform_version": pick("platformVersion", "platform_version"),
        "load_balancers": pick("loadBalancers", "load_balancers") or [],
    }


def new_revision_id() -> str:
    return secrets.token_hex(8)


def _new_deployment(service: Service, snapshot: dict[str, Any], now: float) -> Deployment:
    return service.start_deployment(new_deployment_id(), new_revision_id(), snapshot, now)


def _check_launch(p: Mapping[str, Any], td_network_mode: str, daemon: bool) -> None:
    if p.get("launchType") and p.get("capacityProviderStrategy"):
        raise InvalidParameterException(
            "Specifying both a launch type and capacity provider strategy is not supported. "
            "Remove one and try again."
        )
    if daemon and (p.get("launchType") == "FARGATE" or p.get("capacityProviderStrategy")):
        raise InvalidParameterException(
            "The daemon scheduling strategy does not support the FARGATE launch type."
        )
    vpc = (p.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if td_network_mode == "awsvpc" and not vpc:
        raise InvalidParameterException(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        )
    if td_network_mode != "awsvpc" and p.get("networkConfiguration"):
        raise InvalidParameterException(
            "Network Configuration is not valid for the given networkMode of this task definition."
        )


def _check_constraints(items: Sequence[Mapping[str, Any]] | None, td: TaskDefinition) -> None:
    """Placement constraints that do not parse fail the call, not every later placement
    (a DAEMON service reads them each round to pick its instances)."""
    parse_constraints(items, task_definition=td.body.get("placementConstraints") or [])


def _check_load_balancers(lbs: list[dict[str, Any]], containers: list[dict[str, Any]]) -> None:
    by_name = {c["name"]: c for c in containers}
    for lb in lbs:
        name = lb.get("containerName")
        container = by_name.get(name or "")
        if container is None:
            raise InvalidParameterException(
                f"The container {name} does not exist in the task definition."
            )
        ports = {pm.get("containerPort") for pm in container.get("portMappings") or ()}
        if lb.get("containerPort") not in ports:
            raise InvalidParameterException(
                f"The container {name} did not have a container port {lb.get('containerPort')} "
                "defined."
            )


def create_service(backend: Backend, scope: Scope, p: Mapping[str, Any]) -> ServiceDescription:
    name = p["serviceName"]
    if not _NAME.fullmatch(name):
        raise InvalidParameterException(
            "Service name can only contain letters, numbers, hyphens and underscores, "
            "and be 1 to 255 characters long."
        )
    strategy = p.get("schedulingStrategy") or "REPLICA"
    daemon = strategy == "DAEMON"
    if daemon and p.get("desiredCount") is not None:
        raise InvalidParameterException(
            "The daemon scheduling strategy does not support a desired count for services."
        )
    desired = int(p.get("desiredCount") or 0)
    if desired < 0:
        raise InvalidParameterException("desiredCount cannot be negative.")
    if not p.get("taskDefinition"):
        raise InvalidParameterException("TaskDefinition must be specified.")
    config = dict(p.get("deploymentConfiguration") or {})
    _validate_deployment_configuration(config, daemon)
    # Like ECS today, with or without load balancers: it covers container health checks too.
    grace = p.get("healthCheckGracePeriodSeconds")
    tags = tags_from_api(p.get("tags") or [])

    def work(conn: Connection) -> ServiceDescription:
        cluster = require_active_cluster(conn, scope, p.get("cluster"))
        existing = service_rows.get(conn, scope, cluster.name, name)
        if existing is not None and existing.status == ServiceStatus.DRAINING:
            raise InvalidParameterException("Unable to Start a service that is still Draining.")
        request = _request_digest(p, cluster.name)
        if existing is not None and existing.status == ServiceStatus.ACTIVE:
            token = p.get("clientToken")
            if (
                token
                and existing.client_token == token
                and existing.client_request in (None, request)
            ):
                return _describe(conn, scope, existing, True)
            raise InvalidParameterException("Creation of service was not idempotent.")
        td = resolve_task_definition(conn, scope, p["taskDefinition"])
        if not td.active:
            raise InvalidParameterException("TaskDefinition is inactive")
        _check_launch(p, td.network_mode, daemon)
        _check_constraints(p.get("placementConstraints"), td)
        _check_load_balancers(p.get("loadBalancers") or [], td.container_definitions)
        check_service_load_balancers(
            conn, scope, list(p.get("loadBalancers") or []), td.network_mode
        )
        launch_type = p.get("launchType")
        if not launch_type and not p.get("capacityProviderStrategy"):
            launch_type = None if cluster.default_capacity_provider_strategy else "EC2"
        if launch_type == "FARGATE" and "FARGATE" not in td.compatibilities:
            raise InvalidParameterException("Task definition does not support launch_type FARGATE.")
        now = backend.clock.now()
        service = Service(
            name=name,
            arn=service_arn(scope, cluster.name, name),
            account_id=scope.account_id,
            region=scope.region,
            cluster=cluster.name,
            cluster_arn=cluster.arn,
            status=ServiceStatus.ACTIVE,
            desired_count=desired,
            created_at=now,
            created_by=scope.principal_arn,
            scheduling_strategy=strategy,
            launch_type=launch_type,
            capacity_provider_strategy=list(p.get("capacityProviderStrategy") or []),
            platform_version=p.get("platformVersion"),
            deployment_configuration={
                "deploymentCircuitBreaker": {"enable": False, "rollback": False},
                "maximumPercent": 100 if daemon else 200,
                "minimumHealthyPercent": 0 if daemon else 100,
                **config,
            },
            placement_constraints=list(p.get("placementConstraints") or []),
            placement_strategy=list(p.get("placementStrategy") or []),
            network_configuration=p.get("networkConfiguration"),
            load_balancers=list(p.get("loadBalancers") or []),
            health_check_grace_period=int(grace or 0),
            propagate_tags=p.get("propagateTags") or "NONE",
            enable_ecs_managed_tags=bool(p.get("enableECSManagedTags", False)),
            enable_execute_command=bool(p.get("enableExecuteCommand", False)),
            role_arn=p.get("role"),
            client_token=p.get("clientToken"),
            client_request=request if p.get("clientToken") else None,
        )
        snapshot = _snapshot({**p, "launchType": launch_type}, None, td.arn)
        _new_deployment(service, snapshot, now)
        service_rows.insert_service(conn, service)
        tag_rows.put_tags(conn, service.arn, tags)
        return ServiceDescription(service, {service.primary.id: (0, 0)}, tags)

    result = backend.write(work)
    backend.controller_signals.notify(["services"])
    return result


def _request_digest(p: Mapping[str, Any], cluster: str) -> str:
    """What a CreateService asks for, whatever the token: a retry sends the same."""
    asked = {k: v for k, v in p.items() if k != "clientToken" and v is not None}
    asked["cluster"] = cluster
    canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def update_service(backend: Backend, scope: Scope, p: Mapping[str, Any]) -> ServiceDescription:
    def work(conn: Connection) -> ServiceDescription:
        cluster = require_active_cluster(conn, scope, p.get("cluster"))
        service = require_service(conn, scope, cluster.name, p["service"])
        if service.status != ServiceStatus.ACTIVE:
            raise ServiceNotActiveException("Service was not ACTIVE.")
        daemon = service.scheduling_strategy == "DAEMON"
        now = backend.clock.now()
        if p.get("desiredCount") is not None:
            if daemon:
                raise InvalidParameterException(
                    "The daemon scheduling strategy does not support a desired count for services."
                )
            if p["desiredCount"] < 0:
                raise InvalidParameterException("desiredCount cannot be negative.")
            service.desired_count = int(p["desiredCount"])
        if p.get("deploymentConfiguration") is not None:
            merged = {**service.deployment_configuration, **p["deploymentConfiguration"]}
            _validate_deployment_configuration(merged, daemon)
            service.deployment_configuration = merged
        if p.get("placementConstraints") is not None:
            td_now = resolve_task_definition(
                conn, scope, p.get("taskDefinition") or service.primary.task_definition
            )
            _check_constraints(p["placementConstraints"], td_now)
            service.placement_constraints = list(p["placementConstraints"])
        if p.get("placementStrategy") is not None:
            service.placement_strategy = list(p["placementStrategy"])
        if p.get("healthCheckGracePeriodSeconds") is not None:
            service.health_check_grace_period = int(p["healthCheckGracePeriodSeconds"])
        if p.get("propagateTags") is not None:
            service.propagate_tags = p["propagateTags"]
        if p.get("enableECSManagedTags") is not None:
            service.enable_ecs_managed_tags = bool(p["enableECSManagedTags"])
        if p.get("enableExecuteCommand") is not None:
            service.enable_execute_command = bool(p["enableExecuteCommand"])
        primary = service.primary
        force = bool(p.get("forceNewDeployment"))
        if force or any(p.get(k) is not None for k in _DEPLOYMENT_FIELDS):
            td = resolve_task_definition(
                conn, scope, p.get("taskDefinition") or primary.task_definition
            )
            if p.get("taskDefinition") and not td.active:
                raise InvalidParameterException("TaskDefinition is inactive")
            snapshot = _snapshot(p, primary, td.arn)
        else:
            snapshot = primary.snapshot()
        # Like ECS, an update that changes none of these starts no deployment unless forced.
        if force or snapshot != primary.snapshot():
            effective = {
                "launchType": snapshot["launch_type"],
                "capacityProviderStrategy": snapshot["capacity_provider_strategy"],
                "networkConfiguration": snapshot["network_configuration"],
            }
            _check_launch(effective, td.network_mode, daemon)
            _check_load_balancers(snapshot["load_balancers"], td.container_definitions)
            check_service_load_balancers(conn, scope, snapshot["load_balancers"], td.network_mode)
            service.network_configuration = snapshot["network_configuration"]
            service.load_balancers = snapshot["load_balancers"]
            service.launch_type = snapshot["launch_type"]
            service.capacity_provider_strategy = snapshot["capacity_provider_strategy"]
            service.platform_version = snapshot["platform_version"]
            _new_deployment(service, snapshot, now)
        service_rows.save(conn, service)
        return _describe(conn, scope, service, False)

    result = backend.write(work)
    backend.controller_signals.notify(["services"])
    return result


def delete_service(
    backend: Backend, scope: Scope, cluster_ref: str | None, ref: str, force: bool
) -> ServiceDescription:
    def work(conn: Connection) -> ServiceDescription:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        service = require_service(conn, scope, cluster.name, ref)
        if service.status == ServiceStatus.INACTIVE:
            raise ServiceNotActiveException("Service was not ACTIVE.")
        if service.scheduling_strategy == "REPLICA" and service.desired_count > 0 and not force:
            raise InvalidParameterException(
                "The service cannot be stopped while it is scaled above 0."
            )
        service.status = ServiceStatus.DRAINING
        service.desired_count = 0
        service_rows.save(conn, service)
        return _describe(conn, scope, service, False)

    result = backend.write(work)
    backend.controller_signals.notify(["services"])
    return result


def describe_services(
    backend: Backend, scope: Scope, cluster_ref: str | None, refs: list[str], with_tags: bool
) -> tuple[list[ServiceDescription], list[dict[str, str]]]:
    if not 1 <= len(refs) <= 10:
        raise InvalidParameterException("services must name between 1 and 10 services.")
    found: list[ServiceDescription] = []
    failures: list[dict[str, str]] = []
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        for ref in refs:
            service = service_rows.get(conn, scope, cluster.name, service_name_from(ref))
            if service is None:
                arn = ref if ref.startswith("arn:") else service_arn(scope, cluster.name, ref)
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(_describe(conn, scope, service, with_tags))
    return found, failures


def list_services(
    backend: Backend,
    scope: Scope,
    cluster_ref: str | None,
    *,
    launch_type: str | None,
    scheduling_strategy: str | None,
    next_token: str | None,
    max_results: int | None,
) -> tuple[list[str], str | None]:
    limit = page_limit(max_results, default=10, most=100)
    after = decode_token(next_token)
    out: list[tuple[str, str]] = []
    with backend.reading() as conn:
        try:
            cluster = require_active_cluster(conn, scope, cluster_ref)
        except ClusterNotFoundException:
            raise
        cursor = after
        while len(out) <= limit:
            rows = service_rows.list_names(conn, scope, cluster.name, after=cursor, limit=200)
            if not rows:
                break
            for name, arn, doc in rows:
                cursor = name
                fields = json.loads(doc)
                if launch_type and fields.get("launch_type") != launch_type:
                    continue
                if scheduling_strategy and fields.get("scheduling_strategy") != scheduling_strategy:
                    continue
                out.append((name, arn))
    token = encode_token(out[limit - 1][0]) if len(out) > limit else None
    return [arn for _, arn in out[:limit]], token


# -- the controller's apply step ------------------------------------------------------


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
        listed = " ".join(f"(task {t})" for t in stopped)
        service.add_event(
            event_id(),
            now,
            f"(service {service.name}) has stopped {len(stopped)} running tasks: {listed}.",
        )


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
        listed = " ".join(f"(task {t.task_id})" for t in started)
        service.add_event(
            event_id(),
            now,
            f"(service {service.name}) has started {len(started)} tasks: {listed}.",
        )
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


def cluster_arn_of(scope: Scope, cluster: str) -> str:
    return cluster_arn(scope, cluster)
