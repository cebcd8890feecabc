"""Application load balancing, as the elbv2 API models it: load balancers,
listeners with rules, target groups with health checks, and targets.

Actions and rule conditions keep the elbv2 API's own shapes (dicts such as
`{"Type": "forward", "ForwardConfig": {...}}`), validated by the use cases;
everything else is typed here. `LoadBalancingSnapshot` is the whole picture
the data plane (HAProxy) is rendered from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_TARGET_GROUP_ATTRIBUTES",
    "HealthCheck",
    "Listener",
    "LoadBalancer",
    "LoadBalancingSnapshot",
    "Rule",
    "Target",
    "TargetGroup",
    "TargetState",
]


class TargetState:
    INITIAL = "initial"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNUSED = "unused"
    DRAINING = "draining"
    UNAVAILABLE = "unavailable"


DEFAULT_TARGET_GROUP_ATTRIBUTES: dict[str, str] = {
    "deregistration_delay.timeout_seconds": "300",
    "stickiness.enabled": "false",
    "stickiness.type": "lb_cookie",
    "stickiness.lb_cookie.duration_seconds": "86400",
    "load_balancing.algorithm.type": "round_robin",
    "slow_start.duration_seconds": "0",
}


@dataclass(slots=True)
class LoadBalancer:
    arn: str
    name: str
    account_id: str
    region: str
    dns_name: str
    created_at: float
    scheme: str = "internet-facing"
    type: str = "application"
    state: str = "active"
    ip_address_type: str = "ipv4"
    subnets: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    version: int = 1
    # Where the data plane binds this load balancer's listeners (port = listener port).
    address: str = "127.0.0.1"
    vpc_id: str | None = None


@dataclass(slots=True)
class HealthCheck:
    enabled: bool = True
    protocol: str = "HTTP"
    port: str = "traffic-port"
    path: str = "/"
    interval_seconds: int = 30
    timeout_seconds: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"


@dataclass(slots=True)
class TargetGroup:
    arn: str
    name: str
    account_id: str
    region: str
    protocol: str
    port: int
    target_type: str
    created_at: float
    vpc_id: str | None = None
    protocol_version: str = "HTTP1"
    health_check: HealthCheck = field(default_factory=HealthCheck)
    attributes: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_TARGET_GROUP_ATTRIBUTES)
    )
    version: int = 1


@dataclass(slots=True)
class Target:
    """A registered target. `address` is where the data plane sends traffic
    (the target's Id for `ip` targets, the instance's host address for
    `instance` targets)."""

    target_group_arn: str
    id: str
    port: int
    address: str
    registered_at: float
    availability_zone: str | None = None
    state: str = TargetState.INITIAL
    reason: str | None = "Elb.RegistrationInProgress"
    description: str | None = "Target registration is in progress"
    # Set when deregistered: traffic drains until this time, then the target is gone.
    draining_until: float | None = None


@dataclass(slots=True)
class Listener:
    arn: str
    load_balancer_arn: str
    port: int
    protocol: str
    default_actions: list[dict[str, Any]]
    created_at: float
    # Bumped by every change to the listener or its rules (optimistic concurrency).
    version: int = 1


@dataclass(slots=True)
class Rule:
    arn: str
    listener_arn: str
    # None for the listener's default rule (evaluated last).
    priority: int | None
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]

    @property
    def is_default(self) -> bool:
        return self.priority is None


@dataclass(slots=True)
class LoadBalancingSnapshot:
    """Everything the data plane needs, read in one transaction."""

    load_balancers: list[LoadBalancer] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    target_groups: list[TargetGroup] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
