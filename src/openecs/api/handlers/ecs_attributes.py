"""ECS attribute operations (container instance attributes)."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.attributes import Attribute
from openecs.usecases import attributes

__all__ = ["OPERATIONS", "present_attribute"]


def present_attribute(attribute: Attribute) -> dict[str, Any]:
    """An attribute in the ECS `Attribute` shape."""
    return {
        "name": attribute.name,
        "value": attribute.value,
        "targetType": attribute.target_type,
        "targetId": attribute.target_id,
    }


def put_attributes(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    done = attributes.put_attributes(ctx.backend, ctx.scope, p.get("cluster"), p["attributes"])
    return {"attributes": done}


def delete_attributes(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    done = attributes.delete_attributes(ctx.backend, ctx.scope, p.get("cluster"), p["attributes"])
    return {"attributes": done}


def list_attributes(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, token = attributes.list_attributes(
        ctx.backend,
        ctx.scope,
        target_type=p["targetType"],
        cluster_ref=p.get("cluster"),
        attribute_name=p.get("attributeName"),
        attribute_value=p.get("attributeValue"),
        next_token=p.get("nextToken"),
        max_results=p.get("maxResults"),
    )
    return {"attributes": [present_attribute(a) for a in found], "nextToken": token}


OPERATIONS: Operations = {
    "PutAttributes": put_attributes,
    "DeleteAttributes": delete_attributes,
    "ListAttributes": list_attributes,
}
