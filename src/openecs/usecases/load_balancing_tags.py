"""Tags of load balancers, target groups, listeners and rules (AddTags, RemoveTags,
DescribeTags), kept in the shared tags table by ARN."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from openecs.domain.errors import TooManyTagsException, ValidationError
from openecs.domain.load_balancing_rules import parse_elb_arn
from openecs.domain.scope import Scope
from openecs.domain.tags import MAX_TAGS
from openecs.store import tags as tag_rows
from openecs.usecases.backend import Backend
from openecs.usecases.load_balancing_lookups import (
    require_listener,
    require_load_balancer,
    require_rule,
    require_target_group,
    tags_from_api,
)

__all__ = ["add_tags", "describe_tags", "remove_tags"]

_MAX_RESOURCES = 20

_REQUIRE: dict[str, Callable[[Connection, Scope, str], Any]] = {
    "loadbalancer": require_load_balancer,
    "targetgroup": require_target_group,
    "listener": require_listener,
    "listener-rule": require_rule,
}


def _check_arns(arns: Sequence[str]) -> list[str]:
    if len(arns) > _MAX_RESOURCES:
        raise ValidationError(f"You can specify at most {_MAX_RESOURCES} resource ARNs")
    for arn in arns:
        if parse_elb_arn(arn) is None:
            raise ValidationError(f"'{arn}' is not a valid resource ARN")
    return list(dict.fromkeys(arns))


def _require(conn: Connection, scope: Scope, arn: str) -> None:
    parsed = parse_elb_arn(arn)
    assert parsed is not None
    _REQUIRE[parsed.kind](conn, scope, arn)


def add_tags(
    backend: Backend, scope: Scope, arns: Sequence[str], tags: Sequence[dict[str, str]]
) -> None:
    resources = _check_arns(arns)
    new_tags = tags_from_api(tags)

    def work(conn: Connection) -> None:
        for arn in resources:
            _require(conn, scope, arn)
            if len(tag_rows.get_tags(conn, arn) | new_tags) > MAX_TAGS:
                raise TooManyTagsException(
                    f"The quota of {MAX_TAGS} tags per resource has been reached"
                )
            tag_rows.put_tags(conn, arn, new_tags)

    backend.write(work)


def remove_tags(backend: Backend, scope: Scope, arns: Sequence[str], keys: Sequence[str]) -> None:
    resources = _check_arns(arns)
    wanted = list(keys)
    if any(key.lower().startswith("aws:") for key in wanted):
        raise ValidationError("Tag keys starting with 'aws:' are reserved for internal use")

    def work(conn: Connection) -> None:
        for arn in resources:
            _require(conn, scope, arn)
            tag_rows.remove_tags(conn, arn, wanted)

    backend.write(work)


def describe_tags(
    backend: Backend, scope: Scope, arns: Sequence[str]
) -> list[tuple[str, dict[str, str]]]:
    resources = _check_arns(arns)
    with backend.reading() as conn:
        for arn in resources:
            _require(conn, scope, arn)
        found = tag_rows.get_tags_many(conn, resources)
    return [(arn, found[arn]) for arn in resources]
