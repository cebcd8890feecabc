"""Placement epochs: one row per capacity pool, rewritten by every change to the pool.

A pool is what one placement chooses from: a cluster's EC2 instances (pool =
the cluster's name) or a region's FARGATE capacity (pool = FARGATE_POOL, "").
Whatever changes what a pool offers or what its tasks hold — an instance
registered or changed, a task created or stopped — writes a fresh random token
in the same transaction (`touch`). Placement locks the row first (`claim`):
placements in one pool take turns, on PostgreSQL across replicas too, and a
view of the pool kept from an earlier placement can be trusted exactly when
the token it was kept with is the one the row holds.
"""

from __future__ import annotations

import functools
import secrets
from typing import Any

from sqlalchemy import Connection, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable

from openecs.store.tables import placement_epochs as epochs

__all__ = ["advance", "claim", "new_token", "touch"]


def new_token() -> str:
    return secrets.token_hex(16)


_KEY = [epochs.c.account_id, epochs.c.region, epochs.c.pool]


@functools.cache
def _statements(dialect_name: str) -> tuple[Executable, Executable, Executable]:
    """(touch, claim, advance), built once per dialect: only their parameters change."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    values: dict[str, Any] = {c: bindparam(c) for c in ("account_id", "region", "pool", "token")}
    upsert = dialect.insert(epochs).values(values)
    touch = upsert.on_conflict_do_update(index_elements=_KEY, set_={"token": upsert.excluded.token})
    # A no-op upsert rather than SELECT ... FOR UPDATE, so that the first claim of a
    # pool creates its row (with a token nothing was kept with) under the same lock.
    claim = upsert.on_conflict_do_update(
        index_elements=_KEY, set_={"token": epochs.c.token}
    ).returning(epochs.c.token)
    advance = (
        update(epochs)
        .where(
            epochs.c.account_id == bindparam("key_account_id"),
            epochs.c.region == bindparam("key_region"),
            epochs.c.pool == bindparam("key_pool"),
        )
        .values(token=bindparam("new_token"))
    )
    return touch, claim, advance


def touch(conn: Connection, account_id: str, region: str, pool: str) -> None:
    """The pool changed: give it a token no kept view was made with."""
    stmt = _statements(conn.dialect.name)[0]
    conn.execute(
        stmt, {"account_id": account_id, "region": region, "pool": pool, "token": new_token()}
    )


def claim(conn: Connection, account_id: str, region: str, pool: str) -> str:
    """Lock the pool's row until the transaction ends and return its token."""
    stmt = _statements(conn.dialect.name)[1]
    token = conn.execute(
        stmt, {"account_id": account_id, "region": region, "pool": pool, "token": new_token()}
    ).scalar_one()
    return str(token)


def advance(conn: Connection, account_id: str, region: str, pool: str, token: str) -> None:
    """Write a token of the caller's choosing (the pool's row is claimed already)."""
    stmt = _statements(conn.dialect.name)[2]
    conn.execute(
        stmt,
        {"key_account_id": account_id, "key_region": region, "key_pool": pool, "new_token": token},
    )
