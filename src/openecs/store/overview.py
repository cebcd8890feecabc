"""Counts across every account and region, for the server's `/metrics`: tasks by
status, services' desired and running tasks, instances with a connected agent.
Aggregates over indexed columns; service documents are read for desired counts."""

from __future__ import annotations

import json

from sqlalchemy import Connection, func, select

from openecs.domain.service import Service
from openecs.store.tables import container_instances, services, tasks

__all__ = ["connected_instance_counts", "service_task_counts", "task_status_counts"]

Place = tuple[str, str, str]  # account, region, cluster


def task_status_counts(conn: Connection) -> dict[tuple[str, str, str, str], int]:
    """{(account, region, cluster, last status): tasks}"""
    t = tasks
    query = select(t.c.account_id, t.c.region, t.c.cluster, t.c.last_status, func.count()).group_by(
        t.c.account_id, t.c.region, t.c.cluster, t.c.last_status
    )
    return {(a, r, c, s): int(n) for a, r, c, s, n in conn.execute(query).all()}


def service_task_counts(conn: Connection) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    """{(account, region, cluster, service): (desired, running)} of ACTIVE services."""
    s = services
    found: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    for row in conn.execute(
        select(s.c.account_id, s.c.region, s.c.cluster, s.c.name, s.c.doc, s.c.version).where(
            s.c.status == "ACTIVE"
        )
    ):
        service = Service.from_doc(json.loads(row.doc), row.version)
        found[(row.account_id, row.region, row.cluster, row.name)] = (service.desired_count, 0)
    t = tasks
    running = (
        select(t.c.account_id, t.c.region, t.c.cluster, t.c.group_name, func.count())
        .where(t.c.last_status == "RUNNING", t.c.group_name.like("service:%"))
        .group_by(t.c.account_id, t.c.region, t.c.cluster, t.c.group_name)
    )
    for account, region, cluster, group, count in conn.execute(running).all():
        key = (account, region, cluster, str(group).removeprefix("service:"))
        if key in found:
            found[key] = (found[key][0], int(count))
    return found


def connected_instance_counts(conn: Connection) -> dict[tuple[str, str, str, bool], int]:
    """{(account, region, cluster, agent connected): ACTIVE or DRAINING instances}"""
    i = container_instances
    query = (
        select(i.c.account_id, i.c.region, i.c.cluster, i.c.agent_connected, func.count())
        .where(i.c.status.in_(("ACTIVE", "DRAINING")))
        .group_by(i.c.account_id, i.c.region, i.c.cluster, i.c.agent_connected)
    )
    return {(a, r, c, bool(ok)): int(n) for a, r, c, ok, n in conn.execute(query).all()}
