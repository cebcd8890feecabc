"""Create-or-update decisions, pure: given what the APIs describe and what the shop
wants, what to do. This is what makes `openecs demo` safe to run twice: an
unchanged shop is kept as it is, a changed image or setting becomes a new task
definition revision and a rolling deployment, never a second copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "Action",
    "ServicePlan",
    "listener_rule_action",
    "matches",
    "plan_service",
    "target_group_changes",
    "task_definition_changed",
]


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    KEEP = "keep"


def matches(current: Any, desired: Any) -> bool:
    """Whether `current` (as described, with the server's defaults filled in) says at
    least everything `desired` says: dicts by subset, lists item by item."""
    if isinstance(desired, Mapping):
        return isinstance(current, Mapping) and all(
            key in current and matches(current[key], value) for key, value in desired.items()
        )
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        return (
            isinstance(current, Sequence)
            and not isinstance(current, str)
            and len(current) == len(desired)
            and all(matches(c, d) for c, d in zip(current, desired, strict=True))
        )
    if isinstance(desired, int | float) and isinstance(current, int | float):
        return float(current) == float(desired)
    return bool(current == desired)


def task_definition_changed(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether the family's latest ACTIVE revision differs from what the shop wants."""
    if current is None or current.get("status", "ACTIVE") != "ACTIVE":
        return True
    return not matches(current, desired)


@dataclass(frozen=True, slots=True)
class ServicePlan:
    action: Action
    reason: str
    changes: Mapping[str, Any]


def plan_service(
    current: Mapping[str, Any] | None,
    task_definition_arn: str,
    desired_count: int | None,
) -> ServicePlan:
    """CreateService, UpdateService (only what changed) or nothing.

    `desired_count` None leaves the count alone on update: auto scaling owns it."""
    if current is None or current.get("status") != "ACTIVE":
        state = "missing" if current is None else f"status {current.get('status')}"
        return ServicePlan(Action.CREATE, f"service {state}", {})
    changes: dict[str, Any] = {}
    if current.get("taskDefinition") != task_definition_arn:
        changes["taskDefinition"] = task_definition_arn
    if desired_count is not None and current.get("desiredCount") != desired_count:
        changes["desiredCount"] = desired_count
    if not changes:
        return ServicePlan(Action.KEEP, "up to date", {})
    return ServicePlan(Action.UPDATE, "changed: " + ", ".join(sorted(changes)), changes)


_HEALTH_KEYS = (
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
)


def target_group_changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """ModifyTargetGroup's parameters for the health check settings that differ."""
    return {
        key: desired[key]
        for key in _HEALTH_KEYS
        if key in desired and current.get(key) != desired[key]
    }


def _forwards_to(actions: Sequence[Mapping[str, Any]], target_group_arn: str) -> bool:
    return len(actions) == 1 and actions[0].get("TargetGroupArn") == target_group_arn


def _path_patterns(rule: Mapping[str, Any]) -> list[str]:
    patterns: list[str] = []
    for condition in rule.get("Conditions") or ():
        if condition.get("Field") != "path-pattern":
            continue
        patterns += (condition.get("PathPatternConfig") or {}).get("Values") or []
        patterns += condition.get("Values") or []
    return patterns


def listener_rule_action(
    rules: Sequence[Mapping[str, Any]], path: str, target_group_arn: str
) -> tuple[Action, str | None]:
    """(what to do, the existing rule's ARN) for a rule forwarding `path` to a group."""
    for rule in rules:
        if rule.get("IsDefault"):
            continue
        if path in _path_patterns(rule):
            arn = str(rule["RuleArn"])
            if _forwards_to(rule.get("Actions") or [], target_group_arn):
                return Action.KEEP, arn
            return Action.UPDATE, arn
    return Action.CREATE, None
