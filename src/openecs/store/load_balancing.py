"""Rows of application load balancing: load balancers, target groups, listeners,
rules (a listener's default actions are its default rule, priority NULL), the
target groups each rule forwards to, and registered targets.

Listeners carry the optimistic version for themselves and their rules: every
rule change saves the listener, so two writers cannot both take a priority.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, text, update

from openecs.domain.load_balancing import (
    HealthCheck,
    Listener,
    LoadBalancer,
    LoadBalancingSnapshot,
    Rule,
    Target,
    TargetGroup,
)
from openecs.domain.scope import Scope
from openecs.store.errors import ConcurrentUpdateError
from openecs.store.tables import (
    container_instances,
    listeners,
    load_balancers,
    rule_target_groups,
    rules,
    target_groups,
    targets,
)

__all__ = [
    "count_listeners",
    "count_load_balancers",
    "count_rules",
    "count_target_groups",
    "count_targets",
    "delete_listener",
    "delete_load_balancer",
    "delete_rule",
    "delete_target_group",
    "delete_targets",
    "find_load_balancers",
    "find_target_groups",
    "forwarding_rules",
    "get_listener",
    "get_listeners",
    "get_load_balancer",
    "get_load_balancer_by_name",
    "get_rule",
    "get_rules",
    "get_target_group",
    "get_target_group_by_name",
    "insert_listener",
    "insert_load_balancer",
    "insert_rule",
    "insert_target_group",
    "instance_addresses",
    "listeners_of",
    "load_balancers_of",
    "purge_expired_targets",
    "put_targets",
    "read_snapshot",
    "record_health",
    "rules_of",
    "save_listener",
    "save_load_balancer",
    "save_target_group",
    "set_rule_target_groups",
    "target_groups_of_load_balancer",
    "targets_of",
    "update_rule",
]


def _in_scope(table: Any, scope: Scope) -> tuple[Any, ...]:
    return (table.c.account_id == scope.account_id, table.c.region == scope.region)


# --- load balancers --------------------------------------------------------------------


def _lb_doc(lb: LoadBalancer) -> str:
    return json.dumps(
        {
            "dnsName": lb.dns_name,
            "scheme": lb.scheme,
            "type": lb.type,
            "state": lb.state,
            "ipAddressType": lb.ip_address_type,
            "subnets": lb.subnets,
            "securityGroups": lb.security_groups,
            "attributes": lb.attributes,
            "address": lb.address,
            "vpcId": lb.vpc_id,
        }
    )


def _lb_from_row(row: Any) -> LoadBalancer:
    doc = json.loads(row.doc)
    return LoadBalancer(
        arn=row.arn,
        name=row.name,
        account_id=row.account_id,
        region=row.region,
        dns_name=doc["dnsName"],
        created_at=row.created_at,
        scheme=doc["scheme"],
        type=doc["type"],
        state=doc["state"],
        ip_address_type=doc["ipAddressType"],
        subnets=doc["subnets"],
        security_groups=doc["securityGroups"],
        attributes=doc["attributes"],
        version=row.version,
        address=doc["address"],
        vpc_id=doc["vpcId"],
    )


def insert_load_balancer(conn: Connection, lb: LoadBalancer) -> None:
    conn.execute(
        insert(load_balancers).values(
            arn=lb.arn,
            account_id=lb.account_id,
            region=lb.region,
            name=lb.name,
            created_at=lb.created_at,
            version=lb.version,
            doc=_lb_doc(lb),
        )
    )


def save_load_balancer(conn: Connection, lb: LoadBalancer) -> None:
    result = conn.execute(
        update(load_balancers)
        .where(load_balancers.c.arn == lb.arn, load_balancers.c.version == lb.version)
        .values(doc=_lb_doc(lb), version=lb.version + 1)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdateError(lb.arn)
    lb.version += 1


def delete_load_balancer(conn: Connection, arn: str) -> None:
    """The load balancer, its listeners and their rules (by cascade)."""
    conn.execute(delete(load_balancers).where(load_balancers.c.arn == arn))


def get_load_balancer(conn: Connection, scope: Scope, arn: str) -> LoadBalancer | None:
    row = conn.execute(
        select(load_balancers).where(load_balancers.c.arn == arn, *_in_scope(load_balancers, scope))
    ).first()
    return _lb_from_row(row) if row else None


def get_load_balancer_by_name(conn: Connection, scope: Scope, name: str) -> LoadBalancer | None:
    row = conn.execute(
        select(load_balancers).where(
            *_in_scope(load_balancers, scope), load_balancers.c.name == name
        )
    ).first()
    return _lb_from_row(row) if row else None


def find_load_balancers(
    conn: Connection,
    scope: Scope,
    *,
    names: Sequence[str] | None = None,
    arns: Sequence[str] | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[LoadBalancer]:
    """Load balancers in name order, optionally only those named, after a name."""
    query = select(load_balancers).where(*_in_scope(load_balancers, scope))
    if names is not None:
        query = query.where(load_balancers.c.name.in_(list(names)))
    if arns is not None:
        query = query.where(load_balancers.c.arn.in_(list(arns)))
    if after is not None:
        query = query.where(load_balancers.c.name > after)
    query = query.order_by(load_balancers.c.name)
    if limit is not None:
        query = query.limit(limit)
    return [_lb_from_row(row) for row in conn.execute(query)]


def count_load_balancers(conn: Connection, scope: Scope) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(load_balancers)
            .where(*_in_scope(load_balancers, scope))
        ).scalar_one()
    )


# --- target groups ---------------------------------------------------------------------


def _tg_doc(tg: TargetGroup) -> str:
    return json.dumps(
        {
            "protocol": tg.protocol,
            "port": tg.port,
            "targetType": tg.target_type,
            "vpcId": tg.vpc_id,
            "protocolVersion": tg.protocol_version,
            "healthCheck": asdict(tg.health_check),
            "attributes": tg.attributes,
        }
    )


def _tg_from_row(row: Any) -> TargetGroup:
    doc = json.loads(row.doc)
    return TargetGroup(
        arn=row.arn,
        name=row.name,
        account_id=row.account_id,
        region=row.region,
        protocol=doc["protocol"],
        port=doc["port"],
        target_type=doc["targetType"],
        created_at=row.created_at,
        vpc_id=doc["vpcId"],
        protocol_version=doc["protocolVersion"],
        health_check=HealthCheck(**doc["healthCheck"]),
        attributes=doc["attributes"],
        version=row.version,
    )


def insert_target_group(conn: Connection, tg: TargetGroup) -> None:
    conn.execute(
        insert(target_groups).values(
            arn=tg.arn,
            account_id=tg.account_id,
            region=tg.region,
            name=tg.name,
            created_at=tg.created_at,
            version=tg.version,
            doc=_tg_doc(tg),
        )
    )


def save_target_group(conn: Connection, tg: TargetGroup) -> None:
    result = conn.execute(
        update(target_groups)
        .where(target_groups.c.arn == tg.arn, target_groups.c.version == tg.version)
        .values(doc=_tg_doc(tg), version=tg.version + 1)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdateError(tg.arn)
    tg.version += 1


def delete_target_group(conn: Connection, arn: str) -> None:
    """The target group and its targets (by cascade)."""
    conn.execute(delete(target_groups).where(target_groups.c.arn == arn))


def get_target_group(conn: Connection, scope: Scope, arn: str) -> TargetGroup | None:
    row = conn.execute(
        select(target_groups).where(target_groups.c.arn == arn, *_in_scope(target_groups, scope))
    ).first()
    return _tg_from_row(row) if row else None


def get_target_group_by_name(conn: Connection, scope: Scope, name: str) -> TargetGroup | None:
    row = conn.execute(
        select(target_groups).where(*_in_scope(target_groups, scope), target_groups.c.name == name)
    ).first()
    return _tg_from_row(row) if row else None


def find_target_groups(
    conn: Connection,
    scope: Scope,
    *,
    names: Sequence[str] | None = None,
    arns: Sequence[str] | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[TargetGroup]:
    """Target groups in name order, optionally only those named, after a name."""
    query = select(target_groups).where(*_in_scope(target_groups, scope))
    if names is not None:
        query = query.where(target_groups.c.name.in_(list(names)))
    if arns is not None:
        query = query.where(target_groups.c.arn.in_(list(arns)))
    if after is not None:
        query = query.where(target_groups.c.name > after)
    query = query.order_by(target_groups.c.name)
    if limit is not None:
        query = query.limit(limit)
    return [_tg_from_row(row) for row in conn.execute(query)]


def count_target_groups(conn: Connection, scope: Scope) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(target_groups).where(*_in_scope(target_groups, scope))
        ).scalar_one()
    )


def load_balancers_of(conn: Connection, tg_arns: Iterable[str]) -> dict[str, list[str]]:
    """For each target group, the load balancers whose listeners or rules forward to it."""
    wanted = list(tg_arns)
    out: dict[str, list[str]] = {arn: [] for arn in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        select(rule_target_groups.c.target_group_arn, rules.c.load_balancer_arn)
        .join(rules, rules.c.arn == rule_target_groups.c.rule_arn)
        .where(rule_target_groups.c.target_group_arn.in_(wanted))
        .distinct()
        .order_by(rules.c.load_balancer_arn)
    )
    for tg_arn, lb_arn in rows:
        out[tg_arn].append(lb_arn)
    return out


def target_groups_of_load_balancer(conn: Connection, lb_arn: str) -> list[str]:
    rows = conn.execute(
        select(rule_target_groups.c.target_group_arn)
        .join(rules, rules.c.arn == rule_target_groups.c.rule_arn)
        .where(rules.c.load_balancer_arn == lb_arn)
        .distinct()
    )
    return [row[0] for row in rows]


def forwarding_rules(conn: Connection, tg_arn: str) -> list[str]:
    """ARNs of the rules (default rules included) that forward to a target group."""
    rows = conn.execute(
        select(rule_target_groups.c.rule_arn).where(rule_target_groups.c.target_group_arn == tg_arn)
    )
    return [row[0] for row in rows]


# --- listeners -------------------------------------------------------------------------


def _listener_from_row(row: Any) -> Listener:
    doc = json.loads(row.doc)
    return Listener(
        arn=row.arn,
        load_balancer_arn=row.load_balancer_arn,
        port=row.port,
        protocol=doc["protocol"],
        default_actions=doc["defaultActions"],
        created_at=row.created_at,
        version=row.version,
    )


def _listener_doc(listener: Listener) -> str:
    return json.dumps({"protocol": listener.protocol, "defaultActions": listener.default_actions})


def insert_listener(conn: Connection, scope: Scope, listener: Listener) -> None:
    conn.execute(
        insert(listeners).values(
            arn=listener.arn,
            account_id=scope.account_id,
            region=scope.region,
            load_balancer_arn=listener.load_balancer_arn,
            port=listener.port,
            created_at=listener.created_at,
            version=listener.version,
            doc=_listener_doc(listener),
        )
    )


def save_listener(conn: Connection, listener: Listener) -> None:
    """Write back a listener read in this transaction (also claims its rules)."""
    result = conn.execute(
        update(listeners)
        .where(listeners.c.arn == listener.arn, listeners.c.version == listener.version)
        .values(port=listener.port, doc=_listener_doc(listener), version=listener.version + 1)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdateError(listener.arn)
    listener.version += 1


def delete_listener(conn: Connection, arn: str) -> None:
    """The listener and its rules (by cascade)."""
    conn.execute(delete(listeners).where(listeners.c.arn == arn))


def get_listener(conn: Connection, scope: Scope, arn: str) -> Listener | None:
    row = conn.execute(
        select(listeners).where(listeners.c.arn == arn, *_in_scope(listeners, scope))
    ).first()
    return _listener_from_row(row) if row else None


def get_listeners(conn: Connection, scope: Scope, arns: Sequence[str]) -> dict[str, Listener]:
    rows = conn.execute(
        select(listeners).where(listeners.c.arn.in_(list(arns)), *_in_scope(listeners, scope))
    )
    found = [_listener_from_row(row) for row in rows]
    return {listener.arn: listener for listener in found}


def listeners_of(conn: Connection, lb_arn: str) -> list[Listener]:
    rows = conn.execute(
        select(listeners).where(listeners.c.load_balancer_arn == lb_arn).order_by(listeners.c.port)
    )
    return [_listener_from_row(row) for row in rows]


def count_listeners(conn: Connection, lb_arn: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(listeners)
            .where(listeners.c.load_balancer_arn == lb_arn)
        ).scalar_one()
    )


# --- rules -----------------------------------------------------------------------------


def _rule_from_row(row: Any) -> Rule:
    doc = json.loads(row.doc)
    return Rule(
        arn=row.arn,
        listener_arn=row.listener_arn,
        priority=row.priority,
        conditions=doc["conditions"],
        actions=doc["actions"],
    )


def _rule_doc(rule: Rule) -> str:
    return json.dumps({"conditions": rule.conditions, "actions": rule.actions})


def insert_rule(conn: Connection, scope: Scope, rule: Rule, *, lb_arn: str, now: float) -> None:
    conn.execute(
        insert(rules).values(
            arn=rule.arn,
            account_id=scope.account_id,
            region=scope.region,
            listener_arn=rule.listener_arn,
            load_balancer_arn=lb_arn,
            priority=rule.priority,
            created_at=now,
            doc=_rule_doc(rule),
        )
    )


def update_rule(conn: Connection, rule: Rule) -> None:
    """Write a rule back; callers hold its listener's version (see `save_listener`)."""
    conn.execute(
        update(rules)
        .where(rules.c.arn == rule.arn)
        .values(priority=rule.priority, doc=_rule_doc(rule))
    )


