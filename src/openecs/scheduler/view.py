"""The read-only picture of capacity the scheduler decides on.

A `ClusterView` is a snapshot the use case reads inside its write
transaction. The scheduler mutates only the `InstanceView`s of that snapshot,
through `InstanceView.take`, so that each placement of a plan sees the ones
before it; nothing here is ever written back by the scheduler itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.resources import Capacity, Reservation

__all__ = [
    "ClusterView",
    "InstanceView",
    "PlacementRequest",
    "instance_attributes",
    "takes_so_far",
]

# Built-in attributes ECS derives from the instance itself, when the agent did
# not report them explicitly.
AVAILABILITY_ZONE = "ecs.availability-zone"
INSTANCE_TYPE = "ecs.instance-type"


# How many placements InstanceView.take has ever accounted, in any snapshot: a
# cheap, conservative way for the scheduler to tell that nothing was placed
# behind its back since it last looked.
_TAKES = [0]


def takes_so_far() -> int:
    return _TAKES[0]


def instance_attributes(instance: ContainerInstance) -> dict[str, str | None]:
    """Attribute name → value (None for a name-only attribute such as a capability)."""
    attrs: dict[str, str | None] = {}
    for attr in instance.attributes:
        name = attr.get("name")
        if not name:
            continue
        value = attr.get("value")
        attrs[str(name)] = None if value is None else str(value)
    if instance.availability_zone and AVAILABILITY_ZONE not in attrs:
        attrs[AVAILABILITY_ZONE] = instance.availability_zone
    if instance.instance_type and INSTANCE_TYPE not in attrs:
        attrs[INSTANCE_TYPE] = instance.instance_type
    return attrs


@dataclass(slots=True)
class InstanceView:
    instance: ContainerInstance
    remaining: Capacity
    # Tasks (not stopped) on this instance per task group, for spread and distinctInstance.
    groups: Counter[str] = field(default_factory=Counter)
    task_count: int = 0
    _attributes: dict[str, str | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def instance_id(self) -> str:
        return self.instance.instance_id

    @property
    def attributes(self) -> Mapping[str, str | None]:
        """The instance's attributes, built once per snapshot (the query language reads
        them for every candidate of every placement)."""
        if self._attributes is None:
            self._attributes = instance_attributes(self.instance)
        return self._attributes

    def take(self, res: Reservation, group: str | None) -> None:
        """Account a placement made within this plan."""
        _TAKES[0] += 1
        self.remaining = self.remaining.remaining(res)
        self.task_count += 1
        if group:
            self.groups[group] += 1


@dataclass(slots=True)
class ClusterView:
    instances: list[InstanceView]
    # The scheduler's state of the last request placed on this snapshot, which
    # the next request of the same shape continues (see placement.place_tasks).
    _placement_memo: object | None = field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """One RunTask / StartTask / service step: `count` copies of one task.

    `strategy` holds (type, field) pairs and `constraints` (type, expression)
    pairs, as `strategies.parse_strategy` and `constraints.parse_constraints`
    return them from the API's lists. An empty strategy means ECS's default:
    `random` for standalone tasks, spread over Availability Zones then
    instances for services.
    """

    count: int
    reservation: Reservation
    group: str | None
    launch_type: str
    required_attributes: tuple[str, ...] = ()
    strategy: tuple[tuple[str, str | None], ...] = ()
    constraints: tuple[tuple[str, str | None], ...] = ()
    seed: int = 0
    # A service's placement: distinctInstance counts the group's running tasks
    # too, and the default strategy is the service one.
    is_service: bool = False
