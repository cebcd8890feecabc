"""Cluster rows and the counts that DescribeClusters reports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from openecs.domain.cluster import Cluster, ClusterCounts
from openecs.domain.scope import Scope
from openecs.store.errors import ConcurrentUpdateError
from openecs.store.tables import clusters, container_instances, services, tasks

__all__ = ["count_for", "get", "get_many", "insert_cluster", "list_names", "save"]


def _doc(cluster: Cluster) -> str:
    return json.dumps(
        {
            "settings": cluster.settings,
            "configuration": cluster.configuration,
            "capacityProviders": cluster.capacity_providers,
            "defaultCapacityProviderStrategy": cluster.default_capacity_provider_strategy,
            "serviceConnectDefaults": cluster.service_connect_defaults,
        }
    )


def _from_row(row: Any) -> Cluster:
    doc = json.loads(row.doc)
    return Cluster(
        name=row.name,
        arn=row.arn,
        status=row.status,
        created_at=row.created_at,
        settings=doc["settings"],
        configuration=doc["configuration"],
        capacity_providers=doc["capacityProviders"],
        default_capacity_provider_strategy=doc["defaultCapacityProviderStrategy"],
        service_connect_defaults=doc["serviceConnectDefaults"],
        version=row.version,
    )


def _where(scope: Scope) -> tuple[Any, ...]:
    return (clusters.c.account_id == scope.account_id, clusters.c.region == scope.region)


# Built once: constructing the statement cost more than running it.
_GET = select(clusters).where(
    clusters.c.account_id == bindparam("account_id"),
    clusters.c.region == bindparam("region"),
    clusters.c.name == bindparam("name"),
)


def get(conn: Connection, scope: Scope, name: str) -> Cluster | None:
    params = {"account_id": scope.account_id, "region": scope.region, "name": name}
    row = conn.execute(_GET, params).first()
    return _from_row(row) if row else None


def get_many(conn: Connection, scope: Scope, names: Sequence[str]) -> dict[str, Cluster]:
    rows = conn.execute(select(clusters).where(*_where(scope), clusters.c.name.in_(list(names))))
    return {row.name: _from_row(row) for row in rows}


def insert_cluster(conn: Connection, scope: Scope, cluster: Cluster) -> None:
    conn.execute(
        insert(clusters).values(
            account_id=scope.account_id,
            region=scope.region,
            name=cluster.name,
            arn=cluster.arn,
            status=cluster.status,
            created_at=cluster.created_at,
            version=cluster.version,
            doc=_doc(cluster),
        )
    )


def save(conn: Connection, scope: Scope, cluster: Cluster) -> None:
    """Write back a cluster read in this transaction; fails if someone else changed it."""
    result = conn.execute(
        update(clusters)
        .where(*_where(scope), clusters.c.name == cluster.name)
        .where(clusters.c.version == cluster.version)
        .values(status=cluster.status, doc=_doc(cluster), version=cluster.version + 1)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdateError(cluster.arn)
    cluster.version += 1


def list_names(
    conn: Connection, scope: Scope, *, after: str | None, limit: int
) -> list[tuple[str, str]]:
    """(name, arn) of ACTIVE clusters in name order, after a pagination key."""
    query = (
        select(clusters.c.name, clusters.c.arn)
        .where(*_where(scope), clusters.c.status == "ACTIVE")
        .order_by(clusters.c.name)
        .limit(limit)
    )
    if after is not None:
        query = query.where(clusters.c.name > after)
    return [(row.name, row.arn) for row in conn.execute(query)]


def count_for(conn: Connection, scope: Scope, name: str) -> ClusterCounts:
    """Live counts of what a cluster holds, from the task, service and instance tables."""
    in_cluster_tasks = (
        tasks.c.account_id == scope.account_id,
        tasks.c.region == scope.region,
        tasks.c.cluster == name,
    )
    task_rows = conn.execute(
        select(tasks.c.last_status, tasks.c.launch_type, func.count())
        .where(*in_cluster_tasks, tasks.c.desired_status != "STOPPED")
        .group_by(tasks.c.last_status, tasks.c.launch_type)
    ).all()
    running: dict[str, int] = {}
    pending: dict[str, int] = {}
    for status, launch_type, count in task_rows:
        lt = launch_type or "EC2"
        if status == "RUNNING":
            running[lt] = running.get(lt, 0) + count
        elif status in ("PROVISIONING", "PENDING", "ACTIVATING"):
            pending[lt] = pending.get(lt, 0) + count
    service_rows = conn.execute(
        select(services.c.status, services.c.doc).where(
            services.c.account_id == scope.account_id,
            services.c.region == scope.region,
            services.c.cluster == name,
            services.c.status.in_(("ACTIVE", "DRAINING")),
        )
    ).all()
    active: dict[str, int] = {}
    draining: dict[str, int] = {}
    for status, doc in service_rows:
        lt = json.loads(doc).get("launchType") or "EC2"
        bucket = active if status == "ACTIVE" else draining
        bucket[lt] = bucket.get(lt, 0) + 1
    instances = conn.execute(
        select(func.count()).where(
            container_instances.c.account_id == scope.account_id,
            container_instances.c.region == scope.region,
            container_instances.c.cluster == name,
            container_instances.c.status.in_(("ACTIVE", "DRAINING", "REGISTERING")),
        )
    ).scalar_one()
    return ClusterCounts(
        registered_instances=instances,
        running_tasks=sum(running.values()),
        pending_tasks=sum(pending.values()),
        active_services=sum(active.values()),
        draining_services=sum(draining.values()),
        running_by_launch_type=tuple(sorted(running.items())),
        pending_by_launch_type=tuple(sorted(pending.items())),
        active_services_by_launch_type=tuple(sorted(active.items())),
        draining_services_by_launch_type=tuple(sorted(draining.items())),
    )
