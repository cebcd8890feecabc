"""ECS tag operations, for any taggable resource ARN."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.tags import tags_to_api
from openecs.usecases import tags

__all__ = ["OPERATIONS"]


def tag_resource(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    tags.tag_resource(ctx.backend, ctx.scope, p["resourceArn"], p["tags"])
    return {}


def untag_resource(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    tags.untag_resource(ctx.backend, ctx.scope, p["resourceArn"], p["tagKeys"])
    return {}


def list_tags_for_resource(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found = tags.list_tags_for_resource(ctx.backend, ctx.scope, p["resourceArn"])
    return {"tags": tags_to_api(found)}


OPERATIONS: Operations = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
