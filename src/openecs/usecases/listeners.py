"""Listeners and their rules (elbv2). A listener's default actions are also its
default rule (listed by DescribeRules with IsDefault, priority "default"); every
rule records the target groups it forwards to, which is what makes a target
group "in use".

LIMITATIONS (where OpenECS differs from AWS):
* HTTP listeners only (no TLS termination, so no certificates); the actions
  forward, redirect and fixed-response; one action per rule.
* Rule conditions: path-pattern, host-header, http-header, http-request-method,
  query-string (no source-ip, no regular expressions, no transforms).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from openecs.domain.errors import (
    DuplicateListenerException,
    IncompatibleProtocolsException,
    ListenerNotFoundException,
    OperationNotPermittedException,
    PriorityInUseException,
    RuleNotFoundException,
    TargetGroupAssociationLimitException,
    TargetGroupNotFoundException,
    TooManyListenersException,
    TooManyRulesException,
    UnsupportedProtocolException,
    ValidationError,
)
from openecs.domain.load_balancing import Listener, Rule
from openecs.domain.load_balancing_actions import (
    forwarded_target_groups,
    normalize_actions,
    normalize_conditions,
)
from openecs.domain.load_balancing_rules import listener_arn, rule_arn
from openecs.domain.scope import Scope
from openecs.store import load_balancing as rows
from openecs.store import tags as tag_rows
from openecs.usecases.backend import Backend
from openecs.usecases.load_balancing_lookups import (
    check_arn,
    page,
    require_listener,
    require_load_balancer,
    require_rule,
    tags_from_api,
    write_and_wake,
)

__all__ = [
    "create_listener",
    "create_rule",
    "delete_listener",
    "delete_rule",
    "describe_listeners",
    "describe_rules",
    "modify_listener",
    "modify_rule",
    "set_rule_priorities",
]

# AWS's default quotas.
MAX_LISTENERS_PER_LOAD_BALANCER = 50
MAX_RULES_PER_LISTENER = 100


def _check_protocol(protocol: str | None) -> str:
    if protocol is None:
        raise ValidationError("A listener protocol must be specified")
    if protocol == "HTTPS":
        raise UnsupportedProtocolException(
            "Listener protocol 'HTTPS' is not supported by OpenECS; use 'HTTP'"
        )
    if protocol != "HTTP":
        raise ValidationError(f"Listener protocol '{protocol}' must be one of 'HTTPS, HTTP'")
    return protocol


def _check_no_tls(certificates: Sequence[Any] | None, ssl_policy: str | None) -> None:
    if certificates or ssl_policy:
        raise ValidationError("Certificates and SSL policies can only be set on HTTPS listeners")


def _forward_targets(
    conn: Connection, scope: Scope, lb_arn: str, actions: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The target groups normalized actions forward to, checked: they exist here, speak
    the listener's protocol, and serve no other load balancer."""
    arns = forwarded_target_groups(actions)
    for arn in arns:
        check_arn(arn, "targetgroup")
        group = rows.get_target_group(conn, scope, arn)
        if group is None:
            raise TargetGroupNotFoundException(f"Target groups '{arn}' not found")
        if group.protocol != "HTTP":
            raise IncompatibleProtocolsException(
                f"The protocol of target group '{arn}' is incompatible with HTTP listeners"
            )
    elsewhere = [
        arn
        for arn, users in rows.load_balancers_of(conn, arns).items()
        if any(user != lb_arn for user in users)
    ]
    if elsewhere:
        raise TargetGroupAssociationLimitException(
            "The following target groups cannot be associated with more than one load "
            f"balancer: {', '.join(elsewhere)}"
        )
    return arns


def _default_rule(conn: Connection, listener: Listener) -> Rule:
    return next(rule for rule in rows.rules_of(conn, listener.arn) if rule.is_default)


# --- listeners -----------------------------------------------------------------------


