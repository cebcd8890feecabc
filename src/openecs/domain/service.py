"""A service: keep N copies of a task definition running, and roll out new ones.

A service has deployments, each a snapshot of what to run (task definition,
launch type, network, load balancers). The PRIMARY deployment is where the
service is going; ACTIVE ones are being replaced; INACTIVE ones are history.
Each deployment is also what the newer ECS APIs call a service deployment
(with its target service revision).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "MAX_EVENTS",
    "RETIRED_DEPLOYMENTS_KEPT",
    "SNAPSHOT_FIELDS",
    "Deployment",
    "DeploymentStatus",
    "RolloutState",
    "Service",
    "ServiceEvent",
    "ServiceStatus",
    "UnhealthyTarget",
    "failure_threshold",
]

MAX_EVENTS = 100
# History kept besides the live deployments (ListServiceDeployments).
RETIRED_DEPLOYMENTS_KEPT = 10
# The launch settings a deployment pins (and a rollback copies).
SNAPSHOT_FIELDS = (
    "task_definition",
    "launch_type",
    "capacity_provider_strategy",
    "network_configuration",
    "platform_version",
    "load_balancers",
)


class ServiceStatus:
    ACTIVE = "ACTIVE"
    DRAINING = "DRAINING"
    INACTIVE = "INACTIVE"


class DeploymentStatus:
    PRIMARY = "PRIMARY"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class RolloutState:
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


def failure_threshold(desired_count: int) -> int:
    """The circuit breaker's failed-task threshold: half the desired count, within 3..200."""
    return min(200, max(3, math.ceil(desired_count * 0.5)))


@dataclass(frozen=True, slots=True)
class UnhealthyTarget:
    """Where a load balancer finds a service's task unhealthy, as ECS's event names it:
    "(task ID)" for an `ip` target, "(instance i-...)" for an `instance` target."""

    target_group_arn: str
    kind: str  # "task" or "instance"
    id: str
    port: int
    # DescribeTargetHealth's description (else its reason code), e.g. "Health checks failed".
    reason: str


@dataclass(slots=True)
class ServiceEvent:
    id: str
    created_at: float
    message: str


@dataclass(slots=True)
class Deployment:
    id: str
    revision_id: str
    task_definition: str
    status: str
    created_at: float
    updated_at: float
    launch_type: str | None = None
    capacity_provider_strategy: list[dict[str, Any]] = field(default_factory=list)
    network_configuration: dict[str, Any] | None = None
    platform_version: str | None = None
    load_balancers: list[dict[str, Any]] = field(default_factory=list)
    rollout_state: str = RolloutState.IN_PROGRESS
    rollout_state_reason: str = "ECS deployment ecs-svc in progress."
    failed_tasks: int = 0
    # ServiceDeployment lifecycle (ListServiceDeployments): PENDING, IN_PROGRESS,
    # SUCCESSFUL, STOPPED, ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED.
    deployment_status: str = "IN_PROGRESS"
    status_reason: str | None = None
    finished_at: float | None = None
    # Deployment this one rolls back to (set on a rollback deployment).
    rollback_of: str | None = None
    source_revisions: list[str] = field(default_factory=list)
    deployment_configuration: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """What this deployment runs: the launch settings a rollback to it copies."""
        return {name: copy.deepcopy(getattr(self, name)) for name in SNAPSHOT_FIELDS}