def delete_rule(conn: Connection, arn: str) -> None:
    conn.execute(delete(rules).where(rules.c.arn == arn))


def get_rule(conn: Connection, scope: Scope, arn: str) -> Rule | None:
    row = conn.execute(select(rules).where(rules.c.arn == arn, *_in_scope(rules, scope))).first()
    return _rule_from_row(row) if row else None


def get_rules(conn: Connection, scope: Scope, arns: Sequence[str]) -> dict[str, Rule]:
    rows = conn.execute(select(rules).where(rules.c.arn.in_(list(arns)), *_in_scope(rules, scope)))
    found = [_rule_from_row(row) for row in rows]
    return {rule.arn: rule for rule in found}


def _rule_order() -> tuple[Any, ...]:
    # Priority order with the default rule (NULL) last, on both engines.
    return (rules.c.priority.is_(None), rules.c.priority)


def rules_of(conn: Connection, listener_arn: str) -> list[Rule]:
    rows = conn.execute(
        select(rules).where(rules.c.listener_arn == listener_arn).order_by(*_rule_order())
    )
    return [_rule_from_row(row) for row in rows]


def count_rules(conn: Connection, listener_arn: str) -> int:
    """Rules of a listener besides its default rule."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(rules)
            .where(rules.c.listener_arn == listener_arn, rules.c.priority.is_not(None))
        ).scalar_one()
    )


def set_rule_target_groups(conn: Connection, rule_arn: str, tg_arns: Sequence[str]) -> None:
    conn.execute(delete(rule_target_groups).where(rule_target_groups.c.rule_arn == rule_arn))
    if tg_arns:
        conn.execute(
            insert(rule_target_groups),
            [{"rule_arn": rule_arn, "target_group_arn": arn} for arn in tg_arns],
        )


# --- targets ---------------------------------------------------------------------------


def _target_from_row(row: Any) -> Target:
    return Target(
        target_group_arn=row.target_group_arn,
        id=row.target_id,
        port=row.port,
        address=row.address,
        registered_at=row.registered_at,
        availability_zone=row.availability_zone,
        state=row.state,
        reason=row.reason,
        description=row.description,
        draining_until=row.draining_until,
    )


def _live(now: float) -> Any:
    """Targets still registered: not deregistered, or still draining."""
    return or_(targets.c.draining_until.is_(None), targets.c.draining_until > now)


def targets_of(conn: Connection, tg_arn: str, now: float) -> list[Target]:
    rows = conn.execute(
        select(targets)
        .where(targets.c.target_group_arn == tg_arn, _live(now))
        .order_by(targets.c.target_id, targets.c.port)
    )
    return [_target_from_row(row) for row in rows]


def count_targets(conn: Connection, tg_arn: str, now: float) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(targets)
            .where(targets.c.target_group_arn == tg_arn, _live(now))
        ).scalar_one()
    )


def put_targets(conn: Connection, items: Sequence[Target]) -> None:
    """Insert or replace targets (a re-registered target starts over)."""
    for target in items:
        conn.execute(
            delete(targets).where(
                targets.c.target_group_arn == target.target_group_arn,
                targets.c.target_id == target.id,
                targets.c.port == target.port,
            )
        )
    if items:
        conn.execute(
            insert(targets),
            [
                {
                    "target_group_arn": t.target_group_arn,
                    "target_id": t.id,
                    "port": t.port,
                    "address": t.address,
                    "availability_zone": t.availability_zone,
                    "registered_at": t.registered_at,
                    "state": t.state,
                    "reason": t.reason,
                    "description": t.description,
                    "draining_until": t.draining_until,
                }
                for t in items
            ],
        )


def delete_targets(conn: Connection, tg_arn: str, keys: Iterable[tuple[str, int]]) -> None:
    for target_id, port in keys:
        conn.execute(
            delete(targets).where(
                targets.c.target_group_arn == tg_arn,
                targets.c.target_id == target_id,
                targets.c.port == port,
            )
        )


def purge_expired_targets(conn: Connection, now: float, tg_arn: str | None = None) -> int:
    """Delete targets whose draining is over; how many went."""
    query = delete(targets).where(
        targets.c.draining_until.is_not(None), targets.c.draining_until <= now
    )
    if tg_arn is not None:
        query = query.where(targets.c.target_group_arn == tg_arn)
    return int(conn.execute(query).rowcount or 0)


def record_health(
    conn: Connection,
    updates: Sequence[tuple[str, str, int, str, str | None, str | None]],
) -> int:
    """Write observed health where it differs from what is stored; how many rows changed."""
    changed = 0
    for tg_arn, target_id, port, state, reason, description in updates:
        key = and_(
            targets.c.target_group_arn == tg_arn,
            targets.c.target_id == target_id,
            targets.c.port == port,
        )
        differs = or_(
            targets.c.state != state,
            _differs(targets.c.reason, reason),
            _differs(targets.c.description, description),
        )
        result = conn.execute(
            update(targets)
            .where(key, differs)
            .values(state=state, reason=reason, description=description)
        )
        changed += int(result.rowcount or 0)
    return changed


def _differs(column: Any, value: str | None) -> Any:
    if value is None:
        return column.is_not(None)
    return or_(column.is_(None), column != value)


# --- container instances as instance targets -------------------------------------------


def instance_addresses(
    conn: Connection, scope: Scope, ec2_ids: Iterable[str]
) -> dict[str, tuple[str, str | None]]:
    """(host address, availability zone) of registered EC2 container instances by id."""
    wanted = list(ec2_ids)
    if not wanted:
        return {}
    ci = container_instances
    rows = conn.execute(
        select(ci.c.ec2_instance_id, ci.c.doc).where(
            *_in_scope(ci, scope),
            ci.c.ec2_instance_id.in_(wanted),
            ci.c.kind == "EC2",
            ci.c.status.in_(("ACTIVE", "DRAINING")),
        )
    )
    found: dict[str, tuple[str, str | None]] = {}
    for ec2_id, doc_text in rows:
        doc = json.loads(doc_text)
        found[ec2_id] = (doc.get("host_address") or "127.0.0.1", doc.get("availability_zone"))
    return found


# --- the data plane's view -------------------------------------------------------------


def read_snapshot(conn: Connection, now: float) -> LoadBalancingSnapshot:
    """Every load balancer, listener, rule, target group and live target, all accounts.
    Call first in a fresh read transaction: its five reads must see one state."""
    if conn.dialect.name == "postgresql":
        # READ COMMITTED (PostgreSQL's default) would let each SELECT see a newer state.
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    return LoadBalancingSnapshot(
        load_balancers=[
            _lb_from_row(row)
            for row in conn.execute(select(load_balancers).order_by(load_balancers.c.arn))
        ],
        listeners=[
            _listener_from_row(row)
            for row in conn.execute(
                select(listeners).order_by(listeners.c.load_balancer_arn, listeners.c.port)
            )
        ],
        rules=[
            _rule_from_row(row)
            for row in conn.execute(select(rules).order_by(rules.c.listener_arn, *_rule_order()))
        ],
        target_groups=[
            _tg_from_row(row)
            for row in conn.execute(select(target_groups).order_by(target_groups.c.arn))
        ],
        targets=[
            _target_from_row(row)
            for row in conn.execute(
                select(targets)
                .where(_live(now))
                .order_by(targets.c.target_group_arn, targets.c.target_id, targets.c.port)
            )
        ],
    )
