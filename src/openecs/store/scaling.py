"""Rows of Application Auto Scaling: scalable targets (with the controller's state),
their scaling policies and scheduled actions, and scaling activities."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from openecs.domain.scaling import (
    DIMENSION,
    NAMESPACE,
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    ScalingState,
    ScheduledAction,
)
from openecs.domain.scope import Scope
from openecs.store.tables import (
    scalable_targets,
    scaling_activities,
    scaling_policies,
    scheduled_actions,
)

__all__ = [
    "delete_action",
    "delete_policy",
    "delete_target",
    "get_target",
    "insert_activity",
    "list_actions",
    "list_activities",
    "list_all_targets",
    "list_policies",
    "list_targets",
    "save_action",
    "save_policy",
    "save_state",
    "save_target",
]


def _target(row: Any) -> tuple[int, ScalableTarget]:
    state = ScalingState.from_doc(json.loads(row.state))
    target = ScalableTarget.from_doc(
        row.resource_id, row.arn, row.created_at, json.loads(row.doc), state
    )
    return int(row.id), target


def _scoped(scope: Scope) -> tuple[Any, ...]:
    return (
        scalable_targets.c.account_id == scope.account_id,
        scalable_targets.c.region == scope.region,
        scalable_targets.c.namespace == NAMESPACE,
        scalable_targets.c.dimension == DIMENSION,
    )


def get_target(
    conn: Connection, scope: Scope, resource_id: str
) -> tuple[int, ScalableTarget] | None:
    row = conn.execute(
        select(scalable_targets).where(
            *_scoped(scope), scalable_targets.c.resource_id == resource_id
        )
    ).first()
    return _target(row) if row else None


def list_targets(
    conn: Connection, scope: Scope, resource_ids: list[str] | None
) -> list[tuple[int, ScalableTarget]]:
    query = select(scalable_targets).where(*_scoped(scope)).order_by(scalable_targets.c.id)
    if resource_ids is not None:
        query = query.where(scalable_targets.c.resource_id.in_(resource_ids))
    return [_target(row) for row in conn.execute(query)]


def list_all_targets(conn: Connection) -> list[tuple[Scope, int, ScalableTarget]]:
    """Every target of every account and region, for the controller."""
    rows = conn.execute(select(scalable_targets).order_by(scalable_targets.c.id))
    return [(Scope.root(row.account_id, row.region), *_target(row)) for row in rows]


def save_target(
    conn: Connection, scope: Scope, target_id: int | None, target: ScalableTarget
) -> int:
    doc = json.dumps(target.to_doc())
    if target_id is not None:
        conn.execute(
            update(scalable_targets).where(scalable_targets.c.id == target_id).values(doc=doc)
        )
        return target_id
    result = conn.execute(
        insert(scalable_targets).values(
            account_id=scope.account_id,
            region=scope.region,
            namespace=NAMESPACE,
            resource_id=target.resource_id,
            dimension=DIMENSION,
            arn=target.arn,
            created_at=target.created_at,
            doc=doc,
            state=json.dumps(target.state.to_doc()),
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def save_state(conn: Connection, target_id: int, state: ScalingState) -> None:
    conn.execute(
        update(scalable_targets)
        .where(scalable_targets.c.id == target_id)
        .values(state=json.dumps(state.to_doc()))
    )


def delete_target(conn: Connection, target_id: int) -> None:
    conn.execute(delete(scaling_policies).where(scaling_policies.c.target_id == target_id))
    conn.execute(delete(scheduled_actions).where(scheduled_actions.c.target_id == target_id))
    conn.execute(delete(scalable_targets).where(scalable_targets.c.id == target_id))


def _children(
    conn: Connection, table: Table, target_ids: list[int], names: list[str] | None
) -> list[Any]:
    query = (
        select(table, scalable_targets.c.resource_id)
        .join(scalable_targets, scalable_targets.c.id == table.c.target_id)
        .where(table.c.target_id.in_(target_ids))
        .order_by(table.c.id)
    )
    if names is not None:
        query = query.where(table.c.name.in_(names))
    return list(conn.execute(query))


def list_policies(
    conn: Connection, target_ids: list[int], names: list[str] | None = None
) -> list[ScalingPolicy]:
    return [
        ScalingPolicy.from_doc(r.name, r.resource_id, r.arn, r.created_at, json.loads(r.doc))
        for r in _children(conn, scaling_policies, target_ids, names)
    ]


def list_actions(
    conn: Connection, target_ids: list[int], names: list[str] | None = None
) -> list[ScheduledAction]:
    return [
        ScheduledAction.from_doc(r.name, r.resource_id, r.arn, r.created_at, json.loads(r.doc))
        for r in _children(conn, scheduled_actions, target_ids, names)
    ]


def _save_child(
    conn: Connection, table: Table, target_id: int, name: str, arn: str, created: float, doc: str
) -> None:
    where = (table.c.target_id == target_id, table.c.name == name)
    if conn.execute(select(table.c.id).where(*where)).first():
        conn.execute(update(table).where(*where).values(doc=doc))
        return
    conn.execute(
        insert(table).values(target_id=target_id, name=name, arn=arn, created_at=created, doc=doc)
    )


def save_policy(conn: Connection, target_id: int, policy: ScalingPolicy) -> None:
    """Insert the policy, or replace the configuration of the one of that name (its ARN
    and creation time stay)."""
    doc = json.dumps(policy.to_doc())
    _save_child(conn, scaling_policies, target_id, policy.name, policy.arn, policy.created_at, doc)


def save_action(conn: Connection, target_id: int, action: ScheduledAction) -> None:
    doc = json.dumps(action.to_doc())
    _save_child(conn, scheduled_actions, target_id, action.name, action.arn, action.created_at, doc)


def delete_policy(conn: Connection, target_id: int, name: str) -> bool:
    result = conn.execute(
        delete(scaling_policies).where(
            scaling_policies.c.target_id == target_id, scaling_policies.c.name == name
        )
    )
    return bool(result.rowcount)


def delete_action(conn: Connection, target_id: int, name: str) -> bool:
    result = conn.execute(
        delete(scheduled_actions).where(
            scheduled_actions.c.target_id == target_id, scheduled_actions.c.name == name
        )
    )
    return bool(result.rowcount)


def insert_activity(conn: Connection, scope: Scope, activity: ScalingActivity) -> None:
    conn.execute(
        insert(scaling_activities).values(
            account_id=scope.account_id,
            region=scope.region,
            namespace=NAMESPACE,
            resource_id=activity.resource_id,
            activity_id=activity.activity_id,
            start_time=activity.start_time,
            doc=json.dumps(
                {
                    "Description": activity.description,
                    "Cause": activity.cause,
                    "EndTime": activity.end_time,
                    "StatusCode": activity.status_code,
                    "StatusMessage": activity.status_message,
                }
            ),
        )
    )


def list_activities(
    conn: Connection, scope: Scope, resource_id: str | None, *, offset: int, limit: int
) -> list[ScalingActivity]:
    """Newest first."""
    query = (
        select(scaling_activities)
        .where(
            scaling_activities.c.account_id == scope.account_id,
            scaling_activities.c.region == scope.region,
            scaling_activities.c.namespace == NAMESPACE,
        )
        .order_by(scaling_activities.c.start_time.desc(), scaling_activities.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if resource_id is not None:
        query = query.where(scaling_activities.c.resource_id == resource_id)
    out = []
    for row in conn.execute(query):
        doc = json.loads(row.doc)
        out.append(
            ScalingActivity(
                row.activity_id,
                row.resource_id,
                doc["Description"],
                doc["Cause"],
                row.start_time,
                doc["EndTime"],
                doc["StatusCode"],
                doc["StatusMessage"],
            )
        )
    return out