def create_listener(
    backend: Backend,
    scope: Scope,
    *,
    load_balancer_arn: str,
    protocol: str | None,
    port: int | None,
    default_actions: Sequence[Mapping[str, Any]],
    certificates: Sequence[Any] | None = None,
    ssl_policy: str | None = None,
    tags: Sequence[dict[str, str]] | None = None,
) -> Listener:
    checked_protocol = _check_protocol(protocol)
    _check_no_tls(certificates, ssl_policy)
    if port is None:
        raise ValidationError("A listener port must be specified")
    actions = normalize_actions(default_actions)
    new_tags = tags_from_api(tags)
    ids = (secrets.token_hex(8), secrets.token_hex(8))

    def work(conn: Connection) -> Listener:
        lb = require_load_balancer(conn, scope, load_balancer_arn)
        forwarded = _forward_targets(conn, scope, lb.arn, actions)
        existing = [li for li in rows.listeners_of(conn, lb.arn) if li.port == port]
        if existing:
            same = existing[0]
            if same.protocol == checked_protocol and same.default_actions == actions:
                return same
            raise DuplicateListenerException(
                f"A listener already exists on this port for this load balancer '{lb.arn}'"
            )
        if rows.count_listeners(conn, lb.arn) >= MAX_LISTENERS_PER_LOAD_BALANCER:
            raise TooManyListenersException(
                f"You've reached the limit of {MAX_LISTENERS_PER_LOAD_BALANCER} listeners "
                "per load balancer"
            )
        now = backend.clock.now()
        listener = Listener(
            arn=listener_arn(lb.arn, ids[0]),
            load_balancer_arn=lb.arn,
            port=port,
            protocol=checked_protocol,
            default_actions=actions,
            created_at=now,
        )
        rows.insert_listener(conn, scope, listener)
        default = Rule(rule_arn(listener.arn, ids[1]), listener.arn, None, [], actions)
        rows.insert_rule(conn, scope, default, lb_arn=lb.arn, now=now)
        rows.set_rule_target_groups(conn, default.arn, forwarded)
        tag_rows.put_tags(conn, listener.arn, new_tags)
        return listener

    return write_and_wake(backend, work)


def describe_listeners(
    backend: Backend,
    scope: Scope,
    *,
    load_balancer_arn: str | None = None,
    arns: Sequence[str] | None = None,
    marker: str | None = None,
    page_size: int | None = None,
) -> tuple[list[Listener], str | None]:
    if not load_balancer_arn and not arns:
        raise ValidationError("You must specify either listener ARNs or a load balancer ARN")
    if load_balancer_arn and arns:
        raise ValidationError(
            "Listener ARNs and a load balancer ARN cannot be specified at the same time"
        )
    with backend.reading() as conn:
        if load_balancer_arn:
            found = rows.listeners_of(
                conn, require_load_balancer(conn, scope, load_balancer_arn).arn
            )
        else:
            wanted = [check_arn(arn, "listener") for arn in arns or ()]
            by_arn = rows.get_listeners(conn, scope, wanted)
            if set(wanted) - set(by_arn):
                raise ListenerNotFoundException("One or more listeners not found")
            found = list(by_arn.values())
    ordered = sorted(found, key=_listener_key)
    return page(ordered, _listener_key, marker, page_size)


def _listener_key(listener: Listener) -> str:
    return f"{listener.load_balancer_arn}|{listener.port:05d}"


