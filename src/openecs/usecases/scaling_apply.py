"""The scaling controller's reads and writes: every scalable target with what its
decision needs, and the effects of a decision (new min/max, the service's desired
count through UpdateService, scaling activities, the controller's state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from openecs.domain.scaling import (
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    ScalingState,
    ScheduledAction,
)
from openecs.domain.scope import Scope
from openecs.domain.service import ServiceStatus
from openecs.platform.ids import new_uuid
from openecs.store import load_balancing as lb_rows
from openecs.store import scaling as rows
from openecs.store import services as service_rows
from openecs.usecases.backend import Backend
from openecs.usecases.services import update_service

__all__ = ["ScalingEffects", "ScalingView", "apply_scaling", "scaling_views"]


@dataclass(frozen=True, slots=True)
class ScalingView:
    scope: Scope
    target_id: int
    target: ScalableTarget
    policies: list[ScalingPolicy]
    actions: list[ScheduledAction]
    current: int  # the service's desired count
    # ALBRequestCountPerTarget's ResourceLabel for the service's first target group
    # (`app/NAME/ID/targetgroup/NAME/ID`), which step policies on `requests` watch.
    request_label: str | None = None


@dataclass(frozen=True, slots=True)
class ScalingEffects:
    min_capacity: int
    max_capacity: int
    desired: int
    state: ScalingState
    activities: Sequence[tuple[str, str]]  # (description, cause)


def scaling_views(backend: Backend) -> list[ScalingView]:
    """Targets whose service is ACTIVE, with their policies and scheduled actions."""
    views = []
    with backend.reading() as conn:
        for scope, target_id, target in rows.list_all_targets(conn):
            service = service_rows.get(conn, scope, target.cluster, target.service)
            if service is None or service.status != ServiceStatus.ACTIVE:
                continue
            views.append(
                ScalingView(
                    scope,
                    target_id,
                    target,
                    rows.list_policies(conn, [target_id]),
                    rows.list_actions(conn, [target_id]),
                    service.desired_count,
                    _request_label(conn, service.load_balancers),
                )
            )
    return views


def _request_label(conn: Connection, load_balancers: Sequence[Mapping[str, Any]]) -> str | None:
    group = next(
        (str(lb["targetGroupArn"]) for lb in load_balancers if lb.get("targetGroupArn")), None
    )
    if group is None:
        return None
    found = lb_rows.load_balancers_of(conn, [group]).get(group) or []
    if not found:
        return None
    return found[0].split(":loadbalancer/", 1)[-1] + "/" + group.rsplit(":", 1)[-1]


def apply_scaling(backend: Backend, view: ScalingView, effects: ScalingEffects) -> None:
    """The service's desired count first (UpdateService), then the target's state and
    the activities: a crash in between repeats a decision, never loses its record."""
    if effects.desired != view.current:
        update_service(
            backend,
            view.scope,
            {
                "cluster": view.target.cluster,
                "service": view.target.service,
                "desiredCount": effects.desired,
            },
        )
    now = backend.clock.now()

    def work(conn: Connection) -> None:
        found = rows.get_target(conn, view.scope, view.target.resource_id)
        if found is None or found[0] != view.target_id:
            return  # deregistered meanwhile
        target_id, target = found
        if (target.min_capacity, target.max_capacity) != (
            effects.min_capacity,
            effects.max_capacity,
        ):
            target.min_capacity, target.max_capacity = effects.min_capacity, effects.max_capacity
            rows.save_target(conn, view.scope, target_id, target)
        rows.save_state(conn, target_id, effects.state)
        for description, cause in effects.activities:
            rows.insert_activity(
                conn,
                view.scope,
                ScalingActivity(new_uuid(), target.resource_id, description, cause, now, now),
            )

    backend.write(work)
