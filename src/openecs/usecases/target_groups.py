"""Target groups (elbv2): create, modify, describe, delete, attributes; and their
targets: register, deregister (draining), health.

LIMITATIONS (where OpenECS differs from AWS):
* HTTP target groups of type `instance` or `ip` only, HTTP health checks.
* `ip` targets may be any unicast IPv4 address, loopback included (published
  ports live on 127.0.0.1); VPC ranges are not checked.
* `instance` targets are the EC2 instance ids of the account's registered EC2
  container instances; traffic goes to the instance's host address.
* A target's health is what the data plane last recorded; until it reports,
  a target of a group in use is `initial` (Elb.RegistrationInProgress).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from openecs.domain.errors import (
    DuplicateTargetGroupNameException,
    InvalidTargetException,
    ResourceInUseException,
    TargetGroupNotFoundException,
    TooManyTargetGroupsException,
    TooManyTargetsException,
    UnsupportedProtocolException,
    ValidationError,
)
from openecs.domain.load_balancing import (
    DEFAULT_TARGET_GROUP_ATTRIBUTES,
    HealthCheck,
    Target,
    TargetGroup,
    TargetState,
)
from openecs.domain.load_balancing_rules import (
    TargetHealthReason,
    apply_health_check,
    describe_health,
    merge_target_group_attributes,
    target_group_arn,
    validate_ip_target,
    validate_target_group_name,
)
from openecs.domain.scope import Scope
from openecs.store import load_balancing as rows
from openecs.store import tags as tag_rows
from openecs.usecases.backend import Backend
from openecs.usecases.load_balancing_lookups import (
    DEFAULT_PAGE_SIZE,
    check_arn,
    decode_marker,
    encode_marker,
    require_load_balancer,
    require_target_group,
    tags_from_api,
    write_and_wake,
)

__all__ = [
    "TargetGroupView",
    "TargetHealthView",
    "create_target_group",
    "delete_target_group",
    "deregister_targets",
    "describe_target_group_attributes",
    "describe_target_groups",
    "describe_target_health",
    "modify_target_group",
    "modify_target_group_attributes",
    "register_targets",
]

# AWS's default quotas.
MAX_TARGET_GROUPS = 3000
MAX_TARGETS_PER_GROUP = 1000

_TARGET_TYPES = ("instance", "ip")
_MAX_ZONE_NAME = 64
_PROTOCOL_VERSIONS = ("HTTP1", "HTTP2", "GRPC")


@dataclass(slots=True)
class TargetGroupView:
    target_group: TargetGroup
    load_balancer_arns: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TargetHealthView:
    target_id: str
    port: int
    availability_zone: str | None
    health_check_port: str
    state: str
    reason: str | None
    description: str | None


def _check_settings(
    *, protocol: str | None, port: int | None, target_type: str, protocol_version: str | None
) -> None:
    if target_type not in _TARGET_TYPES:
        raise ValidationError(
            f"Target type '{target_type}' is not supported by OpenECS; use 'instance' or 'ip'"
        )
    if protocol is None:
        raise ValidationError(
            f"A protocol must be specified for target groups with target type '{target_type}'"
        )
    if protocol != "HTTP":
        raise UnsupportedProtocolException(
            f"Protocol '{protocol}' is not supported by OpenECS target groups; use 'HTTP'"
        )
    if port is None:
        raise ValidationError(
            f"A port must be specified for target groups with target type '{target_type}'"
        )
    if protocol_version is not None and protocol_version not in _PROTOCOL_VERSIONS:
        raise ValidationError(f"Protocol version '{protocol_version}' is not valid")
    if protocol_version not in (None, "HTTP1"):
        raise ValidationError(
            f"Protocol version '{protocol_version}' is not supported by OpenECS; use 'HTTP1'"
        )


def create_target_group(
    backend: Backend,
    scope: Scope,
    *,
    name: str,
    protocol: str | None = None,
    port: int | None = None,
    protocol_version: str | None = None,
    vpc_id: str | None = None,
    target_type: str | None = None,
    ip_address_type: str | None = None,
    health_check: Mapping[str, Any] | None = None,
    tags: Sequence[dict[str, str]] | None = None,
) -> TargetGroupView:
    """`health_check` holds `apply_health_check`'s keyword arguments."""
    validate_target_group_name(name)
    kind = target_type or "instance"
    _check_settings(
        protocol=protocol, port=port, target_type=kind, protocol_version=protocol_version
    )
    assert protocol is not None and port is not None
    if (ip_address_type or "ipv4") != "ipv4":
        raise ValidationError(
            f"IP address type '{ip_address_type}' is not supported by OpenECS; use 'ipv4'"
        )
    checks = apply_health_check(HealthCheck(), target_type=kind, **(health_check or {}))
    new_tags = tags_from_api(tags)
    tg_id = secrets.token_hex(8)

    def work(conn: Connection) -> TargetGroupView:
        existing = rows.get_target_group_by_name(conn, scope, name)
        if existing is not None:
            # CreateTargetGroup is idempotent: the same request returns the same group.
            same = (
                existing.protocol == protocol
                and existing.port == port
                and existing.target_type == kind
                and existing.vpc_id == vpc_id
                and existing.health_check == checks
            )
            if not same:
                raise DuplicateTargetGroupNameException(
                    f"A target group with the same name '{name}' exists, "
                    "but with different settings"
                )
            return TargetGroupView(
                existing, rows.load_balancers_of(conn, [existing.arn])[existing.arn]
            )
        if rows.count_target_groups(conn, scope) >= MAX_TARGET_GROUPS:
            raise TooManyTargetGroupsException(
                "You've reached the limit on the number of target groups for your account"
            )
        tg = TargetGroup(
            arn=target_group_arn(scope, name, tg_id),
            name=name,
            account_id=scope.account_id,
            region=scope.region,
            protocol=protocol,
            port=port,
            target_type=kind,
            created_at=backend.clock.now(),
            vpc_id=vpc_id,
            health_check=checks,
            attributes=dict(DEFAULT_TARGET_GROUP_ATTRIBUTES),
        )
        rows.insert_target_group(conn, tg)
        tag_rows.put_tags(conn, tg.arn, new_tags)
        return TargetGroupView(tg)

    return write_and_wake(backend, work)


