"""Tags of any resource, keyed by its ARN."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, insert, select

from openecs.store.tables import tags

__all__ = ["delete_all", "get_tags", "get_tags_many", "put_tags", "remove_tags"]


def get_tags(conn: Connection, arn: str) -> dict[str, str]:
    rows = conn.execute(
        select(tags.c.key, tags.c.value).where(tags.c.resource_arn == arn).order_by(tags.c.key)
    )
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
