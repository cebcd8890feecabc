"""Hand-built services, deployments and tasks for the service controller's pure
decision (`compute_service_actions`), plus a tiny in-memory world that applies
its decisions the way the real apply step and agents would."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from openecs.controllers.service_reconcile import (
    ServiceActions,
    ServiceView,
    compute_service_actions,
)
from openecs.domain.resources import Reservation
from openecs.domain.service import (
    Deployment,
    DeploymentStatus,
    RolloutState,
    Service,
    ServiceStatus,
)
from openecs.domain.task import StopCode, Task, TaskStatus

__all__ = [
    "ACCOUNT",
    "INSTANCES",
    "NOW",
    "TD1",
    "TD2",
    "TD3",
    "World",
    "make_deployment",
    "make_service",
    "make_task",
]

ACCOUNT = "000000000000"
REGION = "us-east-1"
NOW = 1_800_000_000.0
TD1 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:1"
TD2 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:2"
TD3 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:3"

_ids = itertools.count(1)


def make_deployment(
    dep_id: str,
    task_definition: str = TD1,
    *,
    status: str = DeploymentStatus.PRIMARY,
    rollout: str = RolloutState.IN_PROGRESS,
    deployment_status: str | None = None,
    created_at: float = NOW - 3600,
    rollback_of: str | None = None,
) -> Deployment:
    if deployment_status is None:
        deployment_status = {
            RolloutState.IN_PROGRESS: "IN_PROGRESS",
            RolloutState.COMPLETED: "SUCCESSFUL",
            RolloutState.FAILED: "STOPPED",
        }[rollout]
    return Deployment(
        id=dep_id,
        revision_id=f"rev-{dep_id.rsplit('/', 1)[-1]}",
        task_definition=task_definition,
        status=status,
        created_at=created_at,
        updated_at=created_at,
        launch_type="EC2",
        rollout_state=rollout,
        deployment_status=deployment_status,
        rollback_of=rollback_of,
    )


def make_service(
    *deployments: Deployment,
    desired: int = 3,
    maximum: int | None = None,
    minimum: int | None = None,
    breaker: bool = False,
    rollback: bool = False,
    strategy: str = "REPLICA",
    status: str = ServiceStatus.ACTIVE,
    grace: int = 0,
    load_balanced: bool = False,
    events: tuple[str, ...] = (),
) -> Service:
    """A service whose deployments are given newest first (the first is PRIMARY)."""
    config: dict[str, Any] = {"deploymentCircuitBreaker": {"enable": breaker, "rollback": rollback}}
    if maximum is not None:
        config["maximumPercent"] = maximum
    if minimum is not None:
        config["minimumHealthyPercent"] = minimum
    service = Service(
        name="web",
        arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/default/web",
        account_id=ACCOUNT,
        region=REGION,
        cluster="default",
        cluster_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default",
        status=status,
        desired_count=desired,
        created_at=NOW - 7200,
        created_by=f"arn:aws:iam::{ACCOUNT}:root",
        scheduling_strategy=strategy,
        launch_type="EC2",
        deployment_configuration=config,
        health_check_grace_period=grace,
        load_balancers=[{"containerName": "web", "containerPort": 80}] if load_balanced else [],
        deployments=list(deployments) or [make_deployment("ecs-svc/1")],
    )
    for i, message in enumerate(events):
        service.add_event(f"event-{i}", NOW - 100, message)
    return service


def make_task(
    deployment: Deployment | str,
    *,
    status: str = TaskStatus.RUNNING,
    desired: str = TaskStatus.RUNNING,
    health: str = "UNKNOWN",
    instance: str = "i-1",
    zone: str = "us-east-1a",
    created_at: float | None = None,
    started_at: float | None = None,
    protected_until: float | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    task_definition: str | None = None,
    task_id: str | None = None,
) -> Task:
    dep_id = deployment if isinstance(deployment, str) else deployment.id
    td = task_definition or (TD1 if isinstance(deployment, str) else deployment.task_definition)
    n = next(_ids)
    tid = task_id or f"task{n:05d}"
    created = NOW - 600 + n * 0.001 if created_at is None else created_at
    return Task(
        task_id=tid,
        arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/default/{tid}",
        account_id=ACCOUNT,
        region=REGION,
        cluster="default",
        cluster_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default",
        task_definition_arn=td,
        family="web",
        launch_type="EC2",
        containers=[],
        reservation=Reservation(cpu=256, memory=512),
        created_at=created,
        desired_status=desired,
        last_status=status,
        container_instance_id=instance,
        availability_zone=zone,
        group="service:web",
        started_by=dep_id,
        health_status=health,
        started_at=(created + 1 if started_at is None else started_at)
        if status != TaskStatus.PROVISIONING
        else None,
        protection_enabled=protected_until is not None,
        protection_expires_at=protected_until,
        stop_code=stop_code,
        stopped_reason=stopped_reason,
    )


INSTANCES = ("i-0", "i-1", "i-2")


@dataclass
class World:
    """A service, its tasks and a clock; `step()` decides, then applies the decision the
    way the apply step does, and moves every task along the way agents would: a launched
    task is RUNNING (and healthy) by the next step; a RUNNING task asked to stop keeps
    running while its containers shut down, until the clock has passed `stop_seconds`
    (a task that never started stops at once). New tasks go to the least busy of
    `INSTANCES` that is not draining, in the zone of its number."""

    service: Service
    view: ServiceView = field(default_factory=ServiceView)
    now: float = NOW
    tasks: list[Task] = field(default_factory=list)
    # Task definitions whose tasks exit as soon as they start.
    crashing: frozenset[str] = frozenset()
    stop_seconds: float = 0.0
    history: list[ServiceActions] = field(default_factory=list)
    _deployments: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    # Task id → when a task asked to stop has stopped.
    _stops_at: dict[str, float] = field(default_factory=dict)

    def decide(self) -> ServiceActions:
        return compute_service_actions(self.service, list(self.tasks), self.view, self.now)

    def step(self, seconds: float = 1.0) -> ServiceActions:
        self._progress()
        actions = self.decide()
        self.history.append(actions)
        self._apply(actions)
        self.now += seconds
        return actions

    def alive(self) -> list[Task]:
        """Tasks the service keeps: not stopped, not asked to stop."""
        return [t for t in self.tasks if t.last_status != TaskStatus.STOPPED and not t.wants_stop]

    def running(self) -> list[Task]:
        """Tasks RUNNING or PENDING, those still shutting down included: what ECS bounds
        by maximumPercent."""
        return [t for t in self.tasks if t.last_status != TaskStatus.STOPPED]

    def healthy(self) -> list[Task]:
        return [t for t in self.alive() if t.last_status == TaskStatus.RUNNING]

    def _progress(self) -> None:
        """What the agents did since the last step."""
        for task in self.tasks:
            if task.wants_stop and task.last_status != TaskStatus.STOPPED:
                due = self._stops_at.get(task.task_id, self.now)
                if task.last_status == TaskStatus.RUNNING and self.now < due:
                    continue  # still shutting down
                task.last_status = TaskStatus.STOPPED
                task.stopped_at = task.stopped_at or self.now
            elif task.last_status == TaskStatus.PROVISIONING:
                if task.task_definition_arn in self.crashing:
                    task.last_status = TaskStatus.STOPPED
                    task.stopped_at = self.now
                    task.desired_status = TaskStatus.STOPPED
                    task.stop_code = StopCode.ESSENTIAL_CONTAINER_EXITED
                    task.stopped_reason = "Essential container in task exited"
                else:
                    task.last_status = TaskStatus.RUNNING
                    task.started_at = self.now
                    task.health_status = "HEALTHY"

    def _apply(self, actions: ServiceActions) -> None:
        if actions.rollback_to is not None:
            n = next(self._deployments)
            self.service.roll_back(actions.rollback_to, f"ecs-svc/{n}", f"rev-{n}", self.now)
        for message in actions.events:
            self.service.add_event(f"e{len(self.service.events)}", self.now, message)
        by_id = {t.task_id: t for t in self.tasks}
        for tid, reason in actions.stop:
            task = by_id[tid]
            task.desired_status = TaskStatus.STOPPED
            task.stop_code = StopCode.SERVICE_SCHEDULER_INITIATED
            task.stopped_reason = reason
            self._stops_at[tid] = self.now + self.stop_seconds
        deployments = {d.id: d for d in self.service.deployments}
        for dep_id, count in actions.launch.items():
            for _ in range(count):
                instance = self._least_busy()
                self.tasks.append(
                    make_task(
                        deployments[dep_id],
                        status=TaskStatus.PROVISIONING,
                        instance=instance,
                        zone=f"zone-{int(instance[-1]) % 2}",
                        created_at=self.now,
                    )
                )
        for dep_id, instances in actions.launch_on.items():
            for instance in instances:
                self.tasks.append(
                    make_task(
                        deployments[dep_id],
                        status=TaskStatus.PROVISIONING,
                        instance=instance,
                        created_at=self.now,
                    )
                )
        # Stopped tasks are forgotten after a while, as ECS forgets them.
        self.tasks = [
            t for t in self.tasks if t.stopped_at is None or t.stopped_at > self.now - 600
        ]

    def _least_busy(self) -> str:
        usable = [i for i in INSTANCES if i not in self.view.draining_instances]
        busy = Counter(t.container_instance_id for t in self.running())
        return min(usable, key=lambda i: (busy[i], i))

    def deploy(self, task_definition: str) -> Deployment:
        """UpdateService with a new task definition."""
        n = next(self._deployments)
        snapshot = {**self.service.primary.snapshot(), "task_definition": task_definition}
        return self.service.start_deployment(f"ecs-svc/{n}", f"rev-{n}", snapshot, self.now)
