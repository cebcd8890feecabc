"""Elastic Load Balancing v2: target group, attribute and target operations."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.usecases import target_groups
from openecs.usecases.target_groups import TargetGroupView, TargetHealthView

__all__ = ["OPERATIONS", "present_target_group"]

# API member → keyword of `apply_health_check`.
_HEALTH_CHECK_MEMBERS = {
    "HealthCheckProtocol": "protocol",
    "HealthCheckPort": "port",
    "HealthCheckEnabled": "enabled",
    "HealthCheckPath": "path",
    "HealthCheckIntervalSeconds": "interval_seconds",
    "HealthCheckTimeoutSeconds": "timeout_seconds",
    "HealthyThresholdCount": "healthy_threshold",
    "UnhealthyThresholdCount": "unhealthy_threshold",
    "Matcher": "matcher",
}


def _health_check(p: dict[str, Any]) -> dict[str, Any]:
    return {kw: p[member] for member, kw in _HEALTH_CHECK_MEMBERS.items() if member in p}


def present_target_group(view: TargetGroupView) -> dict[str, Any]:
    tg, checks = view.target_group, view.target_group.health_check
    return {
        "TargetGroupArn": tg.arn,
        "TargetGroupName": tg.name,
        "Protocol": tg.protocol,
        "Port": tg.port,
        "VpcId": tg.vpc_id,
        "HealthCheckProtocol": checks.protocol,
        "HealthCheckPort": checks.port,
        "HealthCheckEnabled": checks.enabled,
        "HealthCheckIntervalSeconds": checks.interval_seconds,
        "HealthCheckTimeoutSeconds": checks.timeout_seconds,
        "HealthyThresholdCount": checks.healthy_threshold,
        "UnhealthyThresholdCount": checks.unhealthy_threshold,
        "HealthCheckPath": checks.path,
        "Matcher": {"HttpCode": checks.matcher},
        "LoadBalancerArns": view.load_balancer_arns,
        "TargetType": tg.target_type,
        "ProtocolVersion": tg.protocol_version,
        "IpAddressType": "ipv4",
    }


def _present_health(view: TargetHealthView) -> dict[str, Any]:
    health: dict[str, Any] = {"State": view.state}
    if view.reason is not None:
        health["Reason"] = view.reason
    if view.description is not None:
        health["Description"] = view.description
    return {
        "Target": {
            "Id": view.target_id,
            "Port": view.port,
            "AvailabilityZone": view.availability_zone,
        },
        "HealthCheckPort": view.health_check_port,
        "TargetHealth": health,
    }


def create_target_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = target_groups.create_target_group(
        ctx.backend,
        ctx.scope,
        name=p["Name"],
        protocol=p.get("Protocol"),
        port=p.get("Port"),
        protocol_version=p.get("ProtocolVersion"),
        vpc_id=p.get("VpcId"),
        target_type=p.get("TargetType"),
        ip_address_type=p.get("IpAddressType"),
        health_check=_health_check(p),
        tags=p.get("Tags"),
    )
    return {"TargetGroups": [present_target_group(view)]}


def modify_target_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = target_groups.modify_target_group(
        ctx.backend, ctx.scope, p["TargetGroupArn"], _health_check(p)
    )
    return {"TargetGroups": [present_target_group(view)]}


def describe_target_groups(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    views, marker = target_groups.describe_target_groups(
        ctx.backend,
        ctx.scope,
        load_balancer_arn=p.get("LoadBalancerArn"),
        arns=p.get("TargetGroupArns"),
        names=p.get("Names"),
        marker=p.get("Marker"),
        page_size=p.get("PageSize"),
    )
    return {"TargetGroups": [present_target_group(v) for v in views], "NextMarker": marker}


def delete_target_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    target_groups.delete_target_group(ctx.backend, ctx.scope, p["TargetGroupArn"])
    return {}


def _attributes(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"Attributes": [{"Key": k, "Value": v} for k, v in pairs]}


def modify_target_group_attributes(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pairs = target_groups.modify_target_group_attributes(
        ctx.backend, ctx.scope, p["TargetGroupArn"], p["Attributes"]
    )
    return _attributes(pairs)


def describe_target_group_attributes(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pairs = target_groups.describe_target_group_attributes(
        ctx.backend, ctx.scope, p["TargetGroupArn"]
    )
    return _attributes(pairs)


def register_targets(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    target_groups.register_targets(ctx.backend, ctx.scope, p["TargetGroupArn"], p["Targets"])
    return {}


def deregister_targets(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    target_groups.deregister_targets(ctx.backend, ctx.scope, p["TargetGroupArn"], p["Targets"])
    return {}


def describe_target_health(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    views = target_groups.describe_target_health(
        ctx.backend, ctx.scope, p["TargetGroupArn"], p.get("Targets")
    )
    return {"TargetHealthDescriptions": [_present_health(v) for v in views]}


OPERATIONS: Operations = {
    "CreateTargetGroup": create_target_group,
    "ModifyTargetGroup": modify_target_group,
    "DescribeTargetGroups": describe_target_groups,
    "DeleteTargetGroup": delete_target_group,
    "ModifyTargetGroupAttributes": modify_target_group_attributes,
    "DescribeTargetGroupAttributes": describe_target_group_attributes,
    "RegisterTargets": register_targets,
    "DeregisterTargets": deregister_targets,
    "DescribeTargetHealth": describe_target_health,
}
