"""What the console shows, read through the use cases (the read side of the API).

Each function gathers one page's worth of data into plain dataclasses; the
pages render them and the live endpoints send them again every few seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openecs.domain.errors import AwsError
from openecs.domain.load_balancing import Listener, LoadBalancer, Rule
from openecs.domain.metrics import ALB_NAMESPACE, ECS_NAMESPACE, dimensions
from openecs.domain.scaling import ScalingActivity, ScalingPolicy
from openecs.domain.scope import Scope
from openecs.domain.service import Deployment, DeploymentStatus
from openecs.domain.task import Task
from openecs.domain.task_definition import TaskDefinition
from openecs.usecases import (
    clusters,
    container_instances,
    listeners,
    load_balancing,
    logs_events,
    metrics,
    scaling,
    services,
    target_groups,
    task_definitions,
    tasks,
)
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import ClusterDescription
from openecs.usecases.container_instances import InstanceDescription
from openecs.usecases.services import ServiceDescription
from openecs.usecases.target_groups import TargetGroupView, TargetHealthView

__all__ = [
    "ClusterDetail",
    "ClusterSummary",
    "LoadBalancerDetail",
    "LogLine",
    "ServiceDetail",
    "TaskDetail",
    "cluster_detail",
    "cluster_summaries",
    "load_balancer_detail",
    "load_balancers",
    "previous_task_definition",
    "service_detail",
    "task_definition_families",
    "task_definition_revisions",
    "task_detail",
]

Page = tuple[list[str], str | None]

# Charts show this many seconds back, in periods of CHART_PERIOD seconds.
CHART_WINDOW = 30 * 60
CHART_PERIOD = 30
# Stopped tasks shown beside the live ones.
STOPPED_SHOWN = 20
LOG_LINES = 200


def _all(list_page: Callable[[str | None], Page], most: int = 2000) -> list[str]:
    out: list[str] = []
    token: str | None = None
    while True:
        arns, token = list_page(token)
        out.extend(arns)
        if not token or len(out) >= most:
            return out


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- clusters -------------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    """Reserved against registered capacity (CPU units, MiB)."""

    cpu_used: int = 0
    cpu_total: int = 0
    memory_used: int = 0
    memory_total: int = 0

    def add(self, d: InstanceDescription) -> None:
        cap, left = d.instance.capacity, d.remaining
        self.cpu_total += cap.cpu
        self.memory_total += cap.memory
        self.cpu_used += cap.cpu - left.cpu
        self.memory_used += cap.memory - left.memory


@dataclass(slots=True)
class ClusterSummary:
    view: ClusterDescription
    usage: Usage
    # CPU units and MiB that FARGATE tasks of the cluster reserve.
    fargate_cpu: int = 0
    fargate_memory: int = 0


def _instances(backend: Backend, scope: Scope, cluster: str) -> list[InstanceDescription]:
    arns = _all(
        lambda t: container_instances.list_container_instances(
            backend, scope, cluster, status=None, next_token=t, max_results=100
        )
    )
    out: list[InstanceDescription] = []
    for chunk in _chunks(arns, 100):
        found, _ = container_instances.describe_container_instances(
            backend, scope, cluster, chunk, False
        )
        out.extend(found)
    return out


def _tasks(
    backend: Backend,
    scope: Scope,
    cluster: str,
    *,
    service: str | None = None,
    with_stopped: bool = True,
) -> list[Task]:
    """The cluster's (or service's) live tasks, oldest first, then the latest stopped."""

    def listing(desired: str) -> list[str]:
        return _all(
            lambda t: tasks.list_tasks(
                backend,
                scope,
                cluster_ref=cluster,
                service_name=service,
                desired_status=desired,
                next_token=t,
                max_results=100,
            )
        )

    arns = listing("RUNNING")
    stopped = listing("STOPPED") if with_stopped else []
    out: list[Task] = []
    for chunk in _chunks(arns + stopped, 100):
        found, _ = tasks.describe_tasks(backend, scope, cluster, chunk, False)
        out.extend(v.task for v in found)
    live = [t for t in out if not t.wants_stop or not t.is_stopped]
    done = sorted((t for t in out if t.wants_stop and t.is_stopped), key=_stopped_key)
    live.sort(key=lambda t: t.created_at)
    return live + done[:STOPPED_SHOWN]


def _stopped_key(t: Task) -> float:
    return -(t.stopped_at or t.created_at)


def _fargate_reserved(found: list[Task]) -> tuple[int, int]:
    cpu = memory = 0
    for t in found:
        if t.launch_type == "FARGATE" and not t.is_stopped:
            cpu += t.reservation.cpu
            memory += t.reservation.memory
    return cpu, memory


def cluster_summaries(backend: Backend, scope: Scope) -> list[ClusterSummary]:
    names = _all(lambda t: clusters.list_clusters(backend, scope, t, 100))
    out: list[ClusterSummary] = []
    for chunk in _chunks(names, 100):
        views, _, _ = clusters.describe_clusters(backend, scope, chunk, None)
        for view in views:
            usage = Usage()
            for d in _instances(backend, scope, view.cluster.name):
                if d.instance.status != "INACTIVE":
                    usage.add(d)
            cpu, memory = _fargate_reserved(
                _tasks(backend, scope, view.cluster.name, with_stopped=False)
            )
            out.append(ClusterSummary(view, usage, cpu, memory))
    out.sort(key=lambda s: s.view.cluster.name)
    return out


@dataclass(slots=True)
class ClusterDetail:
    view: ClusterDescription
    services: list[ServiceDescription]
    tasks: list[Task]
    instances: list[InstanceDescription]


def cluster_detail(backend: Backend, scope: Scope, cluster: str) -> ClusterDetail:
    views, _, _ = clusters.describe_clusters(backend, scope, [cluster], None)
    if not views or not views[0].cluster.active:
        raise LookupError(f"Cluster {cluster} not found.")
    arns = _all(
        lambda t: services.list_services(
            backend,
            scope,
            cluster,
            launch_type=None,
            scheduling_strategy=None,
            next_token=t,
            max_results=100,
        )
    )
    found: list[ServiceDescription] = []
    for chunk in _chunks(arns, 10):
        described, _ = services.describe_services(backend, scope, cluster, chunk, False)
        found.extend(described)
    found.sort(key=lambda v: v.service.name)
    return ClusterDetail(
        views[0], found, _tasks(backend, scope, cluster), _instances(backend, scope, cluster)
    )


# -- services -------------------------------------------------------------------------


@dataclass(slots=True)
class TargetGroupHealth:
    target_group_arn: str
    name: str
    container: str
    port: int
    targets: list[TargetHealthView]


@dataclass(slots=True)
class ServiceDetail:
    view: ServiceDescription
    tasks: list[Task]
    target_health: list[TargetGroupHealth]
    policies: list[ScalingPolicy]
    activities: list[ScalingActivity]
    scalable: dict[str, int] | None
    # chart name → [(epoch seconds, value)]
    charts: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def running(self) -> int:
        return sum(c[0] for c in self.view.counts.values())

    @property
    def pending(self) -> int:
        return sum(c[1] for c in self.view.counts.values())


def _describe_service(
    backend: Backend, scope: Scope, cluster: str, name: str
) -> ServiceDescription:
    found, _ = services.describe_services(backend, scope, cluster, [name], False)
    if not found:
        raise LookupError(f"Service {name} not found in cluster {cluster}.")
    return found[0]


def _elb_suffix(arn: str, kind: str) -> str:
    """`app/name/id` of a load balancer ARN, `targetgroup/name/id` of a target group's."""
    resource = arn.split(":", 5)[-1]
    return resource.removeprefix("loadbalancer/") if kind == "loadbalancer" else resource