def modify_listener(
    backend: Backend,
    scope: Scope,
    arn: str,
    *,
    port: int | None = None,
    protocol: str | None = None,
    default_actions: Sequence[Mapping[str, Any]] | None = None,
    certificates: Sequence[Any] | None = None,
    ssl_policy: str | None = None,
) -> Listener:
    if protocol is not None:
        _check_protocol(protocol)
    _check_no_tls(certificates, ssl_policy)
    actions = normalize_actions(default_actions) if default_actions is not None else None

    def work(conn: Connection) -> Listener:
        listener = require_listener(conn, scope, arn)
        if port is not None and port != listener.port:
            taken = any(
                li.port == port for li in rows.listeners_of(conn, listener.load_balancer_arn)
            )
            if taken:
                raise DuplicateListenerException(
                    "A listener already exists on this port for this load balancer "
                    f"'{listener.load_balancer_arn}'"
                )
            listener.port = port
        if actions is not None:
            forwarded = _forward_targets(conn, scope, listener.load_balancer_arn, actions)
            listener.default_actions = actions
            default = _default_rule(conn, listener)
            default.actions = actions
            rows.update_rule(conn, default)
            rows.set_rule_target_groups(conn, default.arn, forwarded)
        rows.save_listener(conn, listener)
        return listener

    return write_and_wake(backend, work)


def delete_listener(backend: Backend, scope: Scope, arn: str) -> None:
    def work(conn: Connection) -> None:
        listener = require_listener(conn, scope, arn)
        for rule in rows.rules_of(conn, listener.arn):
            tag_rows.delete_all(conn, rule.arn)
        tag_rows.delete_all(conn, listener.arn)
        rows.delete_listener(conn, listener.arn)

    write_and_wake(backend, work)


# --- rules ---------------------------------------------------------------------------


def _priority_in_use(priority: int) -> PriorityInUseException:
    return PriorityInUseException(f"Priority '{priority}' is currently in use")


def create_rule(
    backend: Backend,
    scope: Scope,
    *,
    listener_arn: str,
    priority: int,
    conditions: Sequence[Mapping[str, Any]],
    actions: Sequence[Mapping[str, Any]],
    tags: Sequence[dict[str, str]] | None = None,
) -> Rule:
    checked_conditions = normalize_conditions(conditions)
    if not checked_conditions:
        raise ValidationError("A rule must have at least one condition")
    checked_actions = normalize_actions(actions)
    new_tags = tags_from_api(tags)
    rule_id = secrets.token_hex(8)

    def work(conn: Connection) -> Rule:
        listener = require_listener(conn, scope, listener_arn)
        current = rows.rules_of(conn, listener.arn)
        if any(rule.priority == priority for rule in current):
            raise _priority_in_use(priority)
        if sum(1 for rule in current if not rule.is_default) >= MAX_RULES_PER_LISTENER:
            raise TooManyRulesException(
                f"You've reached the limit of {MAX_RULES_PER_LISTENER} rules per listener"
            )
        forwarded = _forward_targets(conn, scope, listener.load_balancer_arn, checked_actions)
        rule = Rule(
            rule_arn(listener.arn, rule_id),
            listener.arn,
            priority,
            checked_conditions,
            checked_actions,
        )
        rows.insert_rule(
            conn, scope, rule, lb_arn=listener.load_balancer_arn, now=backend.clock.now()
        )
        rows.set_rule_target_groups(conn, rule.arn, forwarded)
        rows.save_listener(conn, listener)
        tag_rows.put_tags(conn, rule.arn, new_tags)
        return rule

    return write_and_wake(backend, work)


def describe_rules(
    backend: Backend,
    scope: Scope,
    *,
    listener_arn: str | None = None,
    arns: Sequence[str] | None = None,
    marker: str | None = None,
    page_size: int | None = None,
) -> tuple[list[Rule], str | None]:
    if not listener_arn and not arns:
        raise ValidationError("You must specify either listener ARN or rule ARNs")
    if listener_arn and arns:
        raise ValidationError("Listener ARN and rule ARNs cannot be specified at the same time")
    with backend.reading() as conn:
        if listener_arn:
            found = rows.rules_of(conn, require_listener(conn, scope, listener_arn).arn)
        else:
            wanted = [check_arn(arn, "listener-rule") for arn in arns or ()]
            by_arn = rows.get_rules(conn, scope, wanted)
            if set(wanted) - set(by_arn):
                raise RuleNotFoundException("One or more rules not found")
            found = list(by_arn.values())
    ordered = sorted(found, key=_rule_key)
    return page(ordered, _rule_key, marker, page_size)


