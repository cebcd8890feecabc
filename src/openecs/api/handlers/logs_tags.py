"""CloudWatch Logs tags: by log group name (the old operations) and by ARN."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.usecases import logs

__all__ = ["OPERATIONS"]


def tag_log_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.tag_log_group(ctx.backend, ctx.scope, name=p["logGroupName"], tags=p["tags"])
    return {}


def untag_log_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.untag_log_group(ctx.backend, ctx.scope, name=p["logGroupName"], keys=p["tags"])
    return {}


def list_tags_log_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"tags": logs.list_tags(ctx.backend, ctx.scope, name=p["logGroupName"])}


def tag_resource(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.tag_log_group(ctx.backend, ctx.scope, resource_arn=p["resourceArn"], tags=p["tags"])
    return {}


def untag_resource(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.untag_log_group(ctx.backend, ctx.scope, resource_arn=p["resourceArn"], keys=p["tagKeys"])
    return {}


def list_tags_for_resource(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"tags": logs.list_tags(ctx.backend, ctx.scope, resource_arn=p["resourceArn"])}


OPERATIONS: Operations = {
    "TagLogGroup": tag_log_group,
    "UntagLogGroup": untag_log_group,
    "ListTagsLogGroup": list_tags_log_group,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
