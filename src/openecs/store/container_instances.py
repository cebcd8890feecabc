"""Container instance rows.

Registering or changing an instance touches its pool's placement epoch
(store.placement_epochs); heartbeats, which only the liveness check reads,
do not.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.store import placement_epochs
from openecs.store.errors import ConcurrentUpdateError
from openecs.store.tables import container_instances as ci

__all__ = [
    "disconnected_among",
    "get",
    "get_by_ec2_id",
    "get_by_ec2_ids",
    "get_many",
    "insert_instance",
    "list_instances",
    "save",
]


_DOC_FIELDS = tuple(f.name for f in fields(ContainerInstance) if f.name != "row_version")


def _doc(inst: ContainerInstance) -> str:
    # By hand rather than dataclasses.asdict (a deep copy): a fleet registers thousands.
    doc = {name: getattr(inst, name) for name in _DOC_FIELDS}
    doc["capacity"] = {
        "cpu": inst.capacity.cpu,
        "memory": inst.capacity.memory,
        "tcp": sorted(inst.capacity.reserved_tcp),
        "udp": sorted(inst.capacity.reserved_udp),
        "gpus": inst.capacity.gpus,
    }
    return json.dumps(doc)


def _from_row(row: Any) -> ContainerInstance:
    doc = json.loads(row.doc)
    cap = doc.pop("capacity")
    doc["capacity"] = Capacity(
        cap["cpu"], cap["memory"], frozenset(cap["tcp"]), frozenset(cap["udp"]), cap.get("gpus", 0)
    )
    return ContainerInstance(**doc, row_version=row.version)


def _values(inst: ContainerInstance) -> dict[str, Any]:
    return {
        "account_id": inst.account_id,
        "region": inst.region,
        "cluster": inst.cluster,
        "arn": inst.arn,
        "ec2_instance_id": inst.ec2_instance_id,
        "status": inst.status,
        "agent_connected": inst.agent_connected,
        "last_heartbeat": inst.last_heartbeat,
        "registered_at": inst.registered_at,
        "doc": _doc(inst),
        "kind": inst.kind,
    }


# Built once (columns come from the parameters' keys): writing an instance pays for
# its parameters only.
_INSERT = insert(ci)
_SAVE = update(ci).where(
    ci.c.instance_id == bindparam("match_instance_id"),
    ci.c.version == bindparam("match_version"),
)


def insert_instance(conn: Connection, inst: ContainerInstance, *, touch: bool = True) -> None:
    """Insert a new instance; `touch=False` leaves the pool's epoch to the caller (once
    for a batch)."""
    conn.execute(
        _INSERT, {"instance_id": inst.instance_id, "version": inst.row_version, **_values(inst)}
    )
    if touch:
        placement_epochs.touch(conn, inst.account_id, inst.region, inst.cluster)


def save(conn: Connection, inst: ContainerInstance, *, touch: bool = True) -> None:
    result = conn.execute(
        _SAVE,
        {
            "version": inst.row_version + 1,
            "match_instance_id": inst.instance_id,
            "match_version": inst.row_version,
            **_values(inst),
        },
    )
    if result.rowcount != 1:
        raise ConcurrentUpdateError(inst.arn)
    inst.row_version += 1
    if touch:
        placement_epochs.touch(conn, inst.account_id, inst.region, inst.cluster)


def get(conn: Connection, scope: Scope, instance_id: str) -> ContainerInstance | None:
    row = conn.execute(
        select(ci.c.doc, ci.c.version).where(
            ci.c.instance_id == instance_id,
            ci.c.account_id == scope.account_id,
            ci.c.region == scope.region,
        )
    ).first()
    return _from_row(row) if row else None


def get_many(
    conn: Connection, scope: Scope, instance_ids: Iterable[str]
) -> dict[str, ContainerInstance]:
    ids = list(instance_ids)
    if not ids:
        return {}
    rows = conn.execute(
        select(ci.c.doc, ci.c.version).where(
            ci.c.instance_id.in_(ids),
            ci.c.account_id == scope.account_id,
            ci.c.region == scope.region,
        )
    )
    found = [_from_row(r) for r in rows]
    return {i.instance_id: i for i in found}


def get_by_ec2_id(
    conn: Connection, scope: Scope, cluster: str, ec2_id: str
) -> ContainerInstance | None:
    row = conn.execute(
        select(ci.c.doc, ci.c.version).where(
            ci.c.account_id == scope.account_id,
            ci.c.region == scope.region,
            ci.c.cluster == cluster,
            ci.c.ec2_instance_id == ec2_id,
            ci.c.status != "INACTIVE",
        )
    ).first()
    return _from_row(row) if row else None


def get_by_ec2_ids(
    conn: Connection, scope: Scope, cluster: str, ec2_ids: Iterable[str]
) -> dict[str, ContainerInstance]:
    """`get_by_ec2_id` for many hosts at once, by EC2 instance id."""
    ids = list(ec2_ids)
    out: dict[str, ContainerInstance] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(ci.c.doc, ci.c.version).where(
                ci.c.account_id == scope.account_id,
                ci.c.region == scope.region,
                ci.c.cluster == cluster,
                ci.c.ec2_instance_id.in_(ids[start : start + 500]),
                ci.c.status != "INACTIVE",
            )
        )
        for row in rows:
            inst = _from_row(row)
            out[inst.ec2_instance_id] = inst
    return out


def list_instances(
    conn: Connection,
    scope: Scope,
    cluster: str,
    *,
    statuses: Iterable[str] | None = None,
    kind: str | None = None,
) -> list[ContainerInstance]:
    """A cluster's instances. Parsed documents are cached by (id, row version), so
    placement over thousands of instances reads only what changed since last time."""
    query = select(ci.c.instance_id, ci.c.version).where(
        ci.c.account_id == scope.account_id, ci.c.region == scope.region, ci.c.cluster == cluster
    )
    if statuses is not None:
        query = query.where(ci.c.status.in_(list(statuses)))
    if kind is not None:
        query = query.where(ci.c.kind == kind)
    keys = [(r.instance_id, r.version) for r in conn.execute(query.order_by(ci.c.instance_id))]
    _load_missing(conn, keys)
    return [copy.copy(inst) for inst in _cached(keys)]


def snapshot_instances(
    conn: Connection,
    scope: Scope,
    cluster: str,
    *,
    statuses: Iterable[str] | None = None,
    kind: str | None = None,
) -> list[ContainerInstance]:
    """Like `list_instances`, but the instances are shared with a cache: read-only."""
    query = select(ci.c.instance_id, ci.c.version).where(
        ci.c.account_id == scope.account_id, ci.c.region == scope.region, ci.c.cluster == cluster
    )
    if statuses is not None:
        query = query.where(ci.c.status.in_(list(statuses)))
    if kind is not None:
        query = query.where(ci.c.kind == kind)
    keys = [(r.instance_id, r.version) for r in conn.execute(query.order_by(ci.c.instance_id))]
    _load_missing(conn, keys)
    return _cached(keys)


def _load_missing(conn: Connection, keys: list[tuple[str, int]]) -> None:
    missing = [iid for iid, version in keys if (iid, version) not in _parsed]
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        for row in conn.execute(
            select(ci.c.instance_id, ci.c.doc, ci.c.version).where(ci.c.instance_id.in_(chunk))
        ):
            _remember(row.instance_id, row.version, _from_row(row))


def _cached(keys: list[tuple[str, int]]) -> list[ContainerInstance]:
    return [_parsed[key] for key in keys if key in _parsed]


# (instance id, row version) → parsed instance; versions only grow, so entries never go stale.
_parsed: dict[tuple[str, int], ContainerInstance] = {}
_PARSED_LIMIT = 20_000


def _remember(instance_id: str, version: int, inst: ContainerInstance) -> None:
    if len(_parsed) >= _PARSED_LIMIT:
        _parsed.clear()
    _parsed[(instance_id, version)] = inst


def heartbeat(conn: Connection, instance_id: str, now: float) -> None:
    """Record an agent's sign of life (no version bump: not a user-visible change)."""
    conn.execute(update(ci).where(ci.c.instance_id == instance_id).values(last_heartbeat=now))


