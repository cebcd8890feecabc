"""Application Auto Scaling for ECS services: scalable targets, scaling policies,
scheduled actions and scaling activities, with their ARNs and AWS's error codes.

A scalable target is one service's desired count (`service/CLUSTER/SERVICE`,
`ecs:service:DesiredCount`) held within [min, max]. Policies and scheduled actions
belong to a target and go with it. Documents keep the API's own shapes (PascalCase
members), so what Describe* returns is what Put* stored.

LIMITATIONS: only ServiceNamespace `ecs`; target tracking only with the predefined
metrics ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization and
ALBRequestCountPerTarget; step scaling policies are stored and described but
not evaluated (OpenECS has no CloudWatch alarms to drive them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from openecs.domain.errors import ClientError, LimitExceededException
from openecs.domain.log_errors import ValidationException
from openecs.domain.scope import Scope

__all__ = [
    "DIMENSION",
    "NAMESPACE",
    "PREDEFINED_METRICS",
    "ConcurrentUpdateException",
    "LimitExceededException",
    "ObjectNotFoundException",
    "ScalableTarget",
    "ScalingActivity",
    "ScalingPolicy",
    "ScalingState",
    "ScheduledAction",
    "StepAdjustment",
    "StepAlarm",
    "StepScaling",
    "TargetTracking",
    "ValidationException",
    "parse_resource_id",
    "parse_step_alarm",
    "target_key",
]

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"
PREDEFINED_METRICS = (
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
)
# AWS's defaults for ECS target tracking when the policy names no cooldown.
DEFAULT_COOLDOWN = 300
# The implicit alarm of a step scaling policy, spelled in its name (see StepAlarm).
_STEP_ALARM = re.compile(
    r"(?i)(?<![a-z])(cpu|memory|requests)\s*(>=|<=|>|<)\s*(\d+(?:\.\d+)?)(?:\s*x\s*(\d+))?"
)
_STEP_METRICS = {
    "cpu": "ECSServiceAverageCPUUtilization",
    "memory": "ECSServiceAverageMemoryUtilization",
    "requests": "ALBRequestCountPerTarget",
}
_RESOURCE_ID = re.compile(r"^service/([A-Za-z0-9_-]{1,255})/([A-Za-z0-9_-]{1,255})$")


class ObjectNotFoundException(ClientError):
    code = "ObjectNotFoundException"


class ConcurrentUpdateException(ClientError):
    code = "ConcurrentUpdateException"


def parse_resource_id(resource_id: str) -> tuple[str, str]:
    """(cluster, service) of `service/CLUSTER/SERVICE`; ValidationException otherwise."""
    m = _RESOURCE_ID.match(resource_id)
    if m is None:
        raise ValidationException(
            f"Unsupported resource ID {resource_id}: ECS services are named service/CLUSTER/SERVICE"
        )
    return m.group(1), m.group(2)


def target_key(resource_id: str) -> str:
    return (
        f"service namespace: {NAMESPACE}, resource ID: {resource_id}, "
        f"scalable dimension: {DIMENSION}"
    )


@dataclass(frozen=True, slots=True)
class ScalingState:
    """What the controller remembers between passes: its last scale-out and scale-in,
    and when each scheduled action last fired."""

    last_scale_out: float | None = None
    last_scale_in: float | None = None
    schedules_fired: dict[str, float] = field(default_factory=dict)
    # Per step scaling policy: when it last changed the count, and the count before.
    steps_fired: dict[str, tuple[float, int]] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return {
            "last_scale_out": self.last_scale_out,
            "last_scale_in": self.last_scale_in,
            "schedules_fired": dict(self.schedules_fired),
            "steps_fired": {k: [t, n] for k, (t, n) in self.steps_fired.items()},
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ScalingState:
        return cls(
            doc.get("last_scale_out"),
            doc.get("last_scale_in"),
            dict(doc.get("schedules_fired") or {}),
            {k: (float(t), int(n)) for k, (t, n) in (doc.get("steps_fired") or {}).items()},
        )


@dataclass(slots=True)
class ScalableTarget:
    resource_id: str
    min_capacity: int
    max_capacity: int
    arn: str
    created_at: float
    role_arn: str
    suspended: dict[str, bool] = field(default_factory=dict)
    state: ScalingState = field(default_factory=ScalingState)

    @property
    def cluster(self) -> str:
        return parse_resource_id(self.resource_id)[0]

    @property
    def service(self) -> str:
        return parse_resource_id(self.resource_id)[1]

    def suspended_flag(self, name: str) -> bool:
        return bool(self.suspended.get(name, False))

    def to_doc(self) -> dict[str, Any]:
        return {
            "MinCapacity": self.min_capacity,
            "MaxCapacity": self.max_capacity,
            "RoleARN": self.role_arn,
            "SuspendedState": {
                k: self.suspended_flag(k)
                for k in (
                    "DynamicScalingInSuspended",
                    "DynamicScalingOutSuspended",
                    "ScheduledScalingSuspended",
                )
            },
        }

    @classmethod
    def from_doc(
        cls, resource_id: str, arn: str, created_at: float, doc: dict[str, Any], state: ScalingState
    ) -> ScalableTarget:
        return cls(
            resource_id,
            int(doc["MinCapacity"]),
            int(doc["MaxCapacity"]),
            arn,
            created_at,
            str(doc["RoleARN"]),
            dict(doc.get("SuspendedState") or {}),
            state,
        )

    @staticmethod
    def new_arn(scope: Scope, target_id: str) -> str:
        return (
            f"arn:aws:application-autoscaling:{scope.region}:{scope.account_id}:"
            f"scalable-target/{target_id}"
        )

    @staticmethod
    def service_linked_role(scope: Scope) -> str:
        return (
            f"arn:aws:iam::{scope.account_id}:role/aws-service-role/"
            "ecs.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_ECSService"
        )


@dataclass(frozen=True, slots=True)
class TargetTracking:
    """A target tracking policy as the controller reads it."""

    name: str
    metric: str
    target_value: float
    scale_out_cooldown: int
    scale_in_cooldown: int
    disable_scale_in: bool
    resource_label: str | None
    alarm_high: str
    alarm_low: str


@dataclass(frozen=True, slots=True)
class StepAlarm:
    """The implicit alarm that drives a step scaling policy.

    On AWS a CloudWatch alarm (PutMetricAlarm, AlarmActions = the policy's ARN)
    names the metric, the threshold and how many periods must breach; OpenECS has
    no CloudWatch alarms, so the policy's own name spells them:
    `<metric><comparison><threshold>[x<datapoints>]` anywhere in PolicyName, e.g.
    `web-out cpu>70`, `web-in cpu<=20x30` or `requests>=600x2`. The metric is
    `cpu` (ECSServiceAverageCPUUtilization, percent), `memory`
    (ECSServiceAverageMemoryUtilization, percent) or `requests`
    (ALBRequestCountPerTarget of the service's target group, requests per target
    per minute); the comparison `>`, `>=`, `<` or `<=`; `datapoints` how many
    consecutive 10-second datapoints must breach (the controller's default
    otherwise). A step policy whose name spells no alarm is stored and described,
    never evaluated."""

    name: str
    metric: str  # a predefined metric type
    comparison: str
    threshold: float
    datapoints: int | None

    def breached_by(self, value: float) -> bool:
        return {
            ">": value > self.threshold,
            ">=": value >= self.threshold,
            "<": value < self.threshold,
            "<=": value <= self.threshold,
        }[self.comparison]


def parse_step_alarm(policy_name: str, resource_id: str) -> StepAlarm | None:
    """The implicit alarm a step policy's name spells, or None."""
    m = _STEP_ALARM.search(policy_name)
    if m is None:
        return None
    datapoints = int(m.group(4)) if m.group(4) else None
    if datapoints == 0:
        return None
    return StepAlarm(
        name=f"StepScaling-{resource_id}-{policy_name}",
        metric=_STEP_METRICS[m.group(1).lower()],
        comparison=m.group(2),
        threshold=float(m.group(3)),
        datapoints=datapoints,
    )


@dataclass(frozen=True, slots=True)
class StepAdjustment:
    """Bounds are relative to the alarm's threshold; None is unbounded."""

    lower: float | None
    upper: float | None
    adjustment: int


@dataclass(frozen=True, slots=True)
class StepScaling:
    """A step scaling policy with an implicit alarm, as the controller reads it."""

    name: str
    alarm: StepAlarm
    adjustment_type: str  # ChangeInCapacity | PercentChangeInCapacity | ExactCapacity
    steps: tuple[StepAdjustment, ...]
    min_adjustment_magnitude: int | None
    cooldown: int
    aggregation: str  # Average | Minimum | Maximum


@dataclass(slots=True)
class ScalingPolicy:
    name: str
    resource_id: str
    arn: str
    policy_type: str  # TargetTrackingScaling | StepScaling
    config: dict[str, Any]  # the API's configuration structure for the type
    alarms: list[dict[str, str]]
    created_at: float

    def target_tracking(self) -> TargetTracking | None:
        if self.policy_type != "TargetTrackingScaling":
            return None
        spec = self.config.get("PredefinedMetricSpecification") or {}
        high = next((a["AlarmName"] for a in self.alarms if "-AlarmHigh-" in a["AlarmName"]), "")
        low = next((a["AlarmName"] for a in self.alarms if "-AlarmLow-" in a["AlarmName"]), "")
        return TargetTracking(
            name=self.name,
            metric=str(spec.get("PredefinedMetricType", "")),
            target_value=float(self.config["TargetValue"]),
            scale_out_cooldown=int(self.config.get("ScaleOutCooldown", DEFAULT_COOLDOWN)),
            scale_in_cooldown=int(self.config.get("ScaleInCooldown", DEFAULT_COOLDOWN)),
            disable_scale_in=bool(self.config.get("DisableScaleIn", False)),
            resource_label=spec.get("ResourceLabel"),
            alarm_high=high,
            alarm_low=low,
        )

    def step_scaling(self) -> StepScaling | None:
        if self.policy_type != "StepScaling":
            return None
        alarm = parse_step_alarm(self.name, self.resource_id)
        if alarm is None:
            return None
        magnitude = self.config.get("MinAdjustmentMagnitude")
        return StepScaling(
            name=self.name,
            alarm=alarm,
            adjustment_type=str(self.config.get("AdjustmentType", "ChangeInCapacity")),
            steps=tuple(
                StepAdjustment(
                    step.get("MetricIntervalLowerBound"),
                    step.get("MetricIntervalUpperBound"),
                    int(step["ScalingAdjustment"]),
                )
                for step in self.config.get("StepAdjustments") or ()
            ),
            min_adjustment_magnitude=int(magnitude) if magnitude is not None else None,
            cooldown=int(self.config.get("Cooldown", DEFAULT_COOLDOWN)),
            aggregation=str(self.config.get("MetricAggregationType") or "Average"),
        )

    def to_doc(self) -> dict[str, Any]:
        return {"PolicyType": self.policy_type, "Config": self.config, "Alarms": self.alarms}

    @classmethod
    def from_doc(
        cls, name: str, resource_id: str, arn: str, created_at: float, doc: dict[str, Any]
    ) -> ScalingPolicy:
        return cls(
            name, resource_id, arn, doc["PolicyType"], doc["Config"], doc["Alarms"], created_at
        )

    @staticmethod
    def new_arn(scope: Scope, policy_id: str, resource_id: str, name: str) -> str:
        return (
            f"arn:aws:autoscaling:{scope.region}:{scope.account_id}:scalingPolicy:{policy_id}:"
            f"resource/ecs/{resource_id}:policyName/{name}"
        )

    @staticmethod
    def alarm_arn(scope: Scope, alarm_name: str) -> str:
        return f"arn:aws:cloudwatch:{scope.region}:{scope.account_id}:alarm:{alarm_name}"


@dataclass(slots=True)
class ScheduledAction:
    name: str
    resource_id: str
    arn: str
    schedule: str
    timezone: str | None
    start_time: float | None
    end_time: float | None
    min_capacity: int | None
    max_capacity: int | None
    created_at: float

    def to_doc(self) -> dict[str, Any]:
        return {
            "Schedule": self.schedule,
            "Timezone": self.timezone,
            "StartTime": self.start_time,
            "EndTime": self.end_time,
            "MinCapacity": self.min_capacity,
            "MaxCapacity": self.max_capacity,
        }

    @classmethod
    def from_doc(
        cls, name: str, resource_id: str, arn: str, created_at: float, doc: dict[str, Any]
    ) -> ScheduledAction:
        return cls(
            name,
            resource_id,
            arn,
            doc["Schedule"],
            doc.get("Timezone"),
            doc.get("StartTime"),
            doc.get("EndTime"),
            doc.get("MinCapacity"),
            doc.get("MaxCapacity"),
            created_at,
        )

    @staticmethod
    def new_arn(scope: Scope, action_id: str, resource_id: str, name: str) -> str:
        return (
            f"arn:aws:autoscaling:{scope.region}:{scope.account_id}:scheduledAction:{action_id}:"
            f"resource/ecs/{resource_id}:scheduledActionName/{name}"
        )


@dataclass(frozen=True, slots=True)
class ScalingActivity:
    activity_id: str
    resource_id: str
    description: str
    cause: str
    start_time: float
    end_time: float
    status_code: str = "Successful"
    status_message: str = ""
