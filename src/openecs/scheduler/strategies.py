"""Placement strategies: the API's list, validated, and ECS's defaults.

A strategy is a chain of up to five (type, field) rules. Each rule ranks the
feasible instances; the next rule breaks the ties the one before leaves, and
a random draw (seeded by the request) breaks whatever ties remain:

    binpack  cpu | memory        least of it left first (fills instances up)
    spread   instanceId | host   fewest tasks of the group on the instance
    spread   attribute:<name>    fewest tasks of the group among the instances
                                 sharing the value (instances without the
                                 attribute form a value of their own)
    random                       uniformly at random; ends the chain, since
                                 it leaves no ties to break

Spread counts every task of the group already running, not only those of
the request. Strategies are a preference, never a constraint: they order
instances, they never rule one out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openecs.domain.errors import InvalidParameterException

__all__ = [
    "FARGATE_STRATEGY",
    "MAX_STRATEGIES",
    "RUN_TASK_DEFAULT_STRATEGY",
    "SERVICE_DEFAULT_STRATEGY",
    "Strategy",
    "effective_strategy",
    "normalize_strategy",
    "parse_strategy",
]

Strategy = tuple[tuple[str, str | None], ...]

MAX_STRATEGIES = 5
AVAILABILITY_ZONE_FIELD = "attribute:ecs.availability-zone"

# RunTask without placementStrategy: ECS places at random.
RUN_TASK_DEFAULT_STRATEGY: Strategy = (("random", None),)
# A service without placementStrategy: balanced across Availability Zones, then
# across the instances of each zone (the console's "AZ balanced spread").
SERVICE_DEFAULT_STRATEGY: Strategy = (
    ("spread", AVAILABILITY_ZONE_FIELD),
    ("spread", "instanceId"),
)
# FARGATE takes no strategy from users; OpenECS spreads its managed capacity
# across Availability Zones, then across hosts, as Fargate spreads tasks.
FARGATE_STRATEGY: Strategy = SERVICE_DEFAULT_STRATEGY

_TYPES = ("binpack", "random", "spread")


def _rule(kind: str | None, field: str | None) -> tuple[str, str | None]:
    if not kind:
        raise InvalidParameterException("strategy.type should not be null or empty.")
    if kind not in _TYPES:
        raise InvalidParameterException(
            f"Invalid placement strategy type: {kind}. Valid types are random, spread and binpack."
        )
    if kind == "random":
        return ("random", None)  # the field "is not used" for random
    if not field or not field.strip():
        raise InvalidParameterException(
            f"strategy.field should not be null or empty for the {kind} strategy."
        )
    if kind == "binpack":
        resource = field.lower()
        if resource not in ("cpu", "memory"):
            raise InvalidParameterException(
                f"Invalid binpack field: {field}. Valid values are cpu and memory."
            )
        return ("binpack", resource)
    if field in ("instanceId", "host"):
        return ("spread", "instanceId")
    if field.startswith("attribute:") and field[len("attribute:") :].strip():
        return ("spread", field)
    raise InvalidParameterException(
        f"Invalid spread field: {field}. Valid values are instanceId, host or "
        "attribute:<attribute name>."
    )


def parse_strategy(items: Sequence[Mapping[str, Any]] | None) -> Strategy:
    """The API's `placementStrategy` list → the scheduler's chain, validated.

    binpack fields are folded to lower case and `host` becomes `instanceId`;
    keep the caller's list as given for Describe* responses, as ECS echoes it.
    """
    items = list(items or ())
    if len(items) > MAX_STRATEGIES:
        raise InvalidParameterException(
            f"Too many placement strategies: {len(items)}. "
            f"A task or service can have at most {MAX_STRATEGIES}."
        )
    return tuple(_rule(item.get("type"), item.get("field")) for item in items)


def normalize_strategy(strategy: Strategy) -> Strategy:
    """Validate and normalize (type, field) pairs; cut the chain after `random`."""
    if len(strategy) > MAX_STRATEGIES:
        raise InvalidParameterException(
            f"Too many placement strategies: {len(strategy)}. "
            f"A task or service can have at most {MAX_STRATEGIES}."
        )
    chain: list[tuple[str, str | None]] = []
    for kind, field in strategy:
        rule = _rule(kind, field)
        chain.append(rule)
        if rule[0] == "random":
            break
    return tuple(chain)


def effective_strategy(strategy: Strategy, *, is_service: bool) -> Strategy:
    """The chain the scheduler runs: the request's, else ECS's default for its kind."""
    if not strategy:
        return SERVICE_DEFAULT_STRATEGY if is_service else RUN_TASK_DEFAULT_STRATEGY
    return normalize_strategy(strategy)
