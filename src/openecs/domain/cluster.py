"""The cluster: a named, regional grouping of tasks, services and capacity."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from openecs.domain.errors import InvalidParameterException

__all__ = [
    "BUILTIN_CAPACITY_PROVIDERS",
    "DEFAULT_CLUSTER",
    "Cluster",
    "ClusterCounts",
    "ClusterStatus",
    "normalize_strategy",
    "validate_capacity_providers",
    "validate_cluster_name",
    "validate_cluster_settings",
]

DEFAULT_CLUSTER = "default"
BUILTIN_CAPACITY_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


class ClusterStatus:
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@dataclass(slots=True)
class Cluster:
    name: str
    arn: str
    status: str
    created_at: float
    settings: list[dict[str, str]] = field(default_factory=list)
    configuration: dict[str, Any] | None = None
    capacity_providers: list[str] = field(default_factory=list)
    default_capacity_provider_strategy: list[dict[str, Any]] = field(default_factory=list)
    service_connect_defaults: dict[str, Any] | None = None
    version: int = 1

    @property
    def active(self) -> bool:
        return self.status == ClusterStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ClusterCounts:
    registered_instances: int = 0
    running_tasks: int = 0
    pending_tasks: int = 0
    active_services: int = 0
    draining_services: int = 0
    running_by_launch_type: tuple[tuple[str, int], ...] = ()
    pending_by_launch_type: tuple[tuple[str, int], ...] = ()
    active_services_by_launch_type: tuple[tuple[str, int], ...] = ()
    draining_services_by_launch_type: tuple[tuple[str, int], ...] = ()


def validate_cluster_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidParameterException(
            "Cluster name should be between 1 and 255 characters long and can only contain "
            "letters, numbers, hyphens and underscores."
        )
    return name


def validate_cluster_settings(settings: list[dict[str, str]]) -> list[dict[str, str]]:
    merged: dict[str, str] = {}
    for setting in settings:
        name, value = setting.get("name"), setting.get("value")
        if name != "containerInsights":
            raise InvalidParameterException(f"Invalid cluster setting name: {name}")
        if value not in ("enabled", "disabled", "enhanced"):
            raise InvalidParameterException(
                f"Invalid value '{value}' for cluster setting containerInsights. "
                "Valid values are enabled, enhanced and disabled."
            )
        merged[name] = value
    return [{"name": n, "value": v} for n, v in merged.items()]


def validate_capacity_providers(
    providers: list[str], strategy: list[dict[str, Any]], known: set[str]
) -> None:
    """Check a cluster's capacity providers and its default strategy as ECS does."""
    seen: set[str] = set()
    for name in providers:
        if name not in known:
            raise InvalidParameterException(
                "The specified capacity provider was not found. "
                "Specify a valid capacity provider and try again."
            )
        if name in seen:
            raise InvalidParameterException(
                f"The specified capacity provider '{name}' was specified more than once."
            )
        seen.add(name)
    # A default strategy whose weights are all 0 is accepted: ECS fails the RunTask or
    # CreateService that falls back on it, not the call that sets it.
    validate_strategy(
        strategy,
        allowed=set(providers),
        context="default capacity provider strategy",
        require_weight=False,
    )


def normalize_strategy(strategy: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Strategy items as ECS returns them: `weight` and `base` default to 0."""
    return [
        {
            "capacityProvider": item.get("capacityProvider", ""),
            "weight": item.get("weight", 0),
            "base": item.get("base", 0),
        }
        for item in strategy
    ]


def validate_strategy(
    strategy: list[dict[str, Any]], *, allowed: set[str], context: str, require_weight: bool = True
) -> None:
    if len(strategy) > 20:
        raise InvalidParameterException(
            f"The {context} can contain a maximum of 20 capacity providers."
        )
    names: set[str] = set()
    with_base = 0
    for item in strategy:
        name = item.get("capacityProvider", "")
        if name not in allowed:
            raise InvalidParameterException(
                f"The specified capacity provider strategy cannot contain a capacity provider "
                f"that is not associated with the cluster. Associate the capacity provider "
                f"with the cluster or specify a valid capacity provider and try again. "
                f"Capacity provider: {name}"
            )
        if name in names:
            raise InvalidParameterException(
                f"The capacity provider strategy contains {name} more than once."
            )
        names.add(name)
        if item.get("base", 0) > 0:
            with_base += 1
    if with_base > 1:
        raise InvalidParameterException(
            "Only one capacity provider in a capacity provider strategy can have a base defined."
        )
    if (
        require_weight
        and len(strategy) > 1
        and all(item.get("weight", 0) == 0 for item in strategy)
    ):
        raise InvalidParameterException(
            "At least one capacity provider in a capacity provider strategy "
            "must have a weight greater than zero."
        )
