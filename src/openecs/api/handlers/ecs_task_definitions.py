"""ECS task definition operations."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.tags import tags_to_api
from openecs.usecases import task_definitions

__all__ = ["OPERATIONS"]


def register_task_definition(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = task_definitions.register_task_definition(ctx.backend, ctx.scope, p)
    return {"taskDefinition": view.definition.to_api(), "tags": tags_to_api(view.tags or {})}


def describe_task_definition(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = task_definitions.describe_task_definition(
        ctx.backend, ctx.scope, p["taskDefinition"], p.get("include")
    )
    return {"taskDefinition": view.definition.to_api(), "tags": tags_to_api(view.tags or {})}


def list_task_definitions(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    arns, token = task_definitions.list_task_definitions(
        ctx.backend,
        ctx.scope,
        family_prefix=p.get("familyPrefix"),
        status=p.get("status"),
        sort=p.get("sort"),
        next_token=p.get("nextToken"),
        max_results=p.get("maxResults"),
    )
    return {"taskDefinitionArns": arns, "nextToken": token}


def list_task_definition_families(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    families, token = task_definitions.list_task_definition_families(
        ctx.backend,
        ctx.scope,
        family_prefix=p.get("familyPrefix"),
        status=p.get("status"),
        next_token=p.get("nextToken"),
        max_results=p.get("maxResults"),
    )
    return {"families": families, "nextToken": token}


def deregister_task_definition(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    definition = task_definitions.deregister_task_definition(
        ctx.backend, ctx.scope, p["taskDefinition"]
    )
    return {"taskDefinition": definition.to_api()}


def delete_task_definitions(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    deleted, failures = task_definitions.delete_task_definitions(
        ctx.backend, ctx.scope, p["taskDefinitions"]
    )
    return {"taskDefinitions": [d.to_api() for d in deleted], "failures": failures}


OPERATIONS: Operations = {
    "RegisterTaskDefinition": register_task_definition,
    "DescribeTaskDefinition": describe_task_definition,
    "ListTaskDefinitions": list_task_definitions,
    "ListTaskDefinitionFamilies": list_task_definition_families,
    "DeregisterTaskDefinition": deregister_task_definition,
    "DeleteTaskDefinitions": delete_task_definitions,
}
