"""The elbv2 rules that need no database: ARNs, names, health checks, target group
attributes, target ids, and what DescribeTargetHealth reports for a target.

Messages follow AWS's wording where it is known. Everything here raises the
errors of `openecs.domain.errors`; nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from openecs.domain.errors import (
    InvalidConfigurationRequestException,
    UnsupportedProtocolException,
    ValidationError,
)
from openecs.domain.load_balancing import (
    DEFAULT_TARGET_GROUP_ATTRIBUTES,
    HealthCheck,
    Target,
    TargetState,
)
from openecs.domain.scope import Scope

__all__ = [
    "LISTENER_ADDRESS",
    "ElbArn",
    "TargetHealthReason",
    "apply_health_check",
    "describe_health",
    "listener_arn",
    "load_balancer_arn",
    "load_balancer_dns_name",
    "merge_target_group_attributes",
    "parse_elb_arn",
    "rule_arn",
    "target_group_arn",
    "validate_ip_target",
    "validate_load_balancer_name",
    "validate_target_group_name",
]

# The data plane binds every listener on this address (port = the listener's port).
LISTENER_ADDRESS = "127.0.0.1"

_NAME = re.compile(r"[A-Za-z0-9-]+")
_NAME_MAX = 32
_PARTITION_SERVICE = "arn:aws:elasticloadbalancing"


# --- ARNs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElbArn:
    """An elbv2 ARN taken apart. `kind` is loadbalancer, targetgroup, listener or
    listener-rule; `parts` are the path segments after the kind (and after `app/`)."""

    kind: str
    region: str
    account_id: str
    parts: tuple[str, ...]


# How many path segments each kind has after its prefix (names, then ids).
_ARN_SHAPES = {
    "loadbalancer": ("loadbalancer/app/", 2),
    "targetgroup": ("targetgroup/", 2),
    "listener": ("listener/app/", 3),
    "listener-rule": ("listener-rule/app/", 4),
}


def parse_elb_arn(text: str) -> ElbArn | None:
    """An application load balancing ARN, or None when `text` is not one."""
    pieces = text.split(":", 5)
    if len(pieces) != 6 or ":".join(pieces[:3]) != _PARTITION_SERVICE:
        return None
    _, _, _, region, account, resource = pieces
    for kind, (prefix, count) in _ARN_SHAPES.items():
        if resource.startswith(prefix):
            parts = tuple(resource[len(prefix) :].split("/"))
            if len(parts) == count and all(parts):
                return ElbArn(kind, region, account, parts)
    return None


def _base(scope: Scope) -> str:
    return f"{_PARTITION_SERVICE}:{scope.region}:{scope.account_id}"


def load_balancer_arn(scope: Scope, name: str, lb_id: str) -> str:
    return f"{_base(scope)}:loadbalancer/app/{name}/{lb_id}"


def target_group_arn(scope: Scope, name: str, tg_id: str) -> str:
    return f"{_base(scope)}:targetgroup/{name}/{tg_id}"


def listener_arn(lb_arn: str, listener_id: str) -> str:
    """loadbalancer/app/NAME/LBID → listener/app/NAME/LBID/ID."""
    head, _, tail = lb_arn.partition(":loadbalancer/")
    return f"{head}:listener/{tail}/{listener_id}"


def rule_arn(listener: str, rule_id: str) -> str:
    """listener/app/NAME/LBID/LID → listener-rule/app/NAME/LBID/LID/ID."""
    head, _, tail = listener.partition(":listener/")
    return f"{head}:listener-rule/{tail}/{rule_id}"


def load_balancer_dns_name(name: str, lb_id: str, region: str, *, wildcard_localhost: bool) -> str:
    """A name that reaches the load balancer from this host. `*.localhost` resolves to
    loopback where the resolver implements RFC 6761 (systemd-resolved, most macOS and
    browsers); elsewhere the loopback address itself is the only name sure to work."""
    if wildcard_localhost:
        return f"{name}-{lb_id}.{region}.elb.localhost".lower()
    return LISTENER_ADDRESS


# --- names -----------------------------------------------------------------------------


def validate_load_balancer_name(name: str) -> str:
    if len(name) > _NAME_MAX:
        raise ValidationError(
            f"Load balancer name '{name}' cannot be longer than '{_NAME_MAX}' characters"
        )
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"Load balancer name '{name}' can only contain characters that are "
            "alphanumeric characters or hyphens(-)"
        )
    if name.startswith("-") or name.endswith("-"):
        raise ValidationError(f"Load balancer name '{name}' cannot begin or end with '-'")
    if name.lower().startswith("internal-"):
        raise ValidationError(f"Load balancer name '{name}' cannot begin with 'internal-'")
    return name


def validate_target_group_name(name: str) -> str:
    if len(name) > _NAME_MAX:
        raise ValidationError(
            f"Target group name '{name}' cannot be longer than '{_NAME_MAX}' characters"
        )
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"Target group name '{name}' can only contain characters that are "
            "alphanumeric characters or hyphens(-)"
        )
    if name.startswith("-") or name.endswith("-"):
        raise ValidationError(f"Target group name '{name}' cannot begin or end with '-'")
    return name


# --- health checks ---------------------------------------------------------------------

_MATCHER_LOW, _MATCHER_HIGH = 200, 499
_MATCHER_ITEM = re.compile(r"(\d{3})(?:-(\d{3}))?")


def _validate_matcher(code: str) -> str:
    for item in code.split(","):
        found = _MATCHER_ITEM.fullmatch(item)
        if found is None:
            raise ValidationError(f"Health check matcher HTTP code '{code}' is not valid")
        low = int(found.group(1))
        high = int(found.group(2) or low)
        for value in (low, high):
            if not _MATCHER_LOW <= value <= _MATCHER_HIGH:
                raise ValidationError(
                    f"Health check matcher HTTP code '{value}' must be within "
                    f"'{_MATCHER_LOW}-{_MATCHER_HIGH}' range"
                )
        if high < low:
            raise ValidationError(
                f"Health check matcher HTTP code range '{item}' must go from low to high"
            )
    return code


def _validate_port(port: str) -> str:
    if port == "traffic-port":
        return port
    if port.isdigit() and 1 <= int(port) <= 65535:
        return str(int(port))
    raise ValidationError(
        f"Health check port '{port}' must be 'traffic-port' or a number between 1 and 65535"
    )


def apply_health_check(
    base: HealthCheck,
    *,
    target_type: str,
    protocol: str | None = None,
    port: str | None = None,
    enabled: bool | None = None,
    path: str | None = None,
    interval_seconds: int | None = None,
    timeout_seconds: int | None = None,
    healthy_threshold: int | None = None,
    unhealthy_threshold: int | None = None,
    matcher: Mapping[str, str] | None = None,
) -> HealthCheck:
    """`base` with the given settings changed, checked as a whole."""
    if protocol is not None and protocol != "HTTP":
        if protocol == "HTTPS":
            raise UnsupportedProtocolException(
                "Health check protocol 'HTTPS' is not supported by OpenECS; use 'HTTP'"
            )
        raise ValidationError(
            f"Health check protocol '{protocol}' is not supported for target groups "
            "with the HTTP protocol"
        )
    if enabled is False and target_type in ("instance", "ip"):
        raise ValidationError(
            f"Health check enabled must be true for target groups with target type '{target_type}'"
        )
    if path is not None and not path.startswith("/"):
        raise ValidationError("Health check path must begin with a '/' character")
    http_code = None
    if matcher is not None:
        if matcher.get("GrpcCode") is not None:
            raise ValidationError(
                "A gRPC matcher can only be used with target groups whose protocol "
                "version is 'GRPC'"
            )
        http_code = matcher.get("HttpCode")
        if http_code is None:
            raise ValidationError("A health check matcher must have an HTTP code")
    changed = replace(
        base,
        protocol=protocol or base.protocol,
        port=_validate_port(port) if port is not None else base.port,
        enabled=base.enabled if enabled is None else enabled,
        path=path or base.path,
        interval_seconds=interval_seconds or base.interval_seconds,
        timeout_seconds=timeout_seconds or base.timeout_seconds,
        healthy_threshold=healthy_threshold or base.healthy_threshold,
        unhealthy_threshold=unhealthy_threshold or base.unhealthy_threshold,
        matcher=_validate_matcher(http_code) if http_code is not None else base.matcher,
    )
    if changed.timeout_seconds >= changed.interval_seconds:
        raise ValidationError("Health check interval must be greater than the timeout.")
    return changed


# --- target group attributes -----------------------------------------------------------


def _integer(key: str, value: str, low: int, high: int) -> str:
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValidationError(
            f"Target group attribute key '{key}' must be an integer between {low} and {high}"
        )
    return str(int(value))


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValidationError(
            f"Target group attribute key '{key}' must be one of [{', '.join(allowed)}]"
        )
    return value


def _slow_start(key: str, value: str) -> str:
    seconds = _integer(key, value, 0, 900)
    if 0 < int(seconds) < 30:
        raise ValidationError(f"Target group attribute key '{key}' must be 0 or between 30 and 900")
    return seconds


_ATTRIBUTE_RULES = {
    "deregistration_delay.timeout_seconds": lambda k, v: _integer(k, v, 0, 3600),
    "stickiness.enabled": lambda k, v: _choice(k, v.lower(), ("true", "false")),
    "stickiness.type": lambda k, v: _choice(k, v, ("lb_cookie",)),
    "stickiness.lb_cookie.duration_seconds": lambda k, v: _integer(k, v, 1, 604800),
    "load_balancing.algorithm.type": lambda k, v: _choice(
        k, v, ("round_robin", "least_outstanding_requests")
    ),
    "slow_start.duration_seconds": _slow_start,
}


def merge_target_group_attributes(
    current: Mapping[str, str], changes: Iterable[Mapping[str, str]]
) -> dict[str, str]:
    """The attributes after ModifyTargetGroupAttributes, every value checked."""
    merged = {**DEFAULT_TARGET_GROUP_ATTRIBUTES, **current}
    for change in changes:
        key = change.get("Key")
        value = change.get("Value")
        if key is None:
            raise ValidationError("A target group attribute key must be specified")
        rule = _ATTRIBUTE_RULES.get(key)
        if rule is None:
            raise ValidationError(f"Target group attribute key '{key}' is not recognized")
        if value is None:
            raise ValidationError(f"A value must be specified for target group attribute '{key}'")
        merged[key] = rule(key, value)
    if (
        merged["load_balancing.algorithm.type"] == "least_outstanding_requests"
        and merged["slow_start.duration_seconds"] != "0"
    ):
        raise InvalidConfigurationRequestException(
            "Slow start mode cannot be used with the 'least_outstanding_requests' "
            "load balancing algorithm"
        )
    return merged


# --- targets ---------------------------------------------------------------------------


def validate_ip_target(target_id: str) -> str:
    """An `ip` target's Id: an IPv4 address that can receive traffic."""
    try:
        address = ipaddress.IPv4Address(target_id)
    except ValueError:
        raise ValidationError(f"The IP address '{target_id}' is not a valid IPv4 address") from None
    if address.is_unspecified or address.is_multicast or target_id == "255.255.255.255":
        raise ValidationError(f"The IP address '{target_id}' cannot be registered as a target")
    return str(address)


