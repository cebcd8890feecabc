"""ECS service operations, including service deployments and revisions."""

from __future__ import annotations

from typing import Any

from openecs.api.context import RequestContext
from openecs.domain.service import Deployment, Service
from openecs.domain.tags import tags_to_api
from openecs.usecases import service_history, services
from openecs.usecases.services import ServiceDescription

__all__ = ["OPERATIONS", "present_service"]


def _deployment(service: Service, d: Deployment, counts: tuple[int, int]) -> dict[str, Any]:
    running, pending = counts
    primary = d.status == "PRIMARY"
    return {
        "id": d.id,
        "status": d.status,
        "taskDefinition": d.task_definition,
        "desiredCount": service.desired_count if primary else 0,
        "pendingCount": pending,
        "runningCount": running,
        "failedTasks": d.failed_tasks,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
        "capacityProviderStrategy": d.capacity_provider_strategy or None,
        "launchType": d.launch_type,
        "platformVersion": d.platform_version,
        "networkConfiguration": d.network_configuration,
        "rolloutState": d.rollout_state,
        "rolloutStateReason": d.rollout_state_reason,
    }


def present_service(view: ServiceDescription, with_tags: bool = False) -> dict[str, Any]:
    s = view.service
    live = s.live_deployments
    counts = [view.counts.get(d.id, (0, 0)) for d in live]
    primary = s.primary
    return {
        "serviceArn": s.arn,
        "serviceName": s.name,
        "clusterArn": s.cluster_arn,
        "loadBalancers": s.load_balancers,
        "serviceRegistries": [],
        "status": s.status,
        "desiredCount": s.desired_count,
        "runningCount": sum(c[0] for c in counts),
        "pendingCount": sum(c[1] for c in counts),
        "launchType": s.launch_type,
        "capacityProviderStrategy": s.capacity_provider_strategy or None,
        "platformVersion": s.platform_version,
        "taskDefinition": primary.task_definition,
        "deploymentConfiguration": s.deployment_configuration,
        "deployments": [_deployment(s, d, view.counts.get(d.id, (0, 0))) for d in live],
        "roleArn": s.role_arn,
        "events": [{"id": e.id, "createdAt": e.created_at, "message": e.message} for e in s.events],
        "createdAt": s.created_at,
        "currentServiceDeployment": service_history.deployment_arn(s, primary),
        "currentServiceRevisions": [
            {
                "arn": service_history.revision_arn(s, d.revision_id),
                "requestedTaskCount": s.desired_count if d.status == "PRIMARY" else 0,
                "runningTaskCount": view.counts.get(d.id, (0, 0))[0],
                "pendingTaskCount": view.counts.get(d.id, (0, 0))[1],
            }
            for d in live
        ],
        "placementConstraints": s.placement_constraints,
        "placementStrategy": s.placement_strategy,
        "networkConfiguration": s.network_configuration,
        # ECS shows 0 when none was given, load balancers or not.
        "healthCheckGracePeriodSeconds": s.health_check_grace_period,
        "schedulingStrategy": s.scheduling_strategy,
        "deploymentController": {"type": "ECS"},
        "tags": tags_to_api(view.tags) if with_tags else None,
        "createdBy": s.created_by,
        "enableECSManagedTags": s.enable_ecs_managed_tags,
        "propagateTags": s.propagate_tags,
        "enableExecuteCommand": s.enable_execute_command,
    }


def create_service(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = services.create_service(ctx.backend, ctx.scope, p)
    return {"service": present_service(view, with_tags=True)}


def update_service(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"service": present_service(services.update_service(ctx.backend, ctx.scope, p))}


def delete_service(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = services.delete_service(
        ctx.backend, ctx.scope, p.get("cluster"), p["service"], bool(p.get("force", False))
    )
    return {"service": present_service(view)}


def describe_services(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    with_tags = "TAGS" in (p.get("include") or ())
    found, failures = services.describe_services(
        ctx.backend, ctx.scope, p.get("cluster"), p["services"], with_tags
    )
    return {"services": [present_service(v, with_tags) for v in found], "failures": failures}


def list_services(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    arns, token = services.list_services(
        ctx.backend,
        ctx.scope,
        p.get("cluster"),
        launch_type=p.get("launchType"),
        scheduling_strategy=p.get("schedulingStrategy"),
        next_token=p.get("nextToken"),
        max_results=p.get("maxResults"),
    )
    return {"serviceArns": arns, "nextToken": token}


def list_service_deployments(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    briefs, token = service_history.list_service_deployments(
        ctx.backend,
        ctx.scope,
        p.get("cluster"),
        p["service"],
        statuses=p.get("status"),
        created_after=(p.get("createdAt") or {}).get("after"),
        created_before=(p.get("createdAt") or {}).get("before"),
        next_token=p.get("nextToken"),
        max_results=p.get("maxResults"),
    )
    return {"serviceDeployments": briefs, "nextToken": token}


def describe_service_deployments(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, failures = service_history.describe_service_deployments(
        ctx.backend, ctx.scope, p["serviceDeploymentArns"]
    )
    return {"serviceDeployments": found, "failures": failures}


def describe_service_revisions(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, failures = service_history.describe_service_revisions(
        ctx.backend, ctx.scope, p["serviceRevisionArns"]
    )
    return {"serviceRevisions": found, "failures": failures}


OPERATIONS = {
    "CreateService": create_service,
    "UpdateService": update_service,
    "DeleteService": delete_service,
    "DescribeServices": describe_services,
    "ListServices": list_services,
    "ListServiceDeployments": list_service_deployments,
    "DescribeServiceDeployments": describe_service_deployments,
    "DescribeServiceRevisions": describe_service_revisions,
}
