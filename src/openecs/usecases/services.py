"""Services: CreateService, UpdateService, DeleteService, DescribeServices,
ListServices, and service deployments and revisions. The service controller's
read and apply steps are usecases.service_actions."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from openecs.domain.arns import parse_arn, service_arn
from openecs.domain.errors import (
    ClusterNotFoundException,
    InvalidParameterException,
    ServiceNotActiveException,
    ServiceNotFoundException,
)
from openecs.domain.scope import Scope
from openecs.domain.service import (
    Deployment,
    Service,
    ServiceStatus,
)
from openecs.domain.tags import tags_from_api
from openecs.domain.task_definition import TaskDefinition
from openecs.scheduler.constraints import parse_constraints
from openecs.store import services as service_rows
from openecs.store import tags as tag_rows
from openecs.store import tasks as task_rows
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.pagination import decode_token, encode_token, page_limit
from openecs.usecases.service_targets import check_service_load_balancers
from openecs.usecases.task_definitions import resolve_task_definition

__all__ = [
    "ServiceDescription",
    "create_service",
    "delete_service",
    "describe_services",
    "list_services",
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