def _rule_key(rule: Rule) -> str:
    # Priority order within a listener, the default rule last.
    rank = "~default" if rule.priority is None else f"{rule.priority:05d}"
    return f"{rule.listener_arn}|{rank}"


def modify_rule(
    backend: Backend,
    scope: Scope,
    arn: str,
    *,
    conditions: Sequence[Mapping[str, Any]] | None = None,
    actions: Sequence[Mapping[str, Any]] | None = None,
) -> Rule:
    checked_conditions = normalize_conditions(conditions) if conditions is not None else None
    if checked_conditions is not None and not checked_conditions:
        raise ValidationError("A rule must have at least one condition")
    checked_actions = normalize_actions(actions) if actions is not None else None

    def work(conn: Connection) -> Rule:
        rule = require_rule(conn, scope, arn)
        listener = require_listener(conn, scope, rule.listener_arn)
        if checked_conditions is not None:
            if rule.is_default:
                raise OperationNotPermittedException(
                    "The conditions of a listener's default rule cannot be modified"
                )
            rule.conditions = checked_conditions
        if checked_actions is not None:
            forwarded = _forward_targets(conn, scope, listener.load_balancer_arn, checked_actions)
            rule.actions = checked_actions
            rows.set_rule_target_groups(conn, rule.arn, forwarded)
            if rule.is_default:
                listener.default_actions = checked_actions
        rows.update_rule(conn, rule)
        rows.save_listener(conn, listener)
        return rule

    return write_and_wake(backend, work)


def set_rule_priorities(
    backend: Backend, scope: Scope, pairs: Sequence[Mapping[str, Any]]
) -> list[Rule]:
    wanted: dict[str, int] = {}
    for pair in pairs:
        arn, priority = pair.get("RuleArn"), pair.get("Priority")
        if arn is None or priority is None:
            raise ValidationError("Each rule priority pair must have a rule ARN and a priority")
        check_arn(arn, "listener-rule")
        if arn in wanted:
            raise ValidationError(f"Rule '{arn}' was provided multiple times")
        wanted[arn] = priority

    def work(conn: Connection) -> list[Rule]:
        found = rows.get_rules(conn, scope, list(wanted))
        if set(wanted) - set(found):
            raise RuleNotFoundException("One or more rules not found")
        if any(rule.is_default for rule in found.values()):
            raise OperationNotPermittedException(
                "The priority of a listener's default rule cannot be changed"
            )
        changed: list[Rule] = []
        for arn_of_listener in sorted({rule.listener_arn for rule in found.values()}):
            listener = require_listener(conn, scope, arn_of_listener)
            taken = {
                rule.priority
                for rule in rows.rules_of(conn, listener.arn)
                if rule.priority is not None and rule.arn not in wanted
            }
            assigned: set[int] = set()
            for rule in found.values():
                if rule.listener_arn != listener.arn:
                    continue
                priority = wanted[rule.arn]
                if priority in assigned:
                    raise ValidationError(f"Priority '{priority}' was provided multiple times")
                if priority in taken:
                    raise _priority_in_use(priority)
                assigned.add(priority)
                rule.priority = priority
                rows.update_rule(conn, rule)
                changed.append(rule)
            rows.save_listener(conn, listener)
        return sorted(changed, key=_rule_key)

    return write_and_wake(backend, work)


def delete_rule(backend: Backend, scope: Scope, arn: str) -> None:
    def work(conn: Connection) -> None:
        rule = require_rule(conn, scope, arn)
        if rule.is_default:
            raise OperationNotPermittedException("A listener's default rule cannot be deleted")
        listener = require_listener(conn, scope, rule.listener_arn)
        tag_rows.delete_all(conn, rule.arn)
        rows.delete_rule(conn, rule.arn)
        rows.save_listener(conn, listener)

    write_and_wake(backend, work)
