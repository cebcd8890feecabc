"""Application load balancers (elbv2): create, describe, delete; and the two calls
the data plane makes: `read_snapshot` (everything it renders HAProxy from) and
`record_target_health` (what its health checks saw).

LIMITATIONS (where OpenECS differs from AWS):
* Only `application` load balancers with `ipv4` addresses; they become `active`
  at once. Subnets and security groups are recorded, not enforced.
* Every listener is bound by the data plane on 127.0.0.1 (`LoadBalancer.address`,
  shown as the load balancer's address in AvailabilityZones). DNSName is
  `<name>-<id>.<region>.elb.localhost` where this host resolves `*.localhost` to
  loopback, else 127.0.0.1.
"""

from __future__ import annotations

import functools
import secrets
import socket
from collections.abc import Sequence

from sqlalchemy import Connection

from openecs.domain.errors import (
    DuplicateLoadBalancerNameException,
    LoadBalancerNotFoundException,
    TooManyLoadBalancersException,
    ValidationError,
)
from openecs.domain.load_balancing import LoadBalancer, LoadBalancingSnapshot, TargetState
from openecs.domain.load_balancing_rules import (
    LISTENER_ADDRESS,
    load_balancer_arn,
    load_balancer_dns_name,
    validate_load_balancer_name,
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
    tags_from_api,
    write_and_wake,
)

__all__ = [
    "HealthUpdate",
    "create_load_balancer",
    "delete_load_balancer",
    "describe_load_balancers",
    "read_snapshot",
    "record_target_health",
]

# AWS's default quota of application load balancers per region.
MAX_LOAD_BALANCERS = 50

# (target_group_arn, target_id, port, state, reason, description)
HealthUpdate = tuple[str, str, int, str, str | None, str | None]

_STATES = {
    TargetState.INITIAL,
    TargetState.HEALTHY,
    TargetState.UNHEALTHY,
    TargetState.UNUSED,
    TargetState.DRAINING,
    TargetState.UNAVAILABLE,
}


@functools.cache
def _wildcard_localhost_resolves() -> bool:
    """Whether `*.localhost` names resolve to loopback on this host (asked once)."""
    try:
        found = socket.getaddrinfo("openecs-probe.elb.localhost", 80, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return any(info[4][0] == LISTENER_ADDRESS for info in found)


def create_load_balancer(
    backend: Backend,
    scope: Scope,
    *,
    name: str,
    subnets: Sequence[str] | None = None,
    security_groups: Sequence[str] | None = None,
    scheme: str | None = None,
    lb_type: str | None = None,
    ip_address_type: str | None = None,
    tags: Sequence[dict[str, str]] | None = None,
) -> LoadBalancer:
    validate_load_balancer_name(name)
    if (lb_type or "application") != "application":
        raise ValidationError(
            f"Load balancer type '{lb_type}' is not supported by OpenECS; use 'application'"
        )
    if (ip_address_type or "ipv4") != "ipv4":
        raise ValidationError(
            f"IP address type '{ip_address_type}' is not supported by OpenECS; use 'ipv4'"
        )
    new_tags = tags_from_api(tags)
    lb_id = secrets.token_hex(8)
    dns_name = load_balancer_dns_name(
        name, lb_id, scope.region, wildcard_localhost=_wildcard_localhost_resolves()
    )

    def work(conn: Connection) -> LoadBalancer:
        existing = rows.get_load_balancer_by_name(conn, scope, name)
        if existing is not None:
            # CreateLoadBalancer is idempotent: the same request returns the same one.
            same = (
                existing.scheme == (scheme or "internet-facing")
                and (subnets is None or list(subnets) == existing.subnets)
                and (security_groups is None or list(security_groups) == existing.security_groups)
            )
            if not same:
                raise DuplicateLoadBalancerNameException(
                    f"A load balancer with the same name '{name}' exists, "
                    "but with different settings"
                )
            return existing
        if rows.count_load_balancers(conn, scope) >= MAX_LOAD_BALANCERS:
            raise TooManyLoadBalancersException(
                "You've reached the limit on the number of load balancers for your account"
            )
        lb = LoadBalancer(
            arn=load_balancer_arn(scope, name, lb_id),
            name=name,
            account_id=scope.account_id,
            region=scope.region,
            dns_name=dns_name,
            created_at=backend.clock.now(),
            scheme=scheme or "internet-facing",
            subnets=list(subnets or []),
            security_groups=list(security_groups or []),
            address=LISTENER_ADDRESS,
        )
        rows.insert_load_balancer(conn, lb)
        tag_rows.put_tags(conn, lb.arn, new_tags)
        return lb

    return write_and_wake(backend, work)


def describe_load_balancers(
    backend: Backend,
    scope: Scope,
    *,
    names: Sequence[str] | None = None,
    arns: Sequence[str] | None = None,
    marker: str | None = None,
    page_size: int | None = None,
) -> tuple[list[LoadBalancer], str | None]:
    if names and arns:
        raise ValidationError(
            "Load balancer names and load balancer ARNs cannot be specified at the same time"
        )
    for arn in arns or ():
        check_arn(arn, "loadbalancer")
    after = decode_marker(marker)
    size = page_size or DEFAULT_PAGE_SIZE
    with backend.reading() as conn:
        if names or arns:
            wanted = set(names or arns or ())
            found = rows.find_load_balancers(conn, scope, names=names or None, arns=arns or None)
            seen = {lb.name for lb in found} | {lb.arn for lb in found}
            if wanted - seen:
                raise LoadBalancerNotFoundException("One or more load balancers not found")
            rest = [lb for lb in found if after is None or lb.name > after]
        else:
            rest = rows.find_load_balancers(conn, scope, after=after, limit=size + 1)
    shown = rest[:size]
    return shown, encode_marker(shown[-1].name) if len(rest) > size else None


def delete_load_balancer(backend: Backend, scope: Scope, arn: str) -> None:
    """Delete a load balancer with its listeners and rules. Deleting one that does not
    exist succeeds, as on AWS."""
    check_arn(arn, "loadbalancer")

    def work(conn: Connection) -> None:
        lb = rows.get_load_balancer(conn, scope, arn)
        if lb is None:
            return
        for listener in rows.listeners_of(conn, arn):
            for rule in rows.rules_of(conn, listener.arn):
                tag_rows.delete_all(conn, rule.arn)
            tag_rows.delete_all(conn, listener.arn)
        tag_rows.delete_all(conn, arn)
        rows.delete_load_balancer(conn, arn)

    write_and_wake(backend, work)


# --- the data plane ------------------------------------------------------------------


def read_snapshot(backend: Backend) -> LoadBalancingSnapshot:
    """Everything the data plane renders, across accounts and regions, read in one
    transaction. Targets whose draining is over are left out (`Target.draining_until`
    set and in the future means draining: stop sending new requests)."""
    with backend.reading() as conn:
        return rows.read_snapshot(conn, backend.clock.now())


def record_target_health(backend: Backend, updates: list[HealthUpdate]) -> int:
    """Store what the data plane's health checks saw, as
    (target_group_arn, target_id, port, state, reason, description). Only rows whose
    health differs are written; targets no longer registered are skipped. Also
    deletes targets whose draining is over. Returns how many targets changed."""
    for update in updates:
        if update[3] not in _STATES:
            raise ValueError(f"not a target health state: {update[3]!r}")
    if not updates:
        return 0

    def work(conn: Connection) -> int:
        changed = rows.record_health(conn, updates)
        rows.purge_expired_targets(conn, backend.clock.now())
        return changed

    return backend.write(work)
