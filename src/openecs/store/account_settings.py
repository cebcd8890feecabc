"""Account setting rows: the account default (principal '') and per-principal overrides."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from openecs.domain.scope import Scope
from openecs.store.tables import account_settings

__all__ = ["ACCOUNT_DEFAULT", "delete_setting", "get_values", "put_setting"]

# The principal_arn under which the account default is kept.
ACCOUNT_DEFAULT = ""


def _where(scope: Scope) -> tuple[Any, ...]:
    return (
        account_settings.c.account_id == scope.account_id,
        account_settings.c.region == scope.region,
    )


def get_values(
    conn: Connection, scope: Scope, principals: Iterable[str], name: str | None = None
) -> dict[tuple[str, str], str]:
    """Set values as {(principal key, setting name): value} for the given principal keys."""
    query = select(
        account_settings.c.principal_arn, account_settings.c.name, account_settings.c.value
    ).where(*_where(scope), account_settings.c.principal_arn.in_(list(principals)))
    if name is not None:
        query = query.where(account_settings.c.name == name)
    return {(row.principal_arn, row.name): row.value for row in conn.execute(query)}


def put_setting(
    conn: Connection, scope: Scope, principal: str, name: str, value: str, setting_type: str
) -> None:
    """Set or replace one setting of a principal (ACCOUNT_DEFAULT for the account)."""
    delete_setting(conn, scope, principal, name)
    conn.execute(
        insert(account_settings).values(
            account_id=scope.account_id,
            region=scope.region,
            principal_arn=principal,
            name=name,
            value=value,
            type=setting_type,
        )
    )


def delete_setting(conn: Connection, scope: Scope, principal: str, name: str) -> str | None:
    """Remove one setting of a principal; the value it had, None if it had none."""
    current = conn.execute(
        select(account_settings.c.value).where(
            *_where(scope),
            account_settings.c.principal_arn == principal,
            account_settings.c.name == name,
        )
    ).scalar_one_or_none()
    if current is not None:
        conn.execute(
            delete(account_settings).where(
                *_where(scope),
                account_settings.c.principal_arn == principal,
                account_settings.c.name == name,
            )
        )
    return current