def service_detail(backend: Backend, scope: Scope, cluster: str, name: str) -> ServiceDetail:
    view = _describe_service(backend, scope, cluster, name)
    service = view.service
    health: list[TargetGroupHealth] = []
    request_series: list[tuple[str, str]] = []
    for lb in service.load_balancers:
        arn = str(lb.get("targetGroupArn") or "")
        if not arn:
            continue
        try:
            groups, _ = target_groups.describe_target_groups(backend, scope, arns=[arn])
            targets = target_groups.describe_target_health(backend, scope, arn)
        except AwsError:
            continue
        tg_name = groups[0].target_group.name if groups else arn
        health.append(
            TargetGroupHealth(
                arn,
                tg_name,
                str(lb.get("containerName")),
                int(lb.get("containerPort") or 0),
                targets,
            )
        )
        for lb_arn in groups[0].load_balancer_arns if groups else []:
            request_series.append(
                (_elb_suffix(lb_arn, "loadbalancer"), _elb_suffix(arn, "targetgroup"))
            )
    resource_id = f"service/{service.cluster}/{service.name}"
    policies: list[ScalingPolicy] = []
    activities: list[ScalingActivity] = []
    scalable: dict[str, int] | None = None
    base = {"ServiceNamespace": "ecs", "ResourceId": resource_id}
    with contextlib.suppress(AwsError):
        targets_page = scaling.describe_scalable_targets(
            backend, scope, {"ServiceNamespace": "ecs", "ResourceIds": [resource_id]}
        )
        if targets_page.items:
            t = targets_page.items[0]
            scalable = {"min": t.min_capacity, "max": t.max_capacity}
        policies = scaling.describe_scaling_policies(backend, scope, base).items
        activities = scaling.describe_scaling_activities(
            backend, scope, {**base, "MaxResults": 20}
        ).items
    return ServiceDetail(
        view,
        _tasks(backend, scope, cluster, service=service.name),
        health,
        policies,
        activities,
        scalable,
        _service_charts(backend, scope, service.cluster, service.name, request_series),
    )


