"""Placement constraints: the API's lists, validated into the scheduler's pairs.

    distinctInstance   each task of the request (of the group, for a
                       service) on a different instance; takes no expression
    memberOf           only instances the cluster query expression selects

Constraints bind, unlike strategies: an instance that breaks one is not a
candidate, and the rejection is reported as ECS words it
("MemberOf placement constraint unsatisfied.",
"DistinctInstance placement constraint unsatisfied.").
A task has at most 10, counting those of its task definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openecs.domain.errors import InvalidParameterException
from openecs.scheduler.query_language import compile_expression

__all__ = ["MAX_CONSTRAINTS", "Constraints", "parse_constraints"]

Constraints = tuple[tuple[str, str | None], ...]

MAX_CONSTRAINTS = 10


def _constraint(item: Mapping[str, Any]) -> tuple[str, str | None]:
    kind = item.get("type")
    expression = item.get("expression")
    if not kind:
        raise InvalidParameterException("constraint.type should not be null or empty.")
    if kind == "distinctInstance":
        if expression is not None:
            raise InvalidParameterException("distinctInstance expression should not be specified.")
        return ("distinctInstance", None)
    if kind == "memberOf":
        if not expression or not str(expression).strip():
            raise InvalidParameterException("constraint.expression should not be null or empty.")
        compile_expression(str(expression))  # raises with what is wrong in it
        return ("memberOf", str(expression))
    raise InvalidParameterException(
        f"Invalid placement constraint type: {kind}. Valid types are distinctInstance and memberOf."
    )


def parse_constraints(
    items: Sequence[Mapping[str, Any]] | None,
    *,
    task_definition: Sequence[Mapping[str, Any]] = (),
) -> Constraints:
    """The task definition's constraints, then the request's, validated and compiled.

    Every memberOf expression is compiled here, so a bad one fails the call
    that brings it (InvalidParameterException) rather than a later placement.
    """
    every = [*task_definition, *(items or ())]
    if len(every) > MAX_CONSTRAINTS:
        raise InvalidParameterException(
            f"Too many placement constraints: {len(every)}. A task can have at most "
            f"{MAX_CONSTRAINTS}, counting those of its task definition."
        )
    return tuple(_constraint(item) for item in every)