def modify_target_group(
    backend: Backend, scope: Scope, arn: str, health_check: Mapping[str, Any]
) -> TargetGroupView:
    def work(conn: Connection) -> TargetGroupView:
        tg = require_target_group(conn, scope, arn)
        tg.health_check = apply_health_check(
            tg.health_check, target_type=tg.target_type, **health_check
        )
        rows.save_target_group(conn, tg)
        return TargetGroupView(tg, rows.load_balancers_of(conn, [tg.arn])[tg.arn])

    return write_and_wake(backend, work)


def describe_target_groups(
    backend: Backend,
    scope: Scope,
    *,
    load_balancer_arn: str | None = None,
    arns: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    marker: str | None = None,
    page_size: int | None = None,
) -> tuple[list[TargetGroupView], str | None]:
    if sum(1 for given in (load_balancer_arn, arns, names) if given) > 1:
        raise ValidationError(
            "Target group names, target group ARNs, and a load balancer ARN cannot be "
            "specified at the same time"
        )
    for arn in arns or ():
        check_arn(arn, "targetgroup")
    after = decode_marker(marker)
    size = page_size or DEFAULT_PAGE_SIZE
    with backend.reading() as conn:
        if load_balancer_arn:
            require_load_balancer(conn, scope, load_balancer_arn)
            used = rows.target_groups_of_load_balancer(conn, load_balancer_arn)
            found = rows.find_target_groups(conn, scope, arns=used) if used else []
        elif arns or names:
            wanted = set(arns or names or ())
            found = rows.find_target_groups(conn, scope, names=names or None, arns=arns or None)
            if wanted - ({tg.arn for tg in found} | {tg.name for tg in found}):
                raise TargetGroupNotFoundException("One or more target groups not found")
        else:
            found = rows.find_target_groups(conn, scope, after=after, limit=size + 1)
            after = None
        rest = [tg for tg in found if after is None or tg.name > after]
        shown = rest[:size]
        users = rows.load_balancers_of(conn, [tg.arn for tg in shown])
    next_marker = encode_marker(shown[-1].name) if len(rest) > size else None
    return [TargetGroupView(tg, users[tg.arn]) for tg in shown], next_marker