def _service_charts(
    backend: Backend,
    scope: Scope,
    cluster: str,
    service: str,
    request_series: list[tuple[str, str]],
) -> dict[str, list[tuple[float, float]]]:
    end = backend.clock.now()
    start = end - CHART_WINDOW
    common: dict[str, Any] = {
        "account_id": scope.account_id,
        "region": scope.region,
        "start": start,
        "end": end,
        "period": CHART_PERIOD,
    }
    dims = dimensions(ClusterName=cluster, ServiceName=service)
    charts = {
        "cpu": metrics.query_metric(
            backend,
            namespace=ECS_NAMESPACE,
            metric="CPUUtilization",
            dims=dims,
            statistic="Average",
            **common,
        ),
        "memory": metrics.query_metric(
            backend,
            namespace=ECS_NAMESPACE,
            metric="MemoryUtilization",
            dims=dims,
            statistic="Average",
            **common,
        ),
    }
    requests: dict[float, float] = {}
    for lb, tg in request_series:
        for at, value in metrics.query_metric(
            backend,
            namespace=ALB_NAMESPACE,
            metric="RequestCount",
            dims=dimensions(LoadBalancer=lb, TargetGroup=tg),
            statistic="Sum",
            **common,
        ):
            requests[at] = requests.get(at, 0.0) + value
    charts["requests"] = sorted(requests.items())
    return charts


def previous_task_definition(
    backend: Backend, scope: Scope, view: ServiceDescription
) -> str | None:
    """What a rollback goes back to: the task definition of the latest earlier
    deployment that ran another one; else the family's previous ACTIVE revision."""
    service = view.service
    current = service.primary.task_definition
    earlier: list[Deployment] = sorted(
        (
            d
            for d in service.deployments
            if d.status != DeploymentStatus.PRIMARY and d.task_definition != current
        ),
        key=lambda d: d.created_at,
        reverse=True,
    )
    if earlier:
        return earlier[0].task_definition
    family, _, revision = current.rsplit("/", 1)[-1].partition(":")
    arns = _all(
        lambda t: task_definitions.list_task_definitions(
            backend, scope, family_prefix=family, next_token=t, max_results=100
        )
    )
    older = [a for a in arns if revision.isdigit() and int(a.rsplit(":", 1)[-1]) < int(revision)]
    return older[-1] if older else None


# -- tasks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogLine:
    container: str
    timestamp: int
    message: str


@dataclass(slots=True)
class TaskDetail:
    task: Task
    definition: TaskDefinition | None
    # container name → (log group, stream) of containers that log with awslogs
    log_streams: dict[str, tuple[str, str]]
    logs: list[LogLine]


