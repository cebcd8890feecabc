"""Feasibility filters. Each says, for an instance it rejects, the ECS reason."""

from __future__ import annotations

from collections.abc import Callable

from openecs.domain.resources import Reservation
from openecs.scheduler.view import InstanceView, PlacementRequest

__all__ = ["FILTERS", "Filter", "reject_reason"]

# A filter returns None when the instance is feasible, else ECS's failure reason.
Filter = Callable[[InstanceView, PlacementRequest], str | None]


def agent_connected(view: InstanceView, req: PlacementRequest) -> str | None:
    return None if view.instance.agent_connected else "AGENT"


def instance_active(view: InstanceView, req: PlacementRequest) -> str | None:
    return None if view.instance.status == "ACTIVE" else "INSTANCE_STATUS"


def attributes_present(view: InstanceView, req: PlacementRequest) -> str | None:
    if not req.required_attributes:
        return None
    names = {a.get("name") for a in view.instance.attributes}
    return None if all(n in names for n in req.required_attributes) else "ATTRIBUTE"


def cpu_fits(view: InstanceView, req: PlacementRequest) -> str | None:
    return None if req.reservation.cpu <= view.remaining.cpu else "RESOURCE:CPU"


def memory_fits(view: InstanceView, req: PlacementRequest) -> str | None:
    return None if req.reservation.memory <= view.remaining.memory else "RESOURCE:MEMORY"


def ports_free(view: InstanceView, req: PlacementRequest) -> str | None:
    res: Reservation = req.reservation
    if res.tcp_ports & view.remaining.reserved_tcp or res.udp_ports & view.remaining.reserved_udp:
        return "RESOURCE:PORTS"
    return None


def gpus_fit(view: InstanceView, req: PlacementRequest) -> str | None:
    return None if req.reservation.gpus <= view.remaining.gpus else "RESOURCE:GPU"


FILTERS: tuple[Filter, ...] = (
    agent_connected,
    instance_active,
    attributes_present,
    cpu_fits,
    memory_fits,
    ports_free,
    gpus_fit,
)


def reject_reason(view: InstanceView, req: PlacementRequest) -> str | None:
    for check in FILTERS:
        reason = check(view, req)
        if reason is not None:
            return reason
    return None