def delete_target_group(backend: Backend, scope: Scope, arn: str) -> None:
    """Delete a target group and its targets. One that does not exist is already
    deleted (AWS documents no not-found error here); one in use is refused."""
    check_arn(arn, "targetgroup")

    def work(conn: Connection) -> None:
        tg = rows.get_target_group(conn, scope, arn)
        if tg is None:
            return
        if rows.forwarding_rules(conn, arn):
            raise ResourceInUseException(
                f"Target group '{arn}' is currently in use by a listener or a rule"
            )
        tag_rows.delete_all(conn, arn)
        rows.delete_target_group(conn, arn)

    write_and_wake(backend, work)


def _attribute_list(attributes: Mapping[str, str]) -> list[tuple[str, str]]:
    return list({**DEFAULT_TARGET_GROUP_ATTRIBUTES, **attributes}.items())


def modify_target_group_attributes(
    backend: Backend, scope: Scope, arn: str, changes: Sequence[Mapping[str, str]]
) -> list[tuple[str, str]]:
    def work(conn: Connection) -> list[tuple[str, str]]:
        tg = require_target_group(conn, scope, arn)
        tg.attributes = merge_target_group_attributes(tg.attributes, changes)
        rows.save_target_group(conn, tg)
        return _attribute_list(tg.attributes)

    return write_and_wake(backend, work)


def describe_target_group_attributes(
    backend: Backend, scope: Scope, arn: str
) -> list[tuple[str, str]]:
    with backend.reading() as conn:
        return _attribute_list(require_target_group(conn, scope, arn).attributes)


# --- targets -------------------------------------------------------------------------


def _not_valid(kind: str, ids: Sequence[str]) -> InvalidTargetException:
    listed = ", ".join(f"'{i}'" for i in ids)
    return InvalidTargetException(f"The following targets are {kind}: {listed}")


def register_targets_in(
    conn: Connection,
    scope: Scope,
    arn: str,
    descriptions: Sequence[Mapping[str, Any]],
    now: float,
) -> None:
    """RegisterTargets inside the caller's transaction (ECS services use it too)."""
    tg = require_target_group(conn, scope, arn)
    rows.purge_expired_targets(conn, now, arn)
    wanted: dict[tuple[str, int], Mapping[str, Any]] = {}
    for description in descriptions:
        zone = description.get("AvailabilityZone")
        if zone is not None and not 0 < len(zone) <= _MAX_ZONE_NAME:
            raise ValidationError(f"Availability zone '{zone[:100]}' is not valid")
        wanted[(description["Id"], description.get("Port") or tg.port)] = description
    addresses: dict[str, tuple[str, str | None]]
    if tg.target_type == "ip":
        addresses = {target_id: (validate_ip_target(target_id), None) for target_id, _ in wanted}
    else:
        addresses = rows.instance_addresses(conn, scope, {i for i, _ in wanted})
        missing = sorted({i for i, _ in wanted} - set(addresses))
        if missing:
            raise _not_valid("not in a running state and cannot be registered", missing)
    current = {(t.id, t.port): t for t in rows.targets_of(conn, arn, now)}
    new: list[Target] = []
    for (target_id, port), description in wanted.items():
        existing = current.get((target_id, port))
        if existing is not None and existing.draining_until is None:
            continue
        address, zone = addresses[target_id]
        reason = TargetHealthReason.REGISTRATION_IN_PROGRESS
        new.append(
            Target(
                target_group_arn=arn,
                id=target_id,
                port=port,
                address=address,
                registered_at=now,
                availability_zone=description.get("AvailabilityZone") or zone,
                state=TargetState.INITIAL,
                reason=reason,
                description=TargetHealthReason.DESCRIPTIONS[reason],
            )
        )
    fresh = sum(1 for t in new if (t.id, t.port) not in current)
    if len(current) + fresh > MAX_TARGETS_PER_GROUP:
        raise TooManyTargetsException(
            f"You've reached the limit of {MAX_TARGETS_PER_GROUP} targets per target group"
        )
    rows.put_targets(conn, new)