def _log_stream(container: dict[str, Any], task: Task) -> tuple[str, str] | None:
    config = container.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None
    options = config.get("options") or {}
    group = options.get("awslogs-group")
    if not group:
        return None
    prefix = options.get("awslogs-stream-prefix")
    if prefix:
        return str(group), f"{prefix}/{container.get('name')}/{task.task_id}"
    run = next((c for c in task.containers if c.name == container.get("name")), None)
    if run is None or not run.runtime_id:
        return None
    return str(group), run.runtime_id


def task_detail(backend: Backend, scope: Scope, cluster: str, task_id: str) -> TaskDetail:
    found, _ = tasks.describe_tasks(backend, scope, cluster, [task_id], False)
    if not found:
        raise LookupError(f"Task {task_id} not found in cluster {cluster}.")
    task = found[0].task
    definition: TaskDefinition | None = None
    with contextlib.suppress(AwsError):
        definition = task_definitions.describe_task_definition(
            backend, scope, task.task_definition_arn, None
        ).definition
    streams: dict[str, tuple[str, str]] = {}
    for container in definition.container_definitions if definition else []:
        where = _log_stream(container, task)
        if where is not None:
            streams[str(container.get("name"))] = where
    lines: list[LogLine] = []
    for name, (group, stream) in streams.items():
        with contextlib.suppress(AwsError):
            page = logs_events.get_log_events(
                backend,
                scope,
                group_name=group,
                group_identifier=None,
                stream_name=stream,
                limit=LOG_LINES,
            )
            lines.extend(LogLine(name, e.timestamp, e.message) for e in page.events)
    lines.sort(key=lambda line: line.timestamp)
    return TaskDetail(task, definition, streams, lines[-LOG_LINES:])


# -- task definitions -----------------------------------------------------------------


def task_definition_families(backend: Backend, scope: Scope) -> list[str]:
    return _all(
        lambda t: task_definitions.list_task_definition_families(
            backend, scope, status="ACTIVE", next_token=t, max_results=100
        )
    )


def task_definition_revisions(backend: Backend, scope: Scope, family: str) -> list[str]:
    """ARNs of the family's ACTIVE revisions, newest first."""
    return _all(
        lambda t: task_definitions.list_task_definitions(
            backend, scope, family_prefix=family, sort="DESC", next_token=t, max_results=100
        )
    )


# -- load balancers -------------------------------------------------------------------


def load_balancers(backend: Backend, scope: Scope) -> list[LoadBalancer]:
    out: list[LoadBalancer] = []
    marker: str | None = None
    while True:
        found, marker = load_balancing.describe_load_balancers(
            backend, scope, marker=marker, page_size=400
        )
        out.extend(found)
        if not marker:
            return out


@dataclass(slots=True)
class LoadBalancerDetail:
    load_balancer: LoadBalancer
    listeners: list[tuple[Listener, list[Rule]]]
    target_groups: list[tuple[TargetGroupView, list[TargetHealthView]]]


def load_balancer_detail(backend: Backend, scope: Scope, name: str) -> LoadBalancerDetail:
    try:
        found, _ = load_balancing.describe_load_balancers(backend, scope, names=[name])
    except AwsError as exc:
        raise LookupError(f"Load balancer {name} not found.") from exc
    lb = found[0]
    shown: list[tuple[Listener, list[Rule]]] = []
    found_listeners, _ = listeners.describe_listeners(
        backend, scope, load_balancer_arn=lb.arn, page_size=400
    )
    for listener in sorted(found_listeners, key=lambda item: item.port):
        rules, _ = listeners.describe_rules(
            backend, scope, listener_arn=listener.arn, page_size=400
        )
        shown.append((listener, rules))
    groups, _ = target_groups.describe_target_groups(
        backend, scope, load_balancer_arn=lb.arn, page_size=400
    )
    with_health = [
        (g, target_groups.describe_target_health(backend, scope, g.target_group.arn))
        for g in groups
    ]
    return LoadBalancerDetail(lb, shown, with_health)
