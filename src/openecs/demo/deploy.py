"""Deploy the shop through the public APIs (ecs, elbv2, application-autoscaling,
logs), creating what is missing and updating what changed (see `decisions`).

Order matters for one reason: awsvpc gives every task its own IP, and OpenECS has
no service discovery yet, so the backend learns the database's address from
DescribeTasks (its ENI's private IPv4 address), passed in the backend task
definition's environment. The database service is therefore deployed first; when
its task is replaced with another address, the next `openecs demo` registers a
backend revision with the new address and the backend rolls to it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
from botocore.exceptions import ClientError

from openecs.demo import shop_spec
from openecs.demo.decisions import (
    Action,
    listener_rule_action,
    plan_service,
    target_group_changes,
    task_definition_changed,
)
from openecs.demo.images import ShopImages
from openecs.demo.launcher import Connection
from openecs.demo.shop_spec import SUBNETS, ShopSettings

__all__ = ["DeployError", "Shop", "ShopClients", "deploy_shop", "find_database_host"]

Log = Callable[[str], None]


class DeployError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ShopClients:
    ecs: Any
    elbv2: Any
    autoscaling: Any
    logs: Any

    @classmethod
    def of(cls, connection: Connection) -> ShopClients:
        return cls(
            connection.client("ecs"),
            connection.client("elbv2"),
            connection.client("application-autoscaling"),
            connection.client("logs"),
        )


@dataclass(frozen=True, slots=True)
class Shop:
    """What the deployment produced, for printing and for the load generator."""

    url: str
    cluster: str
    load_balancer_arn: str
    frontend_target_group: str
    backend_target_group: str
    backend_service: str
    database_host: str


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _until(check: Callable[[], Any], what: str, timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DeployError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _ensure_cluster(c: ShopClients, settings: ShopSettings, log: Log) -> str:
    """The cluster's account id (from its ARN)."""
    found = c.ecs.describe_clusters(clusters=[settings.cluster])["clusters"]
    if found and found[0]["status"] == "ACTIVE":
        return str(found[0]["clusterArn"]).split(":")[4]
    created = c.ecs.create_cluster(
        clusterName=settings.cluster,
        settings=[{"name": "containerInsights", "value": "enabled"}],
        tags=[{"key": "app", "value": "openecs-demo"}],
    )
    log(f"cluster {settings.cluster}: created")
    return str(created["cluster"]["clusterArn"]).split(":")[4]


def _ensure_log_groups(c: ShopClients, settings: ShopSettings, log: Log) -> None:
    prefix = f"/ecs/{settings.name}/"
    existing = {
        g["logGroupName"]: g
        for page in c.logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)
        for g in page["logGroups"]
    }
    for part in ("frontend", "backend", "database"):
        name = settings.log_group(part)
        if name not in existing:
            c.logs.create_log_group(logGroupName=name)
            log(f"log group {name}: created")
        if existing.get(name, {}).get("retentionInDays") != settings.log_retention_days:
            c.logs.put_retention_policy(
                logGroupName=name, retentionInDays=settings.log_retention_days
            )


def _ensure_task_definition(c: ShopClients, desired: dict[str, Any], log: Log) -> str:
    family = desired["family"]
    try:
        current = c.ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    except ClientError as error:
        if _error_code(error) not in ("ClientException", "InvalidParameterException"):
            raise
        current = None
    if not task_definition_changed(current, desired):
        assert current is not None
        return str(current["taskDefinitionArn"])
    registered = c.ecs.register_task_definition(**desired)["taskDefinition"]
    arn = str(registered["taskDefinitionArn"])
    log(f"task definition {family}: registered revision {registered['revision']}")
    return arn


def _describe_service(c: ShopClients, cluster: str, name: str) -> dict[str, Any] | None:
    found = c.ecs.describe_services(cluster=cluster, services=[name])["services"]
    active = [s for s in found if s["status"] != "INACTIVE"]
    return active[0] if active else None


