"""A task: one running copy of a task definition, and its containers.

The lifecycle is AWS's, and it only moves forward:

    PROVISIONING → PENDING → ACTIVATING → RUNNING
                 → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED

`desiredStatus` is what the control plane wants (RUNNING or STOPPED);
`lastStatus` is what the agent last reported. A report never moves a task
backwards, so late or repeated reports are harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from openecs.domain.resources import Reservation

__all__ = [
    "ACTIVE_STATUSES",
    "STATUS_ORDER",
    "ContainerRun",
    "StopCode",
    "Task",
    "TaskStatus",
    "status_rank",
]


class TaskStatus:
    PROVISIONING = "PROVISIONING"
    PENDING = "PENDING"
    ACTIVATING = "ACTIVATING"
    RUNNING = "RUNNING"
    DEACTIVATING = "DEACTIVATING"
    STOPPING = "STOPPING"
    DEPROVISIONING = "DEPROVISIONING"
    STOPPED = "STOPPED"


STATUS_ORDER = (
    TaskStatus.PROVISIONING,
    TaskStatus.PENDING,
    TaskStatus.ACTIVATING,
    TaskStatus.RUNNING,
    TaskStatus.DEACTIVATING,
    TaskStatus.STOPPING,
    TaskStatus.DEPROVISIONING,
    TaskStatus.STOPPED,
)
_RANK = {status: i for i, status in enumerate(STATUS_ORDER)}
ACTIVE_STATUSES = STATUS_ORDER[:-1]


def status_rank(status: str) -> int:
    return _RANK.get(status, -1)


class StopCode:
    TASK_FAILED_TO_START = "TaskFailedToStart"
    ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
    USER_INITIATED = "UserInitiated"
    SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"
    SPOT_INTERRUPTION = "SpotInterruption"
    TERMINATION_NOTICE = "TerminationNotice"


@dataclass(slots=True)
class ContainerRun:
    """A container of a task as ECS describes it."""

    name: str
    container_arn: str
    image: str
    essential: bool = True
    last_status: str = TaskStatus.PENDING
    runtime_id: str | None = None
    image_digest: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    network_bindings: list[dict[str, Any]] = field(default_factory=list)
    network_interfaces: list[dict[str, Any]] = field(default_factory=list)
    health_status: str = "UNKNOWN"
    cpu: str = "0"
    memory: str | None = None
    memory_reservation: str | None = None


@dataclass(slots=True)
class Task:
    task_id: str
    arn: str
    account_id: str
    region: str
    cluster: str
    cluster_arn: str
    task_definition_arn: str
    family: str
    launch_type: str
    containers: list[ContainerRun]
    reservation: Reservation
    created_at: float
    desired_status: str = TaskStatus.RUNNING
    last_status: str = TaskStatus.PROVISIONING
    container_instance_id: str | None = None
    container_instance_arn: str | None = None
    capacity_provider: str | None = None
    availability_zone: str | None = None
    group: str | None = None
    started_by: str | None = None
    cpu: str | None = None
    memory: str | None = None
    network_mode: str = "bridge"
    overrides: dict[str, Any] = field(default_factory=dict)
    network_configuration: dict[str, Any] | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    health_status: str = "UNKNOWN"
    platform_version: str | None = None
    enable_execute_command: bool = False
    pull_started_at: float | None = None
    pull_stopped_at: float | None = None
    started_at: float | None = None
    connectivity_at: float | None = None
    stopping_at: float | None = None
    execution_stopped_at: float | None = None
    stopped_at: float | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    # Scale-in protection (UpdateTaskProtection): services leave protected tasks alone.
    protection_enabled: bool = False
    protection_expires_at: float | None = None
    # When the task's health first turned HEALTHY (OpenECS's own: the console's phases).
    healthy_at: float | None = None
    # A task leaving a load balancer keeps serving (DEACTIVATING) until then.
    deactivate_until: float | None = None
    # ECS's `version`: bumped on every change a client can see.
    version: int = 1
    # Optimistic-concurrency counter of the row (not shown to clients).
    row_version: int = 1

    @property
    def is_stopped(self) -> bool:
        return self.last_status == TaskStatus.STOPPED

    @property
    def wants_stop(self) -> bool:
        return self.desired_status == TaskStatus.STOPPED

    def protected(self, now: float) -> bool:
        return self.protection_enabled and (
            self.protection_expires_at is None or self.protection_expires_at > now
        )

    def to_doc(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict: this runs for every task written.
        doc = {name: getattr(self, name) for name in _TASK_FIELDS}
        doc["containers"] = [
            {name: getattr(c, name) for name in _CONTAINER_FIELDS} for c in self.containers
        ]
        doc["reservation"] = self.reservation.to_doc()
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any], row_version: int) -> Task:
        data = dict(doc)
        data["containers"] = [ContainerRun(**c) for c in data["containers"]]
        data["reservation"] = Reservation.from_doc(data["reservation"])
        return cls(**data, row_version=row_version)


_TASK_FIELDS = tuple(f.name for f in fields(Task) if f.name != "row_version")
_CONTAINER_FIELDS = tuple(f.name for f in fields(ContainerRun))
