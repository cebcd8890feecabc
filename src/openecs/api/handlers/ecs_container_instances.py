"""ECS container instance operations."""

from __future__ import annotations

import json
from typing import Any

from openecs.api.context import RequestContext
from openecs.domain.errors import InvalidParameterException
from openecs.domain.resources import Capacity
from openecs.domain.tags import tags_to_api
from openecs.usecases import container_instances
from openecs.usecases.container_instances import InstanceDescription, Registration

__all__ = ["OPERATIONS", "present_instance"]


def present_instance(view: InstanceDescription, with_tags: bool = True) -> dict[str, Any]:
    inst = view.instance
    return {
        "containerInstanceArn": inst.arn,
        "ec2InstanceId": inst.ec2_instance_id,
        "version": inst.version,
        "versionInfo": inst.version_info,
        "remainingResources": view.remaining.to_api(),
        "registeredResources": inst.capacity.to_api(),
        "status": inst.status,
        "statusReason": inst.status_reason,
        "agentConnected": inst.agent_connected,
        "runningTasksCount": view.running,
        "pendingTasksCount": view.pending,
        "attributes": inst.attributes,
        "registeredAt": inst.registered_at,
        "attachments": [],
        "tags": tags_to_api(view.tags) if with_tags else [],
    }


def register_container_instance(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    identity: dict[str, Any] = {}
    if p.get("instanceIdentityDocument"):
        try:
            identity = json.loads(p["instanceIdentityDocument"])
        except ValueError:
            raise InvalidParameterException("instanceIdentityDocument is not valid JSON.") from None
    if not isinstance(identity, dict) or not identity.get("instanceId"):
        raise InvalidParameterException(
            "instanceIdentityDocument must be a JSON document with an instanceId."
        )
    reg = Registration(
        ec2_instance_id=str(identity["instanceId"]),
        capacity=Capacity.from_api(p.get("totalResources") or []),
        availability_zone=identity.get("availabilityZone"),
        instance_type=identity.get("instanceType"),
        host_address=str(identity.get("privateIp") or "127.0.0.1"),
        attributes=p.get("attributes") or [],
        version_info=p.get("versionInfo") or {},
        tags=p.get("tags") or [],
    )
    view = container_instances.register_container_instance(
        ctx.backend, ctx.scope, p.get("cluster"), reg, existing_ref=p.get("containerInstanceArn")
    )
    return {"containerInstance": present_instance(view)}


def describe_container_instances(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    with_tags = "TAGS" in (p.get("include") or ())
    found, failures = container_instances.describe_container_instances(
        ctx.backend, ctx.scope, p.get("cluster"), p["containerInstances"], with_tags
    )
    return {
        "containerInstances": [present_instance(v, with_tags) for v in found],
        "failures": failures,
    }


def list_container_instances(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    arns, token = container_instances.list_container_instances(
        ctx.backend,
        ctx.scope,
        p.get("cluster"),
        status=p.get("status"),
        next_token=p.get("nextToken"),
        max_results=p.get("maxResults"),
        filter_expression=p.get("filter"),
    )
    return {"containerInstanceArns": arns, "nextToken": token}


def deregister_container_instance(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = container_instances.deregister_container_instance(
        ctx.backend, ctx.scope, p.get("cluster"), p["containerInstance"], p.get("force", False)
    )
    return {"containerInstance": present_instance(view)}


def update_container_instances_state(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, failures = container_instances.update_container_instances_state(
        ctx.backend, ctx.scope, p.get("cluster"), p["containerInstances"], p["status"]
    )
    return {"containerInstances": [present_instance(v, False) for v in found], "failures": failures}


OPERATIONS = {
    "RegisterContainerInstance": register_container_instance,
    "DescribeContainerInstances": describe_container_instances,
    "ListContainerInstances": list_container_instances,
    "DeregisterContainerInstance": deregister_container_instance,
    "UpdateContainerInstancesState": update_container_instances_state,
}
