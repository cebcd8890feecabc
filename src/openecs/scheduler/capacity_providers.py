"""Which capacity provider each new task of a capacity provider strategy uses.

ECS's rules: the provider with a `base` gets tasks until it runs `base` of
them (only one provider may have a base); beyond that, tasks are shared in
proportion to the `weight`s, and a provider of weight 0 gets none. Tasks
already running count, so a service scaling out keeps its split: with
FARGATE (base 1, weight 1) and FARGATE_SPOT (weight 4), ten tasks are one
FARGATE for the base, then one FARGATE for every four FARGATE_SPOT.

Each task goes to the weighted provider that is furthest below its share of
the tasks beyond the bases (the provider minimising (n + 1) / weight, n its
tasks beyond its base); ties go to the provider listed first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from openecs.domain.errors import InvalidParameterException

__all__ = ["split_by_capacity_provider"]


class _Provider:
    __slots__ = ("base", "name", "order", "weight")

    def __init__(self, order: int, name: str, base: Any, weight: Any) -> None:
        self.order = order
        self.name = name
        self.base = int(base or 0)
        self.weight = int(weight or 0)


def split_by_capacity_provider(
    strategy: Sequence[Mapping[str, Any]],
    count: int,
    already_running_per_provider: Mapping[str, int] | None = None,
) -> list[str]:
    """The capacity provider of each of `count` new tasks, in placement order."""
    if not strategy:
        raise InvalidParameterException("The capacity provider strategy is empty.")
    providers = [
        _Provider(
            order, str(item.get("capacityProvider", "")), item.get("base"), item.get("weight")
        )
        for order, item in enumerate(strategy)
    ]
    running = {p.name: 0 for p in providers}
    for name, tasks in (already_running_per_provider or {}).items():
        if name in running:
            running[name] = tasks
    weighted = [p for p in providers if p.weight > 0]
    if not weighted and len(providers) == 1:
        # A lone provider takes every task, whatever its weight.
        weighted = [_Provider(0, providers[0].name, providers[0].base, 1)]

    def share(p: _Provider) -> tuple[Fraction, int]:
        beyond_base = max(running[p.name] - p.base, 0)
        return Fraction(beyond_base + 1, p.weight), p.order

    chosen: list[str] = []
    for _ in range(count):
        owed = next((p for p in providers if running[p.name] < p.base), None)
        if owed is None:
            if not weighted:
                raise InvalidParameterException(
                    "At least one capacity provider in a capacity provider strategy "
                    "must have a weight greater than zero."
                )
            owed = min(weighted, key=share)
        running[owed.name] += 1
        chosen.append(owed.name)
    return chosen