def register_targets(
    backend: Backend, scope: Scope, arn: str, descriptions: Sequence[Mapping[str, Any]]
) -> None:
    write_and_wake(
        backend,
        lambda conn: register_targets_in(conn, scope, arn, descriptions, backend.clock.now()),
    )


def deregister_targets_in(
    conn: Connection,
    scope: Scope,
    arn: str,
    descriptions: Sequence[Mapping[str, Any]],
    now: float,
    *,
    missing_ok: bool = False,
) -> float:
    """DeregisterTargets inside the caller's transaction; returns when draining ends
    (`now` when the targets are gone at once)."""
    tg = require_target_group(conn, scope, arn)
    current = rows.targets_of(conn, arn, now)
    chosen: dict[tuple[str, int], Target] = {}
    missing: list[str] = []
    for description in descriptions:
        port = description.get("Port")
        matches = [t for t in current if t.id == description["Id"] and port in (None, t.port)]
        if not matches:
            missing.append(f"{description['Id']}:{port or tg.port}")
        chosen.update({(t.id, t.port): t for t in matches})
    if missing and not missing_ok:
        raise _not_valid(f"not registered in target group '{arn}'", missing)
    delay = int(tg.attributes.get("deregistration_delay.timeout_seconds", "300"))
    if delay == 0 or not rows.forwarding_rules(conn, arn):
        rows.delete_targets(conn, arn, chosen)
        return now
    draining = [t for t in chosen.values() if t.draining_until is None]
    for target in draining:
        target.draining_until = now + delay
    rows.put_targets(conn, draining)
    return max([t.draining_until or now for t in chosen.values()], default=now)


def deregister_targets(
    backend: Backend, scope: Scope, arn: str, descriptions: Sequence[Mapping[str, Any]]
) -> None:
    """Registered targets drain for the group's deregistration delay, then are gone;
    right away when the delay is 0 or no listener forwards to the group."""
    write_and_wake(
        backend,
        lambda conn: deregister_targets_in(conn, scope, arn, descriptions, backend.clock.now()),
    )


def describe_target_health(
    backend: Backend,
    scope: Scope,
    arn: str,
    descriptions: Sequence[Mapping[str, Any]] | None = None,
) -> list[TargetHealthView]:
    with backend.reading() as conn:
        tg = require_target_group(conn, scope, arn)
        now = backend.clock.now()
        registered = rows.targets_of(conn, arn, now)
        in_use = bool(rows.forwarding_rules(conn, arn))
    port_setting = tg.health_check.port

    def view(target: Target) -> TargetHealthView:
        state, reason, text = describe_health(target, in_use=in_use, now=now)
        return TargetHealthView(
            target.id,
            target.port,
            target.availability_zone,
            str(target.port) if port_setting == "traffic-port" else port_setting,
            state,
            reason,
            text,
        )

    if not descriptions:
        return [view(t) for t in registered]
    out: list[TargetHealthView] = []
    for description in descriptions:
        port = description.get("Port")
        matches = [t for t in registered if t.id == description["Id"] and port in (None, t.port)]
        if matches:
            out.extend(view(t) for t in matches)
            continue
        reason = TargetHealthReason.NOT_REGISTERED
        shown_port = port or tg.port
        out.append(
            TargetHealthView(
                description["Id"],
                shown_port,
                description.get("AvailabilityZone"),
                str(shown_port) if port_setting == "traffic-port" else port_setting,
                TargetState.UNUSED,
                reason,
                TargetHealthReason.DESCRIPTIONS[reason],
            )
        )
    return out
