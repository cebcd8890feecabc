"""Feasibility filters: can this instance take one more task of the request?

Each filter is tiny, built once per request (constraint expressions compiled,
ports and GPU checks left out when the task needs none), and carries the
reason ECS reports when it rejects an instance. They run in ECS's order —
the instance's state, the task definition's required attributes, then CPU,
memory, ports and GPUs, then the placement constraints — so the filter that
rejects an instance tells how close it came: an instance turned away for
memory got further than one whose agent is disconnected.

Reasons, as ECS words them in `failures[].reason`:

    AGENT                 the instance's agent is disconnected
    INSTANCE_STATUS       the instance is not ACTIVE (DRAINING): OpenECS's own
    ATTRIBUTE             an attribute the task definition requires is missing
    RESOURCE:CPU          too few CPU units left
    RESOURCE:MEMORY       too little memory left
    RESOURCE:PORTS        a static host port the task needs is taken
    RESOURCE:GPU          too few GPUs left
    DistinctInstance placement constraint unsatisfied.
    MemberOf placement constraint unsatisfied.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from openecs.domain.container_instance import InstanceStatus
from openecs.scheduler.constraints import parse_constraints
from openecs.scheduler.query_language import compile_expression
from openecs.scheduler.view import InstanceView, PlacementRequest

__all__ = [
    "AGENT",
    "ATTRIBUTE",
    "DISTINCT_INSTANCE",
    "INSTANCE_STATUS",
    "MEMBER_OF",
    "RESOURCE_CPU",
    "RESOURCE_GPU",
    "RESOURCE_MEMORY",
    "RESOURCE_PORTS",
    "Filter",
    "build_filters",
    "distinct_within_request",
    "first_rejection",
    "reject_reason",
]

AGENT = "AGENT"
INSTANCE_STATUS = "INSTANCE_STATUS"
ATTRIBUTE = "ATTRIBUTE"
RESOURCE_CPU = "RESOURCE:CPU"
RESOURCE_MEMORY = "RESOURCE:MEMORY"
RESOURCE_PORTS = "RESOURCE:PORTS"
RESOURCE_GPU = "RESOURCE:GPU"
DISTINCT_INSTANCE = "DistinctInstance placement constraint unsatisfied."
MEMBER_OF = "MemberOf placement constraint unsatisfied."


@dataclass(frozen=True, slots=True)
class Filter:
    reason: str  # what ECS reports
    explain: str  # completes "The closest matching container instance X ..."
    accepts: Callable[[InstanceView], bool]
    # Whether placing a task can change the answer; only these are asked again,
    # of the chosen instance, after each placement.
    dynamic: bool


def _state_filters() -> list[Filter]:
    return [
        Filter(AGENT, "has a disconnected container agent", _agent_connected, False),
        Filter(INSTANCE_STATUS, "is not ACTIVE", _active, False),
    ]


def _agent_connected(view: InstanceView) -> bool:
    return view.instance.agent_connected


def _active(view: InstanceView) -> bool:
    return view.instance.status == InstanceStatus.ACTIVE


def _resource_filters(req: PlacementRequest) -> list[Filter]:
    res = req.reservation
    cpu, memory, gpus = res.cpu, res.memory, res.gpus
    found = [
        Filter(
            RESOURCE_CPU,
            "has insufficient CPU units available",
            lambda v: cpu <= v.remaining.cpu,
            True,
        ),
        Filter(
            RESOURCE_MEMORY,
            "has insufficient memory available",
            lambda v: memory <= v.remaining.memory,
            True,
        ),
    ]
    if res.tcp_ports or res.udp_ports:
        tcp, udp = res.tcp_ports, res.udp_ports

        def ports_free(v: InstanceView) -> bool:
            left = v.remaining
            return not (tcp & left.reserved_tcp or udp & left.reserved_udp)

        found.append(
            Filter(
                RESOURCE_PORTS, "has a host port the task needs already in use", ports_free, True
            )
        )
    if gpus:
        found.append(
            Filter(
                RESOURCE_GPU,
                "has insufficient GPUs available",
                lambda v: gpus <= v.remaining.gpus,
                True,
            )
        )
    return found


def _distinct_filter(req: PlacementRequest, placed_here: Collection[str]) -> Filter:
    group = req.group
    if distinct_within_request(req):
        return Filter(
            DISTINCT_INSTANCE,
            "already got a task of this request",
            lambda v: v.instance_id not in placed_here,
            True,
        )
    # A service's tasks, running or just placed, each on their own instance.
    return Filter(
        DISTINCT_INSTANCE,
        f"already runs a task of {group}",
        lambda v: v.groups.get(group or "", 0) == 0,
        True,
    )


def distinct_within_request(req: PlacementRequest) -> bool:
    """Whether distinctInstance is about this request's tasks only (standalone tasks),
    rather than about every task of the group (a service's)."""
    has_distinct = any(kind == "distinctInstance" for kind, _ in req.constraints)
    return has_distinct and not (req.is_service and req.group)


def build_filters(
    req: PlacementRequest, placed_here: Collection[str] = frozenset()
) -> tuple[Filter, ...]:
    """The request's filters, in the order they run; expressions compiled once.

    `placed_here` holds the instances this request has placed a task on so far
    (distinctInstance for standalone tasks); the caller keeps it up to date.
    """
    found = _state_filters()
    required = tuple(req.required_attributes)
    if required:

        def has_required(v: InstanceView) -> bool:
            attrs = v.attributes
            return all(name in attrs for name in required)

        found.append(Filter(ATTRIBUTE, "lacks an attribute the task requires", has_required, False))
    found.extend(_resource_filters(req))
    distinct = False
    for kind, expression in req.constraints:
        if kind == "distinctInstance":
            if not distinct:
                found.append(_distinct_filter(req, placed_here))
            distinct = True
        else:
            # A constraint the scheduler does not understand must not be skipped:
            # refuse it as the API would (parse_constraints words the reasons).
            parse_constraints([{"type": kind, "expression": expression}])
            compiled = compile_expression(expression or "")
            found.append(
                Filter(
                    MEMBER_OF,
                    f"does not satisfy memberOf({expression})",
                    compiled.matches,
                    compiled.reads_tasks,
                )
            )
    return tuple(found)


def first_rejection(filters: Sequence[Filter], view: InstanceView) -> Filter | None:
    """The first filter that turns the instance away, or None if it can take the task."""
    for check in filters:
        if not check.accepts(view):
            return check
    return None


def reject_reason(view: InstanceView, req: PlacementRequest) -> str | None:
    """ECS's reason the instance cannot take one more task of `req`, or None."""
    rejected = first_rejection(build_filters(req), view)
    return None if rejected is None else rejected.reason
