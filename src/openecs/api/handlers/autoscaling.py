"""Application Auto Scaling (ECS services): scalable targets, scaling policies,
scheduled actions, scaling activities.

LIMITATIONS: TagResource, UntagResource, ListTagsForResource and
GetPredictiveScalingForecast answer UnsupportedFeatureException; Tags given to
RegisterScalableTarget are ignored; IncludeNotScaledActivities shows nothing more.
"""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.scaling import (
    DIMENSION,
    NAMESPACE,
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
)
from openecs.usecases import scaling

__all__ = ["OPERATIONS"]

_KIND = {"ServiceNamespace": NAMESPACE, "ScalableDimension": DIMENSION}


def present_target(target: ScalableTarget) -> dict[str, Any]:
    return {
        **_KIND,
        "ResourceId": target.resource_id,
        "MinCapacity": target.min_capacity,
        "MaxCapacity": target.max_capacity,
        "RoleARN": target.role_arn,
        "CreationTime": target.created_at,
        "SuspendedState": target.to_doc()["SuspendedState"],
        "ScalableTargetARN": target.arn,
    }


def present_policy(policy: ScalingPolicy) -> dict[str, Any]:
    config_key = (
        "TargetTrackingScalingPolicyConfiguration"
        if policy.policy_type == "TargetTrackingScaling"
        else "StepScalingPolicyConfiguration"
    )
    return {
        **_KIND,
        "PolicyARN": policy.arn,
        "PolicyName": policy.name,
        "ResourceId": policy.resource_id,
        "PolicyType": policy.policy_type,
        config_key: policy.config,
        "Alarms": policy.alarms,
        "CreationTime": policy.created_at,
    }


def present_action(action: ScheduledAction) -> dict[str, Any]:
    target_action = {
        k: v
        for k, v in (("MinCapacity", action.min_capacity), ("MaxCapacity", action.max_capacity))
        if v is not None
    }
    return {
        **_KIND,
        "ScheduledActionName": action.name,
        "ScheduledActionARN": action.arn,
        "Schedule": action.schedule,
        "Timezone": action.timezone,
        "ResourceId": action.resource_id,
        "StartTime": action.start_time,
        "EndTime": action.end_time,
        "ScalableTargetAction": target_action,
        "CreationTime": action.created_at,
    }


def present_activity(activity: ScalingActivity) -> dict[str, Any]:
    return {
        **_KIND,
        "ActivityId": activity.activity_id,
        "ResourceId": activity.resource_id,
        "Description": activity.description,
        "Cause": activity.cause,
        "StartTime": activity.start_time,
        "EndTime": activity.end_time,
        "StatusCode": activity.status_code,
        "StatusMessage": activity.status_message,
    }


def register_scalable_target(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"ScalableTargetARN": scaling.register_scalable_target(ctx.backend, ctx.scope, p)}


def describe_scalable_targets(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = scaling.describe_scalable_targets(ctx.backend, ctx.scope, p)
    return {
        "ScalableTargets": [present_target(t) for t in page.items],
        "NextToken": page.next_token,
    }


def deregister_scalable_target(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    scaling.deregister_scalable_target(ctx.backend, ctx.scope, p)
    return {}


def put_scaling_policy(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    policy = scaling.put_scaling_policy(ctx.backend, ctx.scope, p)
    return {"PolicyARN": policy.arn, "Alarms": policy.alarms}


def describe_scaling_policies(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = scaling.describe_scaling_policies(ctx.backend, ctx.scope, p)
    return {
        "ScalingPolicies": [present_policy(x) for x in page.items],
        "NextToken": page.next_token,
    }


def delete_scaling_policy(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    scaling.delete_scaling_policy(ctx.backend, ctx.scope, p)
    return {}


def put_scheduled_action(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    scaling.put_scheduled_action(ctx.backend, ctx.scope, p)
    return {}


def describe_scheduled_actions(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = scaling.describe_scheduled_actions(ctx.backend, ctx.scope, p)
    return {
        "ScheduledActions": [present_action(a) for a in page.items],
        "NextToken": page.next_token,
    }


def delete_scheduled_action(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    scaling.delete_scheduled_action(ctx.backend, ctx.scope, p)
    return {}


def describe_scaling_activities(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = scaling.describe_scaling_activities(ctx.backend, ctx.scope, p)
    return {
        "ScalingActivities": [present_activity(a) for a in page.items],
        "NextToken": page.next_token,
    }


OPERATIONS: Operations = {
    "RegisterScalableTarget": register_scalable_target,
    "DescribeScalableTargets": describe_scalable_targets,
    "DeregisterScalableTarget": deregister_scalable_target,
    "PutScalingPolicy": put_scaling_policy,
    "DescribeScalingPolicies": describe_scaling_policies,
    "DeleteScalingPolicy": delete_scaling_policy,
    "PutScheduledAction": put_scheduled_action,
    "DescribeScheduledActions": describe_scheduled_actions,
    "DeleteScheduledAction": delete_scheduled_action,
    "DescribeScalingActivities": describe_scaling_activities,
}
