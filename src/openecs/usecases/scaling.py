"""Application Auto Scaling operations for ECS services: scalable targets, scaling
policies, scheduled actions and the scaling activities the controller records."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from openecs.domain.scaling import (
    DIMENSION,
    NAMESPACE,
    PREDEFINED_METRICS,
    ObjectNotFoundException,
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
    ValidationException,
    parse_resource_id,
    parse_step_alarm,
    target_key,
)
from openecs.domain.scaling_schedule import parse_schedule, zone
from openecs.domain.scope import Scope
from openecs.domain.service import ServiceStatus
from openecs.platform.ids import new_uuid
from openecs.store import scaling as rows
from openecs.store import services as service_rows
from openecs.usecases.backend import Backend
from openecs.usecases.pagination import decode_token, encode_token

__all__ = [
    "Page",
    "delete_scaling_policy",
    "delete_scheduled_action",
    "deregister_scalable_target",
    "describe_scalable_targets",
    "describe_scaling_activities",
    "describe_scaling_policies",
    "describe_scheduled_actions",
    "put_scaling_policy",
    "put_scheduled_action",
    "register_scalable_target",
]

T = TypeVar("T")
_ALB_LABEL = (
    r"app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/<target-group-id>"
)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


def _check_target_kind(p: Mapping[str, Any]) -> str:
    if p["ServiceNamespace"] != NAMESPACE:
        raise ValidationException(
            f"OpenECS supports the ecs service namespace only, not {p['ServiceNamespace']}"
        )
    if p.get("ScalableDimension", DIMENSION) != DIMENSION:
        raise ValidationException(
            f"Unsupported scalable dimension {p['ScalableDimension']} for service namespace ecs"
        )
    resource_id = p.get("ResourceId")
    if resource_id is not None:
        parse_resource_id(resource_id)
    return str(resource_id)


def _require_target(conn: Connection, scope: Scope, resource_id: str) -> tuple[int, ScalableTarget]:
    found = rows.get_target(conn, scope, resource_id)
    if found is None:
        raise ObjectNotFoundException(
            f"No scalable target registered for {target_key(resource_id)}"
        )
    return found


def _page(items: list[T], p: Mapping[str, Any], most: int = 50) -> Page[T]:
    limit = p.get("MaxResults") or most
    if not 1 <= limit <= most:
        raise ValidationException(f"MaxResults must be between 1 and {most}")
    try:
        start = int(decode_token(p.get("NextToken")) or 0)
    except Exception:
        raise ValidationException("Invalid NextToken") from None
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return Page(chunk, encode_token(start + limit) if more else None)


# --- scalable targets ----------------------------------------------------------------


def register_scalable_target(backend: Backend, scope: Scope, p: Mapping[str, Any]) -> str:
    resource_id = _check_target_kind(p)
    cluster, service = parse_resource_id(resource_id)

    def work(conn: Connection) -> str:
        found = rows.get_target(conn, scope, resource_id)
        if found is None:
            live = service_rows.get(conn, scope, cluster, service)
            if live is None or live.status != ServiceStatus.ACTIVE:
                raise ValidationException(f"ECS service doesn't exist: {resource_id}")
            if p.get("MinCapacity") is None or p.get("MaxCapacity") is None:
                raise ValidationException(
                    "MinCapacity and MaxCapacity are required to register a new scalable target"
                )
            target = ScalableTarget(
                resource_id,
                0,
                0,
                ScalableTarget.new_arn(scope, secrets.token_hex(18)),
                backend.clock.now(),
                p.get("RoleARN") or ScalableTarget.service_linked_role(scope),
            )
            target_id = None
        else:
            target_id, target = found
            if p.get("RoleARN"):
                target.role_arn = p["RoleARN"]
        if p.get("MinCapacity") is not None:
            target.min_capacity = int(p["MinCapacity"])
        if p.get("MaxCapacity") is not None:
            target.max_capacity = int(p["MaxCapacity"])
        if target.min_capacity > target.max_capacity:
            raise ValidationException("Minimum capacity cannot be greater than maximum capacity")
        if p.get("SuspendedState") is not None:
            target.suspended = {**target.suspended, **p["SuspendedState"]}
        rows.save_target(conn, scope, target_id, target)
        return target.arn

    return backend.write(work)


def describe_scalable_targets(
    backend: Backend, scope: Scope, p: Mapping[str, Any]
) -> Page[ScalableTarget]:
    _check_target_kind(p)
    with backend.reading() as conn:
        found = rows.list_targets(conn, scope, p.get("ResourceIds"))
    return _page([t for _, t in found], p)


def deregister_scalable_target(backend: Backend, scope: Scope, p: Mapping[str, Any]) -> None:
    resource_id = _check_target_kind(p)

    def work(conn: Connection) -> None:
        target_id, _ = _require_target(conn, scope, resource_id)
        rows.delete_target(conn, target_id)

    backend.write(work)


# --- scaling policies ----------------------------------------------------------------


def _check_target_tracking(config: Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        raise ValidationException(
            "TargetTrackingScalingPolicyConfiguration is required "
            "for a TargetTrackingScaling policy"
        )
    if config.get("CustomizedMetricSpecification") is not None:
        raise ValidationException(
            "OpenECS supports predefined metrics only: " + ", ".join(PREDEFINED_METRICS)
        )
    spec = config.get("PredefinedMetricSpecification")
    if spec is None:
        raise ValidationException("PredefinedMetricSpecification is required")
    metric = spec["PredefinedMetricType"]
    if metric not in PREDEFINED_METRICS:
        raise ValidationException(
            f"Predefined metric {metric} is not valid for ecs:service:DesiredCount"
        )
    label = spec.get("ResourceLabel")
    if metric == "ALBRequestCountPerTarget":
        parts = (label or "").split("/")
        if len(parts) != 6 or parts[0] != "app" or parts[3] != "targetgroup":
            raise ValidationException(
                f"ResourceLabel for ALBRequestCountPerTarget must be {_ALB_LABEL}"
            )
    elif label is not None:
        raise ValidationException(f"ResourceLabel is not valid for {metric}")
    if config["TargetValue"] <= 0:
        raise ValidationException("TargetValue must be greater than 0")
    for key in ("ScaleOutCooldown", "ScaleInCooldown"):
        if config.get(key) is not None and config[key] < 0:
            raise ValidationException(f"{key} cannot be negative")
    return dict(config)


def _check_step_scaling(config: Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        raise ValidationException(
            "StepScalingPolicyConfiguration is required for a StepScaling policy"
        )
    steps = config.get("StepAdjustments") or []
    if not steps:
        raise ValidationException("StepAdjustments must contain at least one step")
    if config.get("AdjustmentType") is None:
        raise ValidationException("AdjustmentType is required")
    for step in steps:
        low = step.get("MetricIntervalLowerBound")
        high = step.get("MetricIntervalUpperBound")
        if low is not None and high is not None and low >= high:
            raise ValidationException("Step's lower bound must be less than its upper bound")
    return dict(config)


def put_scaling_policy(backend: Backend, scope: Scope, p: Mapping[str, Any]) -> ScalingPolicy:
    resource_id = _check_target_kind(p)
    policy_type = p.get("PolicyType") or "StepScaling"
    if policy_type == "TargetTrackingScaling":
        config = _check_target_tracking(p.get("TargetTrackingScalingPolicyConfiguration"))
    elif policy_type == "StepScaling":
        config = _check_step_scaling(p.get("StepScalingPolicyConfiguration"))
    else:
        raise ValidationException(f"Policy type {policy_type} is not supported for ECS services")
    name = p["PolicyName"]

    def work(conn: Connection) -> ScalingPolicy:
        target_id, _ = _require_target(conn, scope, resource_id)
        existing = next(iter(rows.list_policies(conn, [target_id], [name])), None)
        if existing is not None and existing.policy_type != policy_type:
            raise ValidationException(
                f"Policy {name} is a {existing.policy_type} policy; its type cannot change"
            )
        alarms: list[dict[str, str]] = []
        step_alarm = parse_step_alarm(name, resource_id)
        if policy_type == "StepScaling" and step_alarm is not None:
            alarms = [
                {
                    "AlarmName": step_alarm.name,
                    "AlarmARN": ScalingPolicy.alarm_arn(scope, step_alarm.name),
                }
            ]
        elif policy_type == "TargetTrackingScaling":
            alarms = (
                existing.alarms
                if existing is not None
                else [
                    {
                        "AlarmName": alarm,
                        "AlarmARN": ScalingPolicy.alarm_arn(scope, alarm),
                    }
                    for alarm in (
                        f"TargetTracking-{resource_id}-Alarm{kind}-{new_uuid()}"
                        for kind in ("High", "Low")
                    )
                ]
            )
        policy = ScalingPolicy(
            name,
            resource_id,
            existing.arn
            if existing is not None
            else ScalingPolicy.new_arn(scope, new_uuid(), resource_id, name),
            policy_type,
            config,
            alarms,
            existing.created_at if existing is not None else backend.clock.now(),
        )
        rows.save_policy(conn, target_id, policy)
        return policy

    return backend.write(work)


def describe_scaling_policies(
    backend: Backend, scope: Scope, p: Mapping[str, Any]
) -> Page[ScalingPolicy]:
    resource_id = p.get("ResourceId")
    _check_target_kind(p)
    with backend.reading() as conn:
        targets = rows.list_targets(conn, scope, [resource_id] if resource_id else None)
        found = rows.list_policies(conn, [i for i, _ in targets], p.get("PolicyNames"))
    return _page(found, p, most=10)


def delete_scaling_policy(backend: Backend, scope: Scope, p: Mapping[str, Any]) -> None:
    resource_id = _check_target_kind(p)

    def work(conn: Connection) -> None:
        found = rows.get_target(conn, scope, resource_id)
        if found is None or not rows.delete_policy(conn, found[0], p["PolicyName"]):
            raise ObjectNotFoundException(
                f"No scaling policy found for {target_key(resource_id)}, "
                f"policy name: {p['PolicyName']}"
            )

    backend.write(work)


# --- scheduled actions ---------------------------------------------------------------


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def put_scheduled_action(backend: Backend, scope: Scope, p: Mapping[str, Any]) -> None:
    resource_id = _check_target_kind(p)
    name = p["ScheduledActionName"]
    start, end = _epoch(p.get("StartTime")), _epoch(p.get("EndTime"))
    if start is not None and end is not None and start >= end:
        raise ValidationException("StartTime must be before EndTime")
    try:
        if p.get("Timezone") is not None:
            zone(p["Timezone"])
        if p.get("Schedule") is not None:
            parse_schedule(p["Schedule"])
    except ValueError as exc:
        raise ValidationException(str(exc)) from None
    action_spec = p.get("ScalableTargetAction") or {}
    low, high = action_spec.get("MinCapacity"), action_spec.get("MaxCapacity")
    if low is not None and high is not None and low > high:
        raise ValidationException("Minimum capacity cannot be greater than maximum capacity")

    def work(conn: Connection) -> None:
        target_id, _ = _require_target(conn, scope, resource_id)
        existing = next(iter(rows.list_actions(conn, [target_id], [name])), None)
        schedule = p.get("Schedule") or (existing.schedule if existing else None)
        if schedule is None:
            raise ValidationException("Schedule is required for a new scheduled action")
        action = ScheduledAction(
            name,
            resource_id,
            existing.arn
            if existing
            else ScheduledAction.new_arn(scope, new_uuid(), resource_id, name),
            schedule,
            p.get("Timezone") or (existing.timezone if existing else None),
            start if start is not None else (existing.start_time if existing else None),
            end if end is not None else (existing.end_time if existing else None),
            low if low is not None else (existing.min_capacity if existing else None),
            high if high is not None else (existing.max_capacity if existing else None),
            existing.created_at if existing else backend.clock.now(),
        )
        rows.save_action(conn, target_id, action)

    backend.write(work)


def describe_scheduled_actions(
    backend: Backend, scope: Scope, p: Mapping[str, Any]
) -> Page[ScheduledAction]:
    _check_target_kind(p)
    resource_id = p.get("ResourceId")
    with backend.reading() as conn:
        targets = rows.list_targets(conn, scope, [resource_id] if resource_id else None)
        found = rows.list_actions(conn, [i for i, _ in targets], p.get("ScheduledActionNames"))
    return _page(found, p)


def delete_scheduled_action(backend: Backend, scope: Scope, p: Mapping[str, Any]) -> None:
    resource_id = _check_target_kind(p)
    name = p["ScheduledActionName"]

    def work(conn: Connection) -> None:
        found = rows.get_target(conn, scope, resource_id)
        if found is None or not rows.delete_action(conn, found[0], name):
            raise ObjectNotFoundException(
                f"No scheduled action found for {target_key(resource_id)}, "
                f"scheduled action name: {name}"
            )

    backend.write(work)


# --- scaling activities --------------------------------------------------------------


def describe_scaling_activities(
    backend: Backend, scope: Scope, p: Mapping[str, Any]
) -> Page[ScalingActivity]:
    _check_target_kind(p)
    limit = p.get("MaxResults") or 50
    if not 1 <= limit <= 50:
        raise ValidationException("MaxResults must be between 1 and 50")
    try:
        offset = int(decode_token(p.get("NextToken")) or 0)
    except Exception:
        raise ValidationException("Invalid NextToken") from None
    with backend.reading() as conn:
        found = rows.list_activities(
            conn, scope, p.get("ResourceId"), offset=offset, limit=limit + 1
        )
    more = len(found) > limit
    return Page(found[:limit], encode_token(offset + limit) if more else None)
