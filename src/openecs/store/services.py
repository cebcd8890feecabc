"""Service rows: the service document (deployments, events, revisions) plus the
columns lists filter on."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openecs.domain.scope import Scope
from openecs.domain.service import Service
from openecs.store.errors import ConcurrentUpdateError
from openecs.store.tables import services

__all__ = ["get", "get_many", "insert_service", "list_live", "list_names", "save"]

log = logging.getLogger("openecs.store.services")


def _from_row(row: Any) -> Service:
    return Service.from_doc(json.loads(row.doc), row.version)


def _where(scope: Scope, cluster: str) -> tuple[Any, ...]:
    return (
        services.c.account_id == scope.account_id,
        services.c.region == scope.region,
        services.c.cluster == cluster,
    )


def insert_service(conn: Connection, service: Service) -> None:
    conn.execute(
        insert(services).values(
            account_id=service.account_id,
            region=service.region,
            cluster=service.cluster,
            name=service.name,
            arn=service.arn,
            status=service.status,
            created_at=service.created_at,
            version=service.row_version,
            doc=json.dumps(service.to_doc()),
        )
    )


def save(conn: Connection, service: Service) -> None:
    result = conn.execute(
        update(services)
        .where(services.c.arn == service.arn, services.c.version == service.row_version)
        .where(services.c.created_at == service.created_at)
        .values(
            status=service.status,
            version=service.row_version + 1,
            doc=json.dumps(service.to_doc()),
        )
    )
    if result.rowcount != 1:
        raise ConcurrentUpdateError(service.arn)
    service.row_version += 1


def get(conn: Connection, scope: Scope, cluster: str, name: str) -> Service | None:
    """The newest service of that name (an INACTIVE one only if no other exists)."""
    rows = conn.execute(
        select(services.c.doc, services.c.version)
        .where(*_where(scope, cluster), services.c.name == name)
        .order_by(services.c.created_at.desc())
    ).all()
    if not rows:
        return None
    found = [_from_row(r) for r in rows]
    for service in found:
        if service.status != "INACTIVE":
            return service
    return found[0]


def get_many(
    conn: Connection, scope: Scope, cluster: str, names: Sequence[str]
) -> dict[str, Service]:
    out: dict[str, Service] = {}
    for name in dict.fromkeys(names):
        found = get(conn, scope, cluster, name)
        if found is not None:
            out[name] = found
    return out


def list_names(
    conn: Connection, scope: Scope, cluster: str, *, after: str | None, limit: int
) -> list[tuple[str, str, str]]:
    """(name, arn, doc) of ACTIVE and DRAINING services in name order."""
    query = (
        select(services.c.name, services.c.arn, services.c.doc)
        .where(*_where(scope, cluster), services.c.status.in_(("ACTIVE", "DRAINING")))
        .order_by(services.c.name)
        .limit(limit)
    )
    if after is not None:
        query = query.where(services.c.name > after)
    return [(r.name, r.arn, r.doc) for r in conn.execute(query)]


def list_live(conn: Connection) -> list[Service]:
    """Every ACTIVE or DRAINING service of every account (for the controller).

    A row that no longer decodes is logged and left out: one damaged service
    must not stop the controller from looking after all the others."""
    rows = conn.execute(
        select(services.c.arn, services.c.doc, services.c.version).where(
            services.c.status.in_(("ACTIVE", "DRAINING"))
        )
    )
    live = []
    for row in rows:
        try:
            live.append(_from_row(row))
        except (ValueError, KeyError, TypeError):
            log.exception("service row does not decode; skipped", extra={"service": row.arn})
    return live
