"""`GET /metrics`: the server in Prometheus text exposition format 0.0.4.

    openecs_api_requests_total{operation,status}            counter
    openecs_tasks{account_id,region,cluster,last_status}    gauge
    openecs_service_desired_tasks / _running_tasks          gauge, per service
    openecs_container_instances{...,agent_connected}        gauge
    openecs_service_cpu_utilization_percent                 gauge, newest 10 s period
    openecs_service_memory_utilization_percent              gauge, newest 10 s period
    openecs_target_group_requests_per_second                gauge, newest 10 s period
    openecs_target_group_target_5xx_per_second              gauge, newest 10 s period
    openecs_target_group_target_response_time_seconds       gauge, newest 10 s period

Counts cover every account and region, so the endpoint carries no SigV4: like
`/healthz` it is for whoever reaches the server's port (127.0.0.1 by default).
Datapoints older than a minute are left out rather than shown stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openecs.api.app import RequestCounts
from openecs.domain.metrics import ALB_NAMESPACE, ECS_NAMESPACE, RESOLUTION_SECONDS
from openecs.usecases.backend import Backend
from openecs.usecases.metrics_overview import Overview, read_overview

__all__ = ["CONTENT_TYPE", "prometheus_routes", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Family:
    name: str
    kind: str
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((tuple(labels.items()), value))

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in sorted(self.samples):
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            yield (
                f"{self.name}{{{text}}} {_number(value)}"
                if text
                else f"{self.name} {_number(value)}"
            )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(requests: Mapping[tuple[str, int], int], overview: Overview) -> str:
    """The exposition text of request counts and an overview."""
    api = _Family("openecs_api_requests_total", "counter", "AWS API requests answered.")
    for (operation, status), count in requests.items():
        api.add(count, operation=operation, status=str(status))
    tasks = _Family("openecs_tasks", "gauge", "Tasks by last status.")
    for (account, region, cluster, last), count in overview.tasks.items():
        tasks.add(count, account_id=account, region=region, cluster=cluster, last_status=last)
    desired = _Family("openecs_service_desired_tasks", "gauge", "A service's desired count.")
    running = _Family("openecs_service_running_tasks", "gauge", "A service's RUNNING tasks.")
    for (account, region, cluster, name), (want, have) in overview.services.items():
        where = {"account_id": account, "region": region, "cluster": cluster, "service": name}
        desired.add(want, **where)
        running.add(have, **where)
    instances = _Family(
        "openecs_container_instances", "gauge", "ACTIVE and DRAINING container instances."
    )
    for (account, region, cluster, connected), count in overview.instances.items():
        instances.add(
            count,
            account_id=account,
            region=region,
            cluster=cluster,
            agent_connected="true" if connected else "false",
        )
    families = [api, tasks, desired, running, instances, *_datapoint_families(overview)]
    return "\n".join(line for family in families for line in family.lines()) + "\n"


def _datapoint_families(overview: Overview) -> list[_Family]:
    ecs = {
        "CPUUtilization": _Family(
            "openecs_service_cpu_utilization_percent",
            "gauge",
            "CPU units the service's tasks use, in percent of what they reserve.",
        ),
        "MemoryUtilization": _Family(
            "openecs_service_memory_utilization_percent",
            "gauge",
            "Memory the service's tasks use, in percent of what they reserve.",
        ),
    }
    alb = {
        "RequestCount": _Family(
            "openecs_target_group_requests_per_second", "gauge", "Requests to the target group."
        ),
        "HTTPCode_Target_5XX_Count": _Family(
            "openecs_target_group_target_5xx_per_second",
            "gauge",
            "5XX responses of the target group's targets.",
        ),
        "TargetResponseTime": _Family(
            "openecs_target_group_target_response_time_seconds",
            "gauge",
            "Average time targets took to answer.",
        ),
    }
    for point in overview.latest:
        dims = dict(point.period.dimensions)
        where = {"account_id": point.account_id, "region": point.region}
        if point.namespace == ECS_NAMESPACE and point.metric in ecs and "TaskId" not in dims:
            if "ServiceName" in dims:
                ecs[point.metric].add(
                    point.period.average,
                    **where,
                    cluster=dims.get("ClusterName", ""),
                    service=dims["ServiceName"],
                )
        elif point.namespace == ALB_NAMESPACE and point.metric in alb and "TargetGroup" in dims:
            value = (
                point.period.average
                if point.metric == "TargetResponseTime"
                else point.period.sum / RESOLUTION_SECONDS
            )
            alb[point.metric].add(
                value,
                **where,
                load_balancer=dims.get("LoadBalancer", ""),
                target_group=dims["TargetGroup"],
            )
    return [*ecs.values(), *alb.values()]


def prometheus_routes(backend: Backend, requests: RequestCounts) -> list[Route]:
    async def metrics(request: Request) -> Response:
        overview = await run_in_threadpool(read_overview, backend)
        return Response(render(requests.snapshot(), overview), media_type=CONTENT_TYPE)

    return [Route("/metrics", metrics, methods=["GET"])]
