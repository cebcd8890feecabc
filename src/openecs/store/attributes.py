"""Attributes of container instances, from two places listed as one:

* custom attributes, rows of the `attributes` table (target_id = instance ARN);
* registered attributes, the `attributes` list (ECS `Attribute` shape) in the
  instance's doc, written when the agent registers the instance.

A custom attribute with the name of a registered one shadows it. Instances
that were deregistered (INACTIVE) are not targets any more. Placement
constraints match custom attributes too: changing them touches the cluster's
placement epoch (store.placement_epochs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from openecs.domain.attributes import CONTAINER_INSTANCE, Attribute
from openecs.domain.scope import Scope
from openecs.store import placement_epochs
from openecs.store.tables import attributes, container_instances

__all__ = [
    "custom_in_cluster",
    "custom_of",
    "delete_custom",
    "find_target",
    "list_in_cluster",
    "put_custom",
]

_GONE = "INACTIVE"


def _instances_in(scope: Scope, cluster: str) -> tuple[Any, ...]:
    return (
        container_instances.c.account_id == scope.account_id,
        container_instances.c.region == scope.region,
        container_instances.c.cluster == cluster,
        container_instances.c.status != _GONE,
    )


def _custom_of(scope: Scope, cluster: str, target_arn: str) -> tuple[Any, ...]:
    return (
        attributes.c.account_id == scope.account_id,
        attributes.c.region == scope.region,
        attributes.c.cluster == cluster,
        attributes.c.target_id == target_arn,
    )


def find_target(conn: Connection, scope: Scope, cluster: str, instance_id: str) -> str | None:
    """The ARN of a registered container instance of the cluster, by its id.

    The row stays locked until the transaction ends (PostgreSQL; SQLite has one
    writer anyway), so two requests cannot both add a tenth custom attribute."""
    return conn.execute(
        select(container_instances.c.arn)
        .where(container_instances.c.instance_id == instance_id, *_instances_in(scope, cluster))
        .with_for_update()
    ).scalar_one_or_none()


def custom_of(
    conn: Connection, scope: Scope, cluster: str, target_arn: str
) -> dict[str, str | None]:
    rows = conn.execute(
        select(attributes.c.name, attributes.c.value).where(*_custom_of(scope, cluster, target_arn))
    )
    return {row.name: row.value for row in rows}


def put_custom(
    conn: Connection,
    scope: Scope,
    cluster: str,
    target_arn: str,
    values: Mapping[str, str | None],
) -> None:
    """Create or replace custom attributes of one target."""
    if not values:
        return
    delete_custom(conn, scope, cluster, target_arn, values)
    conn.execute(
        insert(attributes),
        [
            {
                "account_id": scope.account_id,
                "region": scope.region,
                "cluster": cluster,
                "target_id": target_arn,
                "name": name,
                "value": value,
                "target_type": CONTAINER_INSTANCE,
            }
            for name, value in values.items()
        ],
    )
    placement_epochs.touch(conn, scope.account_id, scope.region, cluster)


def delete_custom(
    conn: Connection, scope: Scope, cluster: str, target_arn: str, names: Iterable[str]
) -> None:
    conn.execute(
        delete(attributes).where(
            *_custom_of(scope, cluster, target_arn), attributes.c.name.in_(list(names))
        )
    )
    placement_epochs.touch(conn, scope.account_id, scope.region, cluster)


def custom_in_cluster(
    conn: Connection, scope: Scope, cluster: str
) -> dict[str, dict[str, str | None]]:
    """The custom attributes of a cluster's instances: instance ARN → name → value."""
    found: dict[str, dict[str, str | None]] = {}
    rows = conn.execute(
        select(attributes.c.target_id, attributes.c.name, attributes.c.value).where(
            attributes.c.account_id == scope.account_id,
            attributes.c.region == scope.region,
            attributes.c.cluster == cluster,
            attributes.c.target_type == CONTAINER_INSTANCE,
        )
    )
    for target, name, value in rows:
        found.setdefault(target, {})[name] = value
    return found


def list_in_cluster(
    conn: Connection, scope: Scope, cluster: str, *, name: str | None = None
) -> list[Attribute]:
    """Every attribute (registered and custom) of the cluster's registered instances,
    optionally only those called `name`, ordered by instance ARN then name."""
    found: dict[tuple[str, str], Attribute] = {}
    instances = conn.execute(
        select(container_instances.c.arn, container_instances.c.doc).where(
            *_instances_in(scope, cluster)
        )
    )
    for arn, doc in instances:
        for item in json.loads(doc).get("attributes") or []:
            if name is None or item.get("name") == name:
                found[(arn, item["name"])] = Attribute(arn, item["name"], item.get("value"))
    custom = (
        select(attributes.c.target_id, attributes.c.name, attributes.c.value)
        .join(
            container_instances,
            container_instances.c.arn == attributes.c.target_id,
        )
        .where(
            attributes.c.account_id == scope.account_id,
            attributes.c.region == scope.region,
            attributes.c.cluster == cluster,
            attributes.c.target_type == CONTAINER_INSTANCE,
            *_instances_in(scope, cluster),
        )
    )
    if name is not None:
        custom = custom.where(attributes.c.name == name)
    for target, attr_name, value in conn.execute(custom):
        found[(target, attr_name)] = Attribute(target, attr_name, value)
    return sorted(found.values())
