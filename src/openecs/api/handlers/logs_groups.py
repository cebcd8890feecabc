"""CloudWatch Logs log group operations."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.log_group import LogGroup
from openecs.usecases import logs

__all__ = ["OPERATIONS", "present_log_group"]


def present_log_group(group: LogGroup, *, names_only: bool = False) -> dict[str, Any]:
    """A group in the `LogGroup` shape; DescribeLogGroups with a name pattern shows only
    its name, ARN and creation time, as AWS does."""
    out: dict[str, Any] = {
        "logGroupName": group.name,
        "creationTime": group.created_at,
        "arn": group.arn_with_wildcard,
    }
    if names_only:
        return out
    out.update(
        retentionInDays=group.effective_retention_days,
        metricFilterCount=0,
        storedBytes=group.stored_bytes,
        kmsKeyId=group.kms_key_id,
        logGroupClass=group.log_group_class,
        logGroupArn=group.arn,
        deletionProtectionEnabled=group.deletion_protection,
    )
    return out


def create_log_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.create_log_group(
        ctx.backend,
        ctx.scope,
        p["logGroupName"],
        tags=p.get("tags"),
        kms_key_id=p.get("kmsKeyId"),
        log_group_class=p.get("logGroupClass"),
        deletion_protection=bool(p.get("deletionProtectionEnabled", False)),
    )
    return {}


def delete_log_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.delete_log_group(ctx.backend, ctx.scope, p["logGroupName"])
    return {}


def describe_log_groups(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = logs.describe_log_groups(
        ctx.backend,
        ctx.scope,
        prefix=p.get("logGroupNamePrefix"),
        pattern=p.get("logGroupNamePattern"),
        identifiers=p.get("logGroupIdentifiers"),
        log_group_class=p.get("logGroupClass"),
        next_token=p.get("nextToken"),
        limit=p.get("limit"),
    )
    return {
        "logGroups": [present_log_group(g, names_only=page.names_only) for g in page.groups],
        "nextToken": page.next_token,
    }


def put_retention_policy(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.put_retention_policy(ctx.backend, ctx.scope, p["logGroupName"], p["retentionInDays"])
    return {}


def delete_retention_policy(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.delete_retention_policy(ctx.backend, ctx.scope, p["logGroupName"])
    return {}


def put_log_group_deletion_protection(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.put_deletion_protection(
        ctx.backend,
        ctx.scope,
        None,
        p["logGroupIdentifier"],
        bool(p["deletionProtectionEnabled"]),
    )
    return {}


OPERATIONS: Operations = {
    "CreateLogGroup": create_log_group,
    "DeleteLogGroup": delete_log_group,
    "DescribeLogGroups": describe_log_groups,
    "PutRetentionPolicy": put_retention_policy,
    "DeleteRetentionPolicy": delete_retention_policy,
    "PutLogGroupDeletionProtection": put_log_group_deletion_protection,
}
