"""Small builders of elbv2 snapshots for the load balancer tests."""

from __future__ import annotations

import itertools
from typing import Any

from openecs.domain.load_balancing import (
    HealthCheck,
    Listener,
    LoadBalancer,
    LoadBalancingSnapshot,
    Rule,
    Target,
    TargetGroup,
)

__all__ = [
    "fixed_response",
    "forward",
    "host",
    "listener",
    "load_balancer",
    "path",
    "redirect",
    "rule",
    "snapshot",
    "target",
    "target_group",
    "weighted",
]

ACCOUNT = "000000000000"
REGION = "us-east-1"
PREFIX = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
_ids = itertools.count(1)


def load_balancer(name: str = "web") -> LoadBalancer:
    return LoadBalancer(
        arn=f"{PREFIX}:loadbalancer/app/{name}/{next(_ids):016x}",
        name=name,
        account_id=ACCOUNT,
        region=REGION,
        dns_name=f"{name}.local",
        created_at=1.0,
    )


def target_group(name: str, *, health: HealthCheck | None = None, **attributes: str) -> TargetGroup:
    group = TargetGroup(
        arn=f"{PREFIX}:targetgroup/{name}/{next(_ids):016x}",
        name=name,
        account_id=ACCOUNT,
        region=REGION,
        protocol="HTTP",
        port=80,
        target_type="ip",
        created_at=1.0,
        health_check=health or HealthCheck(),
    )
    group.attributes.update({k.replace("__", "."): v for k, v in attributes.items()})
    return group


def forward(group: TargetGroup) -> dict[str, Any]:
    return {"Type": "forward", "TargetGroupArn": group.arn}


def weighted(*groups: tuple[TargetGroup, int]) -> dict[str, Any]:
    return {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": g.arn, "Weight": w} for g, w in groups]
        },
    }


def fixed_response(
    status: str, body: str | None = None, content_type: str = "text/plain"
) -> dict[str, Any]:
    config: dict[str, Any] = {"StatusCode": status}
    if body is not None:
        config["MessageBody"] = body
        config["ContentType"] = content_type
    return {"Type": "fixed-response", "FixedResponseConfig": config}


def redirect(**config: str) -> dict[str, Any]:
    return {"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301", **config}}


def path(*values: str) -> dict[str, Any]:
    return {"Field": "path-pattern", "PathPatternConfig": {"Values": list(values)}}


def host(*values: str) -> dict[str, Any]:
    return {"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}


def listener(
    lb: LoadBalancer, port: int, default: dict[str, Any], protocol: str = "HTTP"
) -> Listener:
    return Listener(
        arn=f"{PREFIX}:listener/app/{lb.name}/{next(_ids):016x}/{next(_ids):016x}",
        load_balancer_arn=lb.arn,
        port=port,
        protocol=protocol,
        default_actions=[default],
        created_at=float(next(_ids)),
    )


def rule(
    owner: Listener, priority: int, conditions: list[dict[str, Any]], action: dict[str, Any]
) -> Rule:
    return Rule(
        arn=f"{owner.arn.replace(':listener/', ':listener-rule/')}/{next(_ids):016x}",
        listener_arn=owner.arn,
        priority=priority,
        conditions=conditions,
        actions=[action],
    )


def target(group: TargetGroup, port: int, *, address: str = "127.0.0.1", **fields: Any) -> Target:
    return Target(
        target_group_arn=group.arn,
        id=address,
        port=port,
        address=address,
        registered_at=1.0,
        **fields,
    )


def snapshot(
    lbs: list[LoadBalancer],
    listeners: list[Listener],
    groups: list[TargetGroup],
    rules: list[Rule] | None = None,
    targets: list[Target] | None = None,
) -> LoadBalancingSnapshot:
    return LoadBalancingSnapshot(
        load_balancers=lbs,
        listeners=listeners,
        rules=rules or [],
        target_groups=groups,
        targets=targets or [],
    )