def _ensure_service(
    c: ShopClients,
    settings: ShopSettings,
    name: str,
    task_definition: str,
    *,
    count: int,
    count_on_update: bool,
    load_balancers: list[dict[str, Any]] | None = None,
    deployment: dict[str, Any] | None = None,
    log: Log,
) -> None:
    current = _describe_service(c, settings.cluster, name)
    if current is not None and current["status"] == "DRAINING":
        _until(
            lambda: _describe_service(c, settings.cluster, name) is None,
            f"service {name} to finish draining",
            120,
        )
        current = None
    plan = plan_service(current, task_definition, count if count_on_update else None)
    if plan.action is Action.CREATE:
        extra: dict[str, Any] = {}
        if load_balancers:
            extra["loadBalancers"] = load_balancers
            extra["healthCheckGracePeriodSeconds"] = 30
        c.ecs.create_service(
            cluster=settings.cluster,
            serviceName=name,
            taskDefinition=task_definition,
            desiredCount=count,
            launchType="FARGATE",
            networkConfiguration=SUBNETS,
            deploymentConfiguration=deployment
            or {
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
            propagateTags="SERVICE",
            tags=[{"key": "app", "value": "openecs-demo"}],
            **extra,
        )
        log(f"service {name}: created ({count} tasks)")
    elif plan.action is Action.UPDATE:
        c.ecs.update_service(cluster=settings.cluster, service=name, **plan.changes)
        log(f"service {name}: updated ({plan.reason})")


def _service_steady(c: ShopClients, cluster: str, name: str) -> bool:
    service = _describe_service(c, cluster, name)
    if service is None:
        return False
    deployments = service["deployments"]
    return (
        len(deployments) == 1
        and deployments[0].get("rolloutState") == "COMPLETED"
        and service["runningCount"] >= service["desiredCount"]
    )


def _task_ip(task: dict[str, Any]) -> str | None:
    for container in task.get("containers") or ():
        for eni in container.get("networkInterfaces") or ():
            if eni.get("privateIpv4Address"):
                return str(eni["privateIpv4Address"])
    for attachment in task.get("attachments") or ():
        for detail in attachment.get("details") or ():
            if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                return str(detail["value"])
    return None


def find_database_host(c: ShopClients, settings: ShopSettings) -> str | None:
    """The private IP of the database service's RUNNING, HEALTHY task, if there is one."""
    arns = c.ecs.list_tasks(
        cluster=settings.cluster, serviceName=settings.service("database"), desiredStatus="RUNNING"
    )["taskArns"]
    if not arns:
        return None
    for task in c.ecs.describe_tasks(cluster=settings.cluster, tasks=arns)["tasks"]:
        if task["lastStatus"] == "RUNNING" and task.get("healthStatus") == "HEALTHY":
            ip = _task_ip(task)
            if ip:
                return ip
    return None


def _ensure_load_balancer(c: ShopClients, settings: ShopSettings, log: Log) -> str:
    try:
        found = c.elbv2.describe_load_balancers(Names=[settings.name])["LoadBalancers"]
        return str(found[0]["LoadBalancerArn"])
    except ClientError as error:
        if _error_code(error) != "LoadBalancerNotFound":
            raise
    created = c.elbv2.create_load_balancer(
        Name=settings.name,
        Subnets=["subnet-local"],
        Scheme="internet-facing",
        Type="application",
        Tags=[{"Key": "app", "Value": "openecs-demo"}],
    )["LoadBalancers"][0]
    log(f"load balancer {settings.name}: created")
    return str(created["LoadBalancerArn"])


def _ensure_target_group(
    c: ShopClients, settings: ShopSettings, part: str, health_path: str, log: Log
) -> str:
    desired = shop_spec.target_group(settings, part, health_path)
    try:
        current = c.elbv2.describe_target_groups(Names=[desired["Name"]])["TargetGroups"][0]
    except ClientError as error:
        if _error_code(error) != "TargetGroupNotFound":
            raise
        current = None
    if current is None:
        arn = str(c.elbv2.create_target_group(**desired)["TargetGroups"][0]["TargetGroupArn"])
        log(f"target group {desired['Name']}: created")
    else:
        arn = str(current["TargetGroupArn"])
        changes = target_group_changes(current, desired)
        if changes:
            c.elbv2.modify_target_group(TargetGroupArn=arn, **changes)
            log(f"target group {desired['Name']}: health check updated")
    # Short draining: a scaled-in backend task leaves the group within seconds.
    c.elbv2.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}],
    )
    return arn


def _ensure_listener(
    c: ShopClients, settings: ShopSettings, lb: str, frontend: str, backend: str, log: Log
) -> None:
    default = [{"Type": "forward", "TargetGroupArn": frontend}]
    listeners = c.elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]
    mine = next((x for x in listeners if x["Port"] == settings.shop_port), None)
    for other in listeners:
        if other is not mine:
            c.elbv2.delete_listener(ListenerArn=other["ListenerArn"])
            log(f"listener on port {other['Port']}: deleted (the shop moved)")
    if mine is None:
        mine = c.elbv2.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=settings.shop_port, DefaultActions=default
        )["Listeners"][0]
        log(f"listener on 127.0.0.1:{settings.shop_port}: created (default → frontend)")
    elif [a.get("TargetGroupArn") for a in mine["DefaultActions"]] != [frontend]:
        c.elbv2.modify_listener(ListenerArn=mine["ListenerArn"], DefaultActions=default)
    rules = c.elbv2.describe_rules(ListenerArn=mine["ListenerArn"])["Rules"]
    action, rule_arn = listener_rule_action(rules, "/api/*", backend)
    forward = [{"Type": "forward", "TargetGroupArn": backend}]
    if action is Action.CREATE:
        c.elbv2.create_rule(
            ListenerArn=mine["ListenerArn"],
            Priority=10,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
            Actions=forward,
        )
        log("listener rule /api/* → backend: created")
    elif action is Action.UPDATE:
        c.elbv2.modify_rule(RuleArn=rule_arn, Actions=forward)
        log("listener rule /api/* → backend: updated")


