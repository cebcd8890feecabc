"""ECS task operations: RunTask, StartTask, StopTask, DescribeTasks, ListTasks."""

from __future__ import annotations

from typing import Any

from openecs.api.context import RequestContext
from openecs.domain.tags import tags_to_api
from openecs.domain.task import ContainerRun, Task
from openecs.usecases import task_protection, tasks
from openecs.usecases.tasks import LaunchRequest, TaskDescription

__all__ = ["OPERATIONS", "launch_request_from", "present_task"]


def _container(task: Task, c: ContainerRun) -> dict[str, Any]:
    return {
        "containerArn": c.container_arn,
        "taskArn": task.arn,
        "name": c.name,
        "image": c.image,
        "imageDigest": c.image_digest,
        "runtimeId": c.runtime_id,
        "lastStatus": c.last_status,
        "exitCode": c.exit_code,
        "reason": c.reason,
        "networkBindings": c.network_bindings,
        "networkInterfaces": c.network_interfaces,
        "healthStatus": c.health_status,
        "cpu": c.cpu,
        "memory": c.memory,
        "memoryReservation": c.memory_reservation,
    }


def present_task(view: TaskDescription, with_tags: bool = True) -> dict[str, Any]:
    t = view.task
    return {
        "taskArn": t.arn,
        "clusterArn": t.cluster_arn,
        "taskDefinitionArn": t.task_definition_arn,
        "containerInstanceArn": t.container_instance_arn,
        "overrides": {"containerOverrides": [], "inferenceAcceleratorOverrides": [], **t.overrides},
        "lastStatus": t.last_status,
        "desiredStatus": t.desired_status,
        "cpu": t.cpu,
        "memory": t.memory,
        "containers": [_container(t, c) for c in t.containers],
        "startedBy": t.started_by,
        "version": t.version,
        "stopCode": t.stop_code,
        "stoppedReason": t.stopped_reason,
        "connectivity": "CONNECTED" if t.connectivity_at else None,
        "connectivityAt": t.connectivity_at,
        "pullStartedAt": t.pull_started_at,
        "pullStoppedAt": t.pull_stopped_at,
        "executionStoppedAt": t.execution_stopped_at,
        "createdAt": t.created_at,
        "startedAt": t.started_at,
        "stoppingAt": t.stopping_at,
        "stoppedAt": t.stopped_at,
        "group": t.group,
        "launchType": t.launch_type,
        "capacityProviderName": t.capacity_provider,
        "platformVersion": t.platform_version,
        "platformFamily": "Linux" if t.launch_type == "FARGATE" else None,
        "attachments": t.attachments,
        "healthStatus": t.health_status,
        "availabilityZone": t.availability_zone,
        "enableExecuteCommand": t.enable_execute_command,
        "tags": tags_to_api(view.tags) if with_tags else [],
        "attributes": [],
    }


def launch_request_from(p: dict[str, Any]) -> LaunchRequest:
    return LaunchRequest(
        task_definition=p["taskDefinition"],
        cluster=p.get("cluster"),
        count=p.get("count", 1),
        launch_type=p.get("launchType"),
        capacity_provider_strategy=p.get("capacityProviderStrategy"),
        overrides=p.get("overrides") or {},
        network_configuration=p.get("networkConfiguration"),
        group=p.get("group"),
        started_by=p.get("startedBy"),
        tags=p.get("tags") or [],
        propagate_tags=p.get("propagateTags"),
        enable_ecs_managed_tags=p.get("enableECSManagedTags", False),
        enable_execute_command=p.get("enableExecuteCommand", False),
        client_token=p.get("clientToken"),
        placement_constraints=p.get("placementConstraints") or [],
        placement_strategy=p.get("placementStrategy") or [],
        platform_version=p.get("platformVersion"),
        container_instances=p.get("containerInstances"),
    )


def run_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    started, failures = tasks.run_task(ctx.backend, ctx.scope, launch_request_from(p))
    return {"tasks": [present_task(v) for v in started], "failures": failures}


def start_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    started, failures = tasks.start_task(ctx.backend, ctx.scope, launch_request_from(p))
    return {"tasks": [present_task(v) for v in started], "failures": failures}


def stop_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = tasks.stop_task(ctx.backend, ctx.scope, p.get("cluster"), p["task"], p.get("reason"))
    return {"task": present_task(view)}


def describe_tasks(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    with_tags = "TAGS" in (p.get("include") or ())
    found, failures = tasks.describe_tasks(
        ctx.backend, ctx.scope, p.get("cluster"), p["tasks"], with_tags
    )
    return {"tasks": [present_task(v, with_tags) for v in found], "failures": failures}


def list_tasks(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    arns, token = tasks.list_tasks(
        ctx.backend,
        ctx.scope,
        cluster_ref=p.get("cluster"),
        container_instance=p.get("containerInstance"),
        family=p.get("family"),
        started_by=p.get("startedBy"),
        service_name=p.get("serviceName"),
        desired_status=p.get("desiredStatus"),
        launch_type=p.get("launchType"),
        next_token=p.get("nextToken"),
        max_results=p.get("maxResults"),
    )
    return {"taskArns": arns, "nextToken": token}


def update_task_protection(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, failures = task_protection.update_task_protection(
        ctx.backend,
        ctx.scope,
        p.get("cluster"),
        p["tasks"],
        bool(p["protectionEnabled"]),
        p.get("expiresInMinutes"),
    )
    return {"protectedTasks": found, "failures": failures}


def get_task_protection(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, failures = task_protection.get_task_protection(
        ctx.backend, ctx.scope, p.get("cluster"), p.get("tasks")
    )
    return {"protectedTasks": found, "failures": failures}


OPERATIONS = {
    "UpdateTaskProtection": update_task_protection,
    "GetTaskProtection": get_task_protection,
    "RunTask": run_task,
    "StartTask": start_task,
    "StopTask": stop_task,
    "DescribeTasks": describe_tasks,
    "ListTasks": list_tasks,
}
