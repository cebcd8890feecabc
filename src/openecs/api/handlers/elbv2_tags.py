"""Elastic Load Balancing v2: tag operations for load balancers, target groups,
listeners and rules."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.usecases import load_balancing_tags

__all__ = ["OPERATIONS"]


def add_tags(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    load_balancing_tags.add_tags(ctx.backend, ctx.scope, p["ResourceArns"], p["Tags"])
    return {}


def remove_tags(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    load_balancing_tags.remove_tags(ctx.backend, ctx.scope, p["ResourceArns"], p["TagKeys"])
    return {}


def describe_tags(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found = load_balancing_tags.describe_tags(ctx.backend, ctx.scope, p["ResourceArns"])
    return {
        "TagDescriptions": [
            {"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            for arn, tags in found
        ]
    }


OPERATIONS: Operations = {
    "AddTags": add_tags,
    "RemoveTags": remove_tags,
    "DescribeTags": describe_tags,
}