class TargetHealthReason:
    REGISTRATION_IN_PROGRESS = "Elb.RegistrationInProgress"
    INITIAL_HEALTH_CHECKING = "Elb.InitialHealthChecking"
    RESPONSE_CODE_MISMATCH = "Target.ResponseCodeMismatch"
    TIMEOUT = "Target.Timeout"
    FAILED_HEALTH_CHECKS = "Target.FailedHealthChecks"
    NOT_REGISTERED = "Target.NotRegistered"
    NOT_IN_USE = "Target.NotInUse"
    DEREGISTRATION_IN_PROGRESS = "Target.DeregistrationInProgress"

    DESCRIPTIONS: Mapping[str, str] = {
        REGISTRATION_IN_PROGRESS: "Target registration is in progress",
        INITIAL_HEALTH_CHECKING: "Initial health checks in progress",
        TIMEOUT: "Request timed out",
        FAILED_HEALTH_CHECKS: "Health checks failed",
        NOT_REGISTERED: "Target is not registered to the target group",
        NOT_IN_USE: "Target group is not configured to receive traffic from the load balancer",
        DEREGISTRATION_IN_PROGRESS: "Target deregistration is in progress",
    }


def describe_health(
    target: Target, *, in_use: bool, now: float
) -> tuple[str, str | None, str | None]:
    """(state, reason, description) as DescribeTargetHealth shows a registered target:
    draining wins, then a group no listener forwards to, then what health checks saw."""
    if target.draining_until is not None and target.draining_until > now:
        reason = TargetHealthReason.DEREGISTRATION_IN_PROGRESS
        return TargetState.DRAINING, reason, TargetHealthReason.DESCRIPTIONS[reason]
    if not in_use:
        reason = TargetHealthReason.NOT_IN_USE
        return TargetState.UNUSED, reason, TargetHealthReason.DESCRIPTIONS[reason]
    if target.state == TargetState.HEALTHY:
        return TargetState.HEALTHY, None, None
    return target.state, target.reason, target.description