def liveness(conn: Connection, scope: Scope, instance_id: str) -> tuple[bool, float | None] | None:
    """(agent connected, last heartbeat written) of an instance; None if unknown."""
    row = conn.execute(
        select(ci.c.agent_connected, ci.c.last_heartbeat).where(
            ci.c.account_id == scope.account_id,
            ci.c.region == scope.region,
            ci.c.instance_id == instance_id,
        )
    ).first()
    return (bool(row.agent_connected), row.last_heartbeat) if row else None


def stale_connected(conn: Connection, cutoff: float) -> list[str]:
    rows = conn.execute(
        select(ci.c.instance_id).where(
            ci.c.agent_connected.is_(True), ci.c.last_heartbeat < cutoff, ci.c.status != "INACTIVE"
        )
    )
    return [r.instance_id for r in rows]


def get_any(conn: Connection, instance_id: str) -> ContainerInstance | None:
    """An instance by id in whatever account (for controllers, which serve all accounts)."""
    row = conn.execute(
        select(ci.c.doc, ci.c.version).where(ci.c.instance_id == instance_id)
    ).first()
    return _from_row(row) if row else None


def disconnected_among(conn: Connection, instance_ids: list[str]) -> list[str]:
    """Those of the instances that are shown disconnected (and not deregistered)."""
    found: list[str] = []
    for start in range(0, len(instance_ids), 500):
        chunk = instance_ids[start : start + 500]
        found.extend(
            r.instance_id
            for r in conn.execute(
                select(ci.c.instance_id).where(
                    ci.c.instance_id.in_(chunk),
                    ci.c.agent_connected.is_(False),
                    ci.c.status != "INACTIVE",
                )
            )
        )
    return found


def heartbeat_many(conn: Connection, instance_ids: list[str], now: float) -> None:
    """Many agents' signs of life (no version bump, as for one: `heartbeat`)."""
    for start in range(0, len(instance_ids), 500):
        chunk = instance_ids[start : start + 500]
        conn.execute(
            update(ci)
            .where(ci.c.instance_id.in_(chunk), ci.c.status != "INACTIVE")
            .values(last_heartbeat=now)
        )
