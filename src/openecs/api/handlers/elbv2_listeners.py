"""Elastic Load Balancing v2: listener and rule operations."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.load_balancing import Listener, Rule
from openecs.usecases import listeners

__all__ = ["OPERATIONS", "present_listener", "present_rule"]


def present_listener(listener: Listener) -> dict[str, Any]:
    return {
        "ListenerArn": listener.arn,
        "LoadBalancerArn": listener.load_balancer_arn,
        "Port": listener.port,
        "Protocol": listener.protocol,
        "DefaultActions": listener.default_actions,
    }


def present_rule(rule: Rule) -> dict[str, Any]:
    return {
        "RuleArn": rule.arn,
        "Priority": "default" if rule.priority is None else str(rule.priority),
        "Conditions": rule.conditions,
        "Actions": rule.actions,
        "IsDefault": rule.is_default,
    }


def create_listener(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    listener = listeners.create_listener(
        ctx.backend,
        ctx.scope,
        load_balancer_arn=p["LoadBalancerArn"],
        protocol=p.get("Protocol"),
        port=p.get("Port"),
        default_actions=p["DefaultActions"],
        certificates=p.get("Certificates"),
        ssl_policy=p.get("SslPolicy"),
        tags=p.get("Tags"),
    )
    return {"Listeners": [present_listener(listener)]}


def describe_listeners(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, marker = listeners.describe_listeners(
        ctx.backend,
        ctx.scope,
        load_balancer_arn=p.get("LoadBalancerArn"),
        arns=p.get("ListenerArns"),
        marker=p.get("Marker"),
        page_size=p.get("PageSize"),
    )
    return {"Listeners": [present_listener(li) for li in found], "NextMarker": marker}


def modify_listener(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    listener = listeners.modify_listener(
        ctx.backend,
        ctx.scope,
        p["ListenerArn"],
        port=p.get("Port"),
        protocol=p.get("Protocol"),
        default_actions=p.get("DefaultActions"),
        certificates=p.get("Certificates"),
        ssl_policy=p.get("SslPolicy"),
    )
    return {"Listeners": [present_listener(listener)]}


def delete_listener(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    listeners.delete_listener(ctx.backend, ctx.scope, p["ListenerArn"])
    return {}


def create_rule(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    rule = listeners.create_rule(
        ctx.backend,
        ctx.scope,
        listener_arn=p["ListenerArn"],
        priority=p["Priority"],
        conditions=p["Conditions"],
        actions=p["Actions"],
        tags=p.get("Tags"),
    )
    return {"Rules": [present_rule(rule)]}


def describe_rules(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, marker = listeners.describe_rules(
        ctx.backend,
        ctx.scope,
        listener_arn=p.get("ListenerArn"),
        arns=p.get("RuleArns"),
        marker=p.get("Marker"),
        page_size=p.get("PageSize"),
    )
    return {"Rules": [present_rule(rule) for rule in found], "NextMarker": marker}


def modify_rule(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    rule = listeners.modify_rule(
        ctx.backend,
        ctx.scope,
        p["RuleArn"],
        conditions=p.get("Conditions"),
        actions=p.get("Actions"),
    )
    return {"Rules": [present_rule(rule)]}


def set_rule_priorities(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    changed = listeners.set_rule_priorities(ctx.backend, ctx.scope, p["RulePriorities"])
    return {"Rules": [present_rule(rule) for rule in changed]}


def delete_rule(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    listeners.delete_rule(ctx.backend, ctx.scope, p["RuleArn"])
    return {}


OPERATIONS: Operations = {
    "CreateListener": create_listener,
    "DescribeListeners": describe_listeners,
    "ModifyListener": modify_listener,
    "DeleteListener": delete_listener,
    "CreateRule": create_rule,
    "DescribeRules": describe_rules,
    "ModifyRule": modify_rule,
    "SetRulePriorities": set_rule_priorities,
    "DeleteRule": delete_rule,
}
