"""The read-only picture of capacity the scheduler decides on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.resources import Capacity, Reservation

__all__ = ["ClusterView", "InstanceView", "PlacementRequest"]


@dataclass(slots=True)
class InstanceView:
    instance: ContainerInstance
    remaining: Capacity
    # Tasks (not stopped) on this instance per task group, for spread and distinctInstance.
    groups: Counter[str] = field(default_factory=Counter)
    task_count: int = 0

    def take(self, res: Reservation, group: str | None) -> None:
        """Account a placement made within this plan."""
        self.remaining = self.remaining.remaining(res)
        self.task_count += 1
        if group:
            self.groups[group] += 1


@dataclass(slots=True)
class ClusterView:
    instances: list[InstanceView]


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    count: int
    reservation: Reservation
    group: str | None
    launch_type: str
    required_attributes: tuple[str, ...] = ()
    strategy: tuple[tuple[str, str | None], ...] = ()
    constraints: tuple[tuple[str, str | None], ...] = ()
    seed: int = 0
