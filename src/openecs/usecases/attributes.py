"""Attribute operations: put and delete custom attributes of container instances,
and list every attribute (registered and custom) of a cluster's instances.

A target is named by its container instance ARN, or by its id together with
targetType=container-instance; it must be registered in the request's cluster
(the default cluster when none is named).

LIMITATIONS (where OpenECS differs from AWS):
* a custom attribute may reuse the name of a registered one, and then shadows it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from openecs.domain.arns import parse_arn
from openecs.domain.attributes import (
    CONTAINER_INSTANCE,
    MAX_ATTRIBUTES_PER_CALL,
    MAX_CUSTOM_ATTRIBUTES,
    Attribute,
    AttributeLimitExceededException,
    TargetNotFoundException,
    validate_attribute,
)
from openecs.domain.errors import InvalidParameterException
from openecs.domain.scope import Scope
from openecs.store import attributes as attribute_rows
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.pagination import decode_token, encode_token, page_limit

__all__ = ["delete_attributes", "list_attributes", "put_attributes"]

_KEYS = ("name", "value", "targetType", "targetId")


def _check_request(items: list[dict[str, Any]], *, with_values: bool) -> list[dict[str, Any]]:
    if len(items) > MAX_ATTRIBUTES_PER_CALL:
        raise InvalidParameterException(
            f"You can specify up to {MAX_ATTRIBUTES_PER_CALL} attributes in a single call; "
            f"{len(items)} were specified."
        )
    for item in items:
        validate_attribute(item["name"], item.get("value") if with_values else None)
        if not item.get("targetId"):
            raise InvalidParameterException(
                f"Attribute {item['name']} has no targetId. Specify the ARN or the ID "
                "of the container instance the attribute belongs to."
            )
    return [{k: item[k] for k in _KEYS if item.get(k) is not None} for item in items]


def _target_arn(conn: Connection, scope: Scope, cluster: str, item: dict[str, Any]) -> str:
    """The ARN of the registered container instance an attribute names."""
    target_id: str = item["targetId"]
    arn = parse_arn(target_id)
    not_found = TargetNotFoundException(
        f"The specified target wasn't found: {target_id}. Container instances are "
        f"cluster-specific and Region-specific; this request is for cluster {cluster}."
    )
    if arn is None:
        if item.get("targetType") is None:
            raise InvalidParameterException(
                f"The targetType must be specified when the targetId {target_id} is not an ARN."
            )
        instance_id = target_id
    else:
        if arn.service != "ecs" or arn.resource_type != CONTAINER_INSTANCE:
            raise InvalidParameterException(
                f"Invalid targetId {target_id}: it is not a container instance ARN."
            )
        if arn.account_id != scope.account_id:
            raise InvalidParameterException(
                f"Identifier is for {arn.account_id}. Your accountId is {scope.account_id}"
            )
        arn_cluster, _, instance_id = arn.resource.rpartition("/")
        if arn.region != scope.region or (arn_cluster and arn_cluster != cluster):
            raise not_found
    found = attribute_rows.find_target(conn, scope, cluster, instance_id)
    if found is None:
        raise not_found
    return found


def put_attributes(
    backend: Backend, scope: Scope, cluster_ref: str | None, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Create or replace custom attributes; answers with the attributes as given."""
    request = _check_request(items, with_values=True)

    def work(conn: Connection) -> list[dict[str, Any]]:
        cluster = require_active_cluster(conn, scope, cluster_ref).name
        by_target: dict[str, dict[str, str | None]] = {}
        for item in request:
            target = _target_arn(conn, scope, cluster, item)
            by_target.setdefault(target, {})[item["name"]] = item.get("value")
        for target, values in by_target.items():
            merged = {**attribute_rows.custom_of(conn, scope, cluster, target), **values}
            if len(merged) > MAX_CUSTOM_ATTRIBUTES:
                raise AttributeLimitExceededException(
                    f"The target {target} would have {len(merged)} custom attributes. "
                    f"You can apply up to {MAX_CUSTOM_ATTRIBUTES} custom attributes "
                    "for each resource."
                )
            attribute_rows.put_custom(conn, scope, cluster, target, values)
        return request

    return backend.write(work)


def delete_attributes(
    backend: Backend, scope: Scope, cluster_ref: str | None, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Delete custom attributes by name; names a target does not have are ignored."""
    request = _check_request(items, with_values=False)

    def work(conn: Connection) -> list[dict[str, Any]]:
        cluster = require_active_cluster(conn, scope, cluster_ref).name
        for item in request:
            target = _target_arn(conn, scope, cluster, item)
            attribute_rows.delete_custom(conn, scope, cluster, target, [item["name"]])
        return request

    return backend.write(work)


def list_attributes(
    backend: Backend,
    scope: Scope,
    *,
    target_type: str,
    cluster_ref: str | None = None,
    attribute_name: str | None = None,
    attribute_value: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[list[Attribute], str | None]:
    """Attributes of the cluster's container instances, by instance ARN then name."""
    if target_type != CONTAINER_INSTANCE:
        raise InvalidParameterException(f"Unsupported targetType {target_type}.")
    if attribute_value is not None and attribute_name is None:
        raise InvalidParameterException(
            "You must also specify an attribute name to use the attributeValue parameter."
        )
    limit = page_limit(max_results)
    after = decode_token(next_token)
    if after is not None and not (
        isinstance(after, list) and len(after) == 2 and all(isinstance(k, str) for k in after)
    ):
        raise InvalidParameterException(f"Invalid token {next_token}")
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref).name
        found = attribute_rows.list_in_cluster(conn, scope, cluster, name=attribute_name)
    if attribute_value is not None:
        found = [a for a in found if a.value == attribute_value]
    if after is not None:
        found = [a for a in found if (a.target_id, a.name) > (after[0], after[1])]
    last = found[limit - 1] if len(found) > limit else None
    token = encode_token([last.target_id, last.name]) if last is not None else None
    return found[:limit], token