@dataclass(slots=True)
class Service:
    name: str
    arn: str
    account_id: str
    region: str
    cluster: str
    cluster_arn: str
    status: str
    desired_count: int
    created_at: float
    created_by: str
    scheduling_strategy: str = "REPLICA"
    launch_type: str | None = None
    capacity_provider_strategy: list[dict[str, Any]] = field(default_factory=list)
    platform_version: str | None = None
    deployment_configuration: dict[str, Any] = field(default_factory=dict)
    placement_constraints: list[dict[str, Any]] = field(default_factory=list)
    placement_strategy: list[dict[str, Any]] = field(default_factory=list)
    network_configuration: dict[str, Any] | None = None
    load_balancers: list[dict[str, Any]] = field(default_factory=list)
    health_check_grace_period: int = 0
    propagate_tags: str = "NONE"
    enable_ecs_managed_tags: bool = False
    enable_execute_command: bool = False
    role_arn: str | None = None
    deployments: list[Deployment] = field(default_factory=list)
    events: list[ServiceEvent] = field(default_factory=list)
    # Revisions: id → the deployment snapshot that defined it (for DescribeServiceRevisions).
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_token: str | None = None
    # A digest of the CreateService request the token came with: a retry with the same
    # token must ask for the same service.
    client_request: str | None = None
    row_version: int = 1

    @property
    def group(self) -> str:
        return f"service:{self.name}"

    @property
    def primary(self) -> Deployment:
        for d in self.deployments:
            if d.status == DeploymentStatus.PRIMARY:
                return d
        raise LookupError(f"service {self.name} has no PRIMARY deployment")

    @property
    def live_deployments(self) -> list[Deployment]:
        return [d for d in self.deployments if d.status != DeploymentStatus.INACTIVE]

    @property
    def maximum_percent(self) -> int:
        default = 100 if self.scheduling_strategy == "DAEMON" else 200
        return int(self.deployment_configuration.get("maximumPercent", default))

    @property
    def minimum_healthy_percent(self) -> int:
        default = 0 if self.scheduling_strategy == "DAEMON" else 100
        return int(self.deployment_configuration.get("minimumHealthyPercent", default))

    @property
    def circuit_breaker(self) -> dict[str, Any]:
        found: dict[str, Any] = self.deployment_configuration.get("deploymentCircuitBreaker") or {}
        return found

    def start_deployment(
        self,
        deployment_id: str,
        revision_id: str,
        snapshot: dict[str, Any],
        now: float,
        *,
        rollback_of: str | None = None,
    ) -> Deployment:
        """Make a new PRIMARY deployment (and its service revision); the previous
        PRIMARY becomes ACTIVE, to be replaced by the controller."""
        pinned: dict[str, Any] = {
            name: copy.deepcopy(snapshot.get(name)) for name in SNAPSHOT_FIELDS
        }
        deployment = Deployment(
            id=deployment_id,
            revision_id=revision_id,
            status=DeploymentStatus.PRIMARY,
            created_at=now,
            updated_at=now,
            rollout_state_reason=f"ECS deployment {deployment_id} in progress.",
            rollback_of=rollback_of,
            source_revisions=[d.revision_id for d in self.live_deployments],
            deployment_configuration=copy.deepcopy(self.deployment_configuration),
            **pinned,
        )
        deployment.capacity_provider_strategy = deployment.capacity_provider_strategy or []
        deployment.load_balancers = deployment.load_balancers or []
        self.revisions[revision_id] = {"createdAt": now, **deployment.snapshot()}
        for d in self.deployments:
            if d.status == DeploymentStatus.PRIMARY:
                d.status = DeploymentStatus.ACTIVE
                d.updated_at = now
        self.deployments.insert(0, deployment)
        retired = [d for d in self.deployments if d.status == DeploymentStatus.INACTIVE]
        for old in retired[RETIRED_DEPLOYMENTS_KEPT:]:
            self.deployments.remove(old)
            self.revisions.pop(old.revision_id, None)
        return deployment

    def roll_back(
        self, target: Deployment, deployment_id: str, revision_id: str, now: float
    ) -> Deployment:
        """The circuit breaker tripped: a new PRIMARY deployment runs what `target` ran."""
        failed = self.primary
        rollback = self.start_deployment(
            deployment_id, revision_id, target.snapshot(), now, rollback_of=failed.id
        )
        failed.deployment_status = "ROLLBACK_IN_PROGRESS"
        return rollback

    def add_event(self, event_id: str, now: float, message: str) -> None:
        self.events.insert(0, ServiceEvent(event_id, now, message))
        del self.events[MAX_EVENTS:]

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        del doc["row_version"]
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any], row_version: int) -> Service:
        data = dict(doc)
        data["deployments"] = [Deployment(**d) for d in data["deployments"]]
        data["events"] = [ServiceEvent(**e) for e in data["events"]]
        return cls(**data, row_version=row_version)
