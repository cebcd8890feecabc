"""What every elbv2 operation needs: finding a resource by ARN with AWS's not-found
errors, checking ARNs, tags, and Marker/PageSize pagination."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy import Connection

from openecs.domain.errors import (
    DuplicateTagKeysException,
    ListenerNotFoundException,
    LoadBalancerNotFoundException,
    RuleNotFoundException,
    TargetGroupNotFoundException,
    TooManyTagsException,
    ValidationError,
)
from openecs.domain.load_balancing import Listener, LoadBalancer, Rule, TargetGroup
from openecs.domain.load_balancing_rules import parse_elb_arn
from openecs.domain.scope import Scope
from openecs.domain.tags import MAX_TAGS
from openecs.store import load_balancing as rows
from openecs.usecases.backend import Backend

__all__ = [
    "DATA_PLANE_KEY",
    "DEFAULT_PAGE_SIZE",
    "check_arn",
    "decode_marker",
    "encode_marker",
    "page",
    "require_listener",
    "require_load_balancer",
    "require_rule",
    "require_target_group",
    "tags_from_api",
    "write_and_wake",
]

DEFAULT_PAGE_SIZE = 400
# What the load balancer controller listens to on `Backend.controller_signals`.
DATA_PLANE_KEY = "load-balancers"

_KIND_NAMES = {
    "loadbalancer": "load balancer",
    "targetgroup": "target group",
    "listener": "listener",
    "listener-rule": "listener rule",
}

T = TypeVar("T")


def check_arn(arn: str, kind: str) -> str:
    """`arn` if it is an ARN of `kind` (loadbalancer, targetgroup, listener, listener-rule)."""
    parsed = parse_elb_arn(arn)
    if parsed is None or parsed.kind != kind:
        raise ValidationError(f"'{arn}' is not a valid {_KIND_NAMES[kind]} ARN")
    return arn


def require_load_balancer(conn: Connection, scope: Scope, arn: str) -> LoadBalancer:
    found = rows.get_load_balancer(conn, scope, check_arn(arn, "loadbalancer"))
    if found is None:
        raise LoadBalancerNotFoundException("One or more load balancers not found")
    return found


def require_target_group(conn: Connection, scope: Scope, arn: str) -> TargetGroup:
    found = rows.get_target_group(conn, scope, check_arn(arn, "targetgroup"))
    if found is None:
        raise TargetGroupNotFoundException("One or more target groups not found")
    return found


def require_listener(conn: Connection, scope: Scope, arn: str) -> Listener:
    found = rows.get_listener(conn, scope, check_arn(arn, "listener"))
    if found is None:
        raise ListenerNotFoundException("One or more listeners not found")
    return found


def require_rule(conn: Connection, scope: Scope, arn: str) -> Rule:
    found = rows.get_rule(conn, scope, check_arn(arn, "listener-rule"))
    if found is None:
        raise RuleNotFoundException("One or more rules not found")
    return found


def tags_from_api(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """elbv2 `[{Key, Value}]` tags as a dict, with AWS's rules."""
    tags: dict[str, str] = {}
    for item in items or ():
        key = item["Key"]
        if key in tags:
            raise DuplicateTagKeysException(f"Tag key was specified more than once: {key}")
        if key.lower().startswith("aws:"):
            raise ValidationError("Tag keys starting with 'aws:' are reserved for internal use")
        tags[key] = item.get("Value", "")
    if len(tags) > MAX_TAGS:
        raise TooManyTagsException(f"The quota of {MAX_TAGS} tags per resource has been reached")
    return tags


def encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode()


def decode_marker(marker: str | None) -> str | None:
    if marker is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(marker.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        key = None
    if not isinstance(key, str):
        raise ValidationError(f"The marker '{marker[:64]}' is not valid")
    return key


def page(
    items: Sequence[T], key: Callable[[T], str], marker: str | None, page_size: int | None
) -> tuple[list[T], str | None]:
    """One page of `items` (sorted by `key`) after `marker`, and the next marker."""
    after = decode_marker(marker)
    size = page_size or DEFAULT_PAGE_SIZE
    rest = [item for item in items if after is None or key(item) > after]
    shown = rest[:size]
    return shown, encode_marker(key(shown[-1])) if len(rest) > size else None


def write_and_wake(backend: Backend, work: Callable[[Connection], T]) -> T:
    """Run a write that changes what the data plane serves, then wake the load
    balancer controller so HAProxy follows at once rather than on its next tick."""
    result = backend.write(work)
    backend.controller_signals.notify([DATA_PLANE_KEY])
    return result