def _ensure_scaling(c: ShopClients, settings: ShopSettings, label: str, log: Log) -> None:
    resource = f"service/{settings.cluster}/{settings.service('backend')}"
    c.autoscaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=settings.backend_min,
        MaxCapacity=settings.backend_max,
    )
    c.autoscaling.put_scaling_policy(**shop_spec.scaling_policy(settings, label))
    log(
        f"auto scaling {resource}: {settings.backend_min}..{settings.backend_max} tasks, "
        f"target {settings.requests_per_target:g} requests per task per minute"
    )


def _shop_answers(url: str) -> bool:
    try:
        with httpx.Client(timeout=5) as http:
            page = http.get(url + "/")
            products = http.get(url + "/api/products")
        return page.status_code == 200 and products.status_code == 200
    except httpx.HTTPError:
        return False


def deploy_shop(
    c: ShopClients,
    settings: ShopSettings,
    images: ShopImages,
    *,
    log: Log = print,
    timeout: float = 300.0,
) -> Shop:
    """Create or update every resource of the shop; returns once the shop answers."""
    settings = replace(settings, account_id=_ensure_cluster(c, settings, log))
    _ensure_log_groups(c, settings, log)

    database_td = _ensure_task_definition(
        c, shop_spec.database_task_definition(settings, images), log
    )
    _ensure_service(
        c,
        settings,
        settings.service("database"),
        database_td,
        count=1,
        count_on_update=True,
        # One writer on the volume: the old task stops before its replacement starts.
        deployment={"maximumPercent": 100, "minimumHealthyPercent": 0},
        log=log,
    )
    log("waiting for the database task to be RUNNING and HEALTHY ...")
    _until(
        lambda: _service_steady(c, settings.cluster, settings.service("database")),
        "the database service",
        timeout,
    )
    database_host = _until(
        lambda: find_database_host(c, settings), "the database task's address", timeout
    )
    log(f"database at {database_host}:{shop_spec.DATABASE_PORT} (its task's private IP)")

    lb = _ensure_load_balancer(c, settings, log)
    frontend_tg = _ensure_target_group(c, settings, "frontend", "/", log)
    backend_tg = _ensure_target_group(c, settings, "backend", "/api/health", log)
    _ensure_listener(c, settings, lb, frontend_tg, backend_tg, log)

    backend_td = _ensure_task_definition(
        c, shop_spec.backend_task_definition(settings, images, database_host), log
    )
    _ensure_service(
        c,
        settings,
        settings.service("backend"),
        backend_td,
        count=settings.backend_min,
        count_on_update=False,
        load_balancers=[
            {"targetGroupArn": backend_tg, "containerName": "api", "containerPort": 8080}
        ],
        log=log,
    )
    frontend_td = _ensure_task_definition(
        c, shop_spec.frontend_task_definition(settings, images), log
    )
    _ensure_service(
        c,
        settings,
        settings.service("frontend"),
        frontend_td,
        count=settings.frontend_tasks,
        count_on_update=True,
        load_balancers=[
            {"targetGroupArn": frontend_tg, "containerName": "web", "containerPort": 8080}
        ],
        log=log,
    )
    _ensure_scaling(c, settings, shop_spec.resource_label(lb, backend_tg), log)

    # The load balancer's DNS name is the address its listeners bind (127.0.0.1).
    dns = c.elbv2.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"][0]["DNSName"]
    url = f"http://{dns}:{settings.shop_port}"
    log("waiting for the services to be steady and the shop to answer ...")
    for name in (settings.service("backend"), settings.service("frontend")):
        _until(
            functools.partial(_service_steady, c, settings.cluster, name),
            f"service {name}",
            timeout,
        )
    _until(lambda: _shop_answers(url), f"the shop at {url}", timeout)
    return Shop(
        url=url,
        cluster=settings.cluster,
        load_balancer_arn=lb,
        frontend_target_group=frontend_tg,
        backend_target_group=backend_tg,
        backend_service=settings.service("backend"),
        database_host=database_host,
    )
