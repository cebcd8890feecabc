"""Tags of any resource, keyed by its ARN, and the look-ups that tell whether a
taggable resource with a given ARN exists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select

from openecs.domain.scope import Scope
from openecs.store.tables import container_instances, services, tags, task_definitions, tasks

__all__ = [
    "delete_all",
    "get_tags",
    "get_tags_many",
    "put_tags",
    "remove_tags",
    "resource_exists",
]


_GET = (
    select(tags.c.key, tags.c.value)
    .where(tags.c.resource_arn == bindparam("arn"))
    .order_by(tags.c.key)
)


def get_tags(conn: Connection, arn: str) -> dict[str, str]:
    rows = conn.execute(_GET, {"arn": arn})
    return {row.key: row.value for row in rows}


def get_tags_many(conn: Connection, arns: Iterable[str]) -> dict[str, dict[str, str]]:
    wanted = list(arns)
    out: dict[str, dict[str, str]] = {arn: {} for arn in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        select(tags.c.resource_arn, tags.c.key, tags.c.value)
        .where(tags.c.resource_arn.in_(wanted))
        .order_by(tags.c.key)
    )
    for row in rows:
        out[row.resource_arn][row.key] = row.value
    return out


def put_tags(conn: Connection, arn: str, new_tags: Mapping[str, str]) -> None:
    """Add or overwrite tags (TagResource semantics)."""
    if not new_tags:
        return
    conn.execute(delete(tags).where(tags.c.resource_arn == arn, tags.c.key.in_(list(new_tags))))
    conn.execute(
        insert(tags), [{"resource_arn": arn, "key": k, "value": v} for k, v in new_tags.items()]
    )


def remove_tags(conn: Connection, arn: str, keys: Iterable[str]) -> None:
    conn.execute(delete(tags).where(tags.c.resource_arn == arn, tags.c.key.in_(list(keys))))


def delete_all(conn: Connection, arn: str) -> None:
    conn.execute(delete(tags).where(tags.c.resource_arn == arn))


def resource_exists(conn: Connection, scope: Scope, resource_type: str, arn: str) -> bool:
    """Whether the service, task, container instance or task definition with this exact
    ARN exists in the scope. The ARN's last segment narrows the search to an index."""
    key = arn.rsplit("/", 1)[-1]
    query: Any
    if resource_type == "service":
        query = select(services.c.id).where(
            services.c.account_id == scope.account_id,
            services.c.region == scope.region,
            services.c.name == key,
            services.c.arn == arn,
        )
    elif resource_type == "task":
        query = select(tasks.c.task_id).where(
            tasks.c.task_id == key,
            tasks.c.account_id == scope.account_id,
            tasks.c.region == scope.region,
            tasks.c.arn == arn,
        )
    elif resource_type == "container-instance":
        query = select(container_instances.c.instance_id).where(
            container_instances.c.instance_id == key,
            container_instances.c.account_id == scope.account_id,
            container_instances.c.region == scope.region,
            container_instances.c.arn == arn,
        )
    elif resource_type == "task-definition":
        family = key.rpartition(":")[0]
        query = select(task_definitions.c.revision).where(
            task_definitions.c.account_id == scope.account_id,
            task_definitions.c.region == scope.region,
            task_definitions.c.family == family,
            task_definitions.c.arn == arn,
        )
    else:
        raise ValueError(f"not a taggable resource type with a table: {resource_type}")
    return conn.execute(query.limit(1)).first() is not None
