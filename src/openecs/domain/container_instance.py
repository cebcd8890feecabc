"""A container instance: a host whose agent offers capacity to a cluster.

EC2 capacity belongs to one cluster and is visible through the ECS API.
FARGATE capacity is OpenECS's own: it serves every cluster of the region and
is never shown to users, as on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openecs.domain.resources import Capacity

__all__ = ["FARGATE_POOL", "CapacityKind", "ContainerInstance", "InstanceStatus"]

# The cluster column of FARGATE capacity: a regional pool, not a user cluster.
FARGATE_POOL = ""


class InstanceStatus:
    REGISTERING = "REGISTERING"
    ACTIVE = "ACTIVE"
    DRAINING = "DRAINING"
    INACTIVE = "INACTIVE"
    DEREGISTERING = "DEREGISTERING"


class CapacityKind:
    EC2 = "EC2"
    FARGATE = "FARGATE"


@dataclass(slots=True)
class ContainerInstance:
    instance_id: str
    arn: str
    account_id: str
    region: str
    cluster: str
    ec2_instance_id: str
    capacity: Capacity
    registered_at: float
    kind: str = CapacityKind.EC2
    status: str = InstanceStatus.ACTIVE
    status_reason: str | None = None
    agent_connected: bool = True
    last_heartbeat: float | None = None
    host_address: str = "127.0.0.1"
    attributes: list[dict[str, Any]] = field(default_factory=list)
    version_info: dict[str, Any] = field(default_factory=dict)
    availability_zone: str | None = None
    instance_type: str | None = None
    # ECS's `version`, bumped on every change a client can see.
    version: int = 1
    row_version: int = 1

    def attribute(self, name: str) -> str | None:
        for attr in self.attributes:
            if attr.get("name") == name:
                value = attr.get("value")
                return str(value) if value is not None else None
        return None

    @property
    def schedulable(self) -> bool:
        return self.status == InstanceStatus.ACTIVE and self.agent_connected
