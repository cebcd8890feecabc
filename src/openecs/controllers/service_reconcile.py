"""What a service needs now: the pure decision of the service controller.

`compute_service_actions(service, tasks, view, now)` compares desired with
actual and returns what to do — tasks to start per deployment, tasks to stop
with their reasons, deployment state changes and events. It changes nothing
itself; `usecases.services.apply_service_actions` applies it. Level-triggered:
run it again on the same state and it asks for the same things (or nothing).

Rolling updates follow ECS: never more than maximumPercent * desired tasks
alive, never fewer than minimumHealthyPercent * desired healthy ones while
replacing, new tasks first where the maximum allows, old ones stopped as
the new ones turn healthy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from openecs.domain.service import (
    Deployment,
    DeploymentStatus,
    RolloutState,
    Service,
    ServiceStatus,
    failure_threshold,
)
from openecs.domain.task import StopCode, Task, TaskStatus

Stop = Callable[[Task, str], None]

__all__ = ["ServiceActions", "ServiceView", "compute_service_actions", "is_healthy"]

_FAILED_CODES = {StopCode.TASK_FAILED_TO_START, StopCode.ESSENTIAL_CONTAINER_EXITED}
UNHEALTHY_REASON = "Task failed container health checks."


@dataclass(frozen=True, slots=True)
class ServiceView:
    """What the decision needs besides the service and its tasks."""

    # Task definition ARNs whose essential containers define a health check.
    health_checked: frozenset[str] = frozenset()
    # Container instances tasks must leave (DRAINING), and for DAEMON services
    # the instances that should each run one task.
    draining_instances: frozenset[str] = frozenset()
    daemon_instances: tuple[str, ...] = ()
    # Targets a load balancer reports unhealthy / healthy, by task id (when the service has one).
    lb_unhealthy: frozenset[str] = frozenset()
    lb_healthy: frozenset[str] = frozenset()


@dataclass(slots=True)
class ServiceActions:
    # deployment id → how many tasks to start for it (REPLICA)
    launch: dict[str, int] = field(default_factory=dict)
    # deployment id → instances to start one task on each (DAEMON)
    launch_on: dict[str, list[str]] = field(default_factory=dict)
    # (task id, reason)
    stop: list[tuple[str, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    # The service with its deployments updated (states, rollout, failures).
    service_changed: bool = False
    rollback_to: Deployment | None = None

    @property
    def empty(self) -> bool:
        return not (self.launch or self.launch_on or self.stop or self.service_changed)


def is_healthy(task: Task, service: Service, view: ServiceView, now: float) -> bool:
    """RUNNING, and healthy by its container health checks and load balancer where it has them."""
    if task.last_status != TaskStatus.RUNNING or task.wants_stop:
        return False
    if task.task_definition_arn in view.health_checked and task.health_status != "HEALTHY":
        return False
    if service.load_balancers:
        return task.task_id in view.lb_healthy
    return True


def _in_grace(task: Task, service: Service, now: float) -> bool:
    started = task.started_at or task.created_at
    return now < started + service.health_check_grace_period


def _failed_count(deployment: Deployment, tasks: list[Task]) -> int:
    return sum(
        1
        for t in tasks
        if t.started_by == deployment.id
        and t.last_status == TaskStatus.STOPPED
        and (t.stop_code in _FAILED_CODES or t.stopped_reason == UNHEALTHY_REASON)
    )


def _name(service: Service) -> str:
    return f"(service {service.name})"


def compute_service_actions(
    service: Service, tasks: list[Task], view: ServiceView, now: float
) -> ServiceActions:
    actions = ServiceActions()
    if service.status == ServiceStatus.INACTIVE:
        return actions
    alive = [t for t in tasks if t.last_status != TaskStatus.STOPPED and not t.wants_stop]
    stopping: set[str] = set()

    def stop(task: Task, reason: str) -> None:
        if task.task_id not in stopping:
            stopping.add(task.task_id)
            actions.stop.append((task.task_id, reason))

    # Tasks that failed their health checks (past the grace period) are replaced.
    for task in alive:
        unhealthy = task.health_status == "UNHEALTHY" or task.task_id in view.lb_unhealthy
        if (
            unhealthy
            and task.last_status == TaskStatus.RUNNING
            and not _in_grace(task, service, now)
        ):
            stop(task, UNHEALTHY_REASON)
            actions.events.append(
                f"{_name(service)} has stopped 1 running tasks: (task {task.task_id}). "
                f"Reason: {UNHEALTHY_REASON}"
            )

    _circuit_breaker(service, tasks, actions, now)
    if service.scheduling_strategy == "DAEMON":
        _daemon(service, alive, view, actions, stop, now)
    else:
        _replica(service, alive, view, actions, stop, stopping, now)
    _settle(service, alive, view, actions, stopping, now)
    return actions


def _circuit_breaker(
    service: Service, tasks: list[Task], actions: ServiceActions, now: float
) -> None:
    breaker = service.circuit_breaker
    primary = service.primary
    if not breaker.get("enable") or primary.rollout_state != RolloutState.IN_PROGRESS:
        return
    failed = _failed_count(primary, tasks)
    if failed != primary.failed_tasks:
        primary.failed_tasks = failed
        actions.service_changed = True
    threshold = failure_threshold(service.desired_count)
    if failed < threshold:
        return
    primary.rollout_state = RolloutState.FAILED
    primary.rollout_state_reason = (
        f"ECS deployment circuit breaker: {failed} tasks failed to start (threshold {threshold})."
    )
    primary.updated_at = now
    actions.service_changed = True
    actions.events.append(
        f"{_name(service)} (deployment {primary.id}) deployment failed: tasks failed to start."
    )
    if breaker.get("rollback"):
        previous = [
            d
            for d in service.deployments
            if d.id != primary.id and d.deployment_status in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL")
        ]
        if previous:
            target = max(previous, key=lambda d: d.created_at)
            primary.deployment_status = "ROLLBACK_REQUESTED"
            primary.status_reason = primary.rollout_state_reason
            actions.rollback_to = target
            actions.events.append(
                f"{_name(service)} (deployment {primary.id}) deployment failed and was rolled "
                f"back to deployment {target.id}."
            )
            return
    primary.deployment_status = "ROLLBACK_FAILED" if breaker.get("rollback") else "STOPPED"
    primary.status_reason = primary.rollout_state_reason
    primary.finished_at = now


def _replica(
    service: Service,
    alive: list[Task],
    view: ServiceView,
    actions: ServiceActions,
    stop: Stop,
    stopping: set[str],
    now: float,
) -> None:
    desired = service.desired_count if service.status == ServiceStatus.ACTIVE else 0
    primary = service.primary
    max_alive = math.floor(desired * service.maximum_percent / 100)
    min_healthy = math.ceil(desired * service.minimum_healthy_percent / 100)
    live = [t for t in alive if t.task_id not in stopping]
    healthy = {t.task_id for t in live if is_healthy(t, service, view, now)}
    on_draining = {t.task_id for t in live if t.container_instance_id in view.draining_instances}
    keep_primary = [t for t in live if t.started_by == primary.id and t.task_id not in on_draining]
    primary_failed = primary.rollout_state == RolloutState.FAILED and actions.rollback_to is None

    # 1. Start new primary tasks where the maximum allows.
    need = desired - len(keep_primary)
    room = max_alive - len(live)
    if need > 0 and not primary_failed and actions.rollback_to is None:
        start = min(need, max(room, 0))
        if start > 0:
            actions.launch[primary.id] = start

    # 2. Stop what must go, within the minimum healthy count.
    budget = len(healthy) - min_healthy
    old = [t for t in live if t.started_by != primary.id]
    old.sort(key=lambda t: (t.task_id in healthy, t.created_at))
    for task in old:
        if task.protected(now):
            continue
        if task.task_id in healthy:
            if budget <= 0:
                break
            budget -= 1
        stop(task, f"Task replaced by deployment {primary.id}.")
    for task in sorted(live, key=lambda t: t.created_at):
        if task.task_id in on_draining and task.task_id not in stopping:
            if task.task_id in healthy:
                if budget <= 0:
                    continue
                budget -= 1
            stop(task, "Container instance is draining.")

    # 3. Scale in: more primary tasks than desired. Oldest revision first, then
    #    the most crowded placement, never protected tasks.
    keep_primary = [t for t in keep_primary if t.task_id not in stopping]
    extra = len(keep_primary) - desired
    if extra > 0:
        by_place = Counter(t.container_instance_id or t.availability_zone for t in keep_primary)
        candidates = [t for t in keep_primary if not t.protected(now)]
        for _ in range(extra):
            if not candidates:
                break
            candidates.sort(
                key=lambda t: (
                    t.task_id in healthy,
                    -by_place[t.container_instance_id or t.availability_zone],
                    t.created_at,
                )
            )
            victim = candidates.pop(0)
            by_place[victim.container_instance_id or victim.availability_zone] -= 1
            stop(victim, "Service desired count was reduced.")


def _daemon(
    service: Service,
    alive: list[Task],
    view: ServiceView,
    actions: ServiceActions,
    stop: Stop,
    now: float,
) -> None:
    primary = service.primary
    wanted = set(view.daemon_instances) if service.status == ServiceStatus.ACTIVE else set()
    service.desired_count = len(wanted)
    covered: set[str] = set()
    for task in alive:
        instance = task.container_instance_id or ""
        if instance not in wanted:
            stop(task, "Container instance is no longer eligible for the daemon service.")
        elif task.started_by != primary.id:
            stop(task, f"Task replaced by deployment {primary.id}.")
        elif instance in covered:
            stop(task, "Only one task of a daemon service runs per container instance.")
        else:
            covered.add(instance)
    missing = sorted(wanted - covered)
    busy = {t.container_instance_id for t in alive if t.started_by != primary.id}
    # An instance still running an old task gets its new one once the old has gone.
    startable = [i for i in missing if i not in busy]
    if startable and primary.rollout_state != RolloutState.FAILED:
        actions.launch_on[primary.id] = startable


def _settle(
    service: Service,
    alive: list[Task],
    view: ServiceView,
    actions: ServiceActions,
    stopping: set[str],
    now: float,
) -> None:
    """Deployment bookkeeping: completion, retirement of replaced deployments, steady state."""
    primary = service.primary
    live = [t for t in alive if t.task_id not in stopping]
    per_deployment = Counter(t.started_by for t in live)
    for d in service.deployments:
        if d.status == DeploymentStatus.ACTIVE and per_deployment.get(d.id, 0) == 0:
            d.status = DeploymentStatus.INACTIVE
            d.updated_at = now
            if d.deployment_status == "IN_PROGRESS":
                d.deployment_status = "STOPPED"
                d.status_reason = f"Replaced by deployment {primary.id}."
                d.finished_at = now
            actions.service_changed = True
    healthy_primary = [
        t for t in live if t.started_by == primary.id and is_healthy(t, service, view, now)
    ]
    others = [t for t in live if t.started_by != primary.id]
    steady = (
        len(healthy_primary) == service.desired_count
        and not others
        and not actions.launch
        and not actions.launch_on
        and not actions.stop
    )
    if steady and primary.rollout_state == RolloutState.IN_PROGRESS:
        primary.rollout_state = RolloutState.COMPLETED
        primary.rollout_state_reason = f"ECS deployment {primary.id} completed."
        primary.deployment_status = "ROLLBACK_SUCCESSFUL" if primary.rollback_of else "SUCCESSFUL"
        primary.finished_at = now
        primary.updated_at = now
        actions.service_changed = True
        actions.events.append(f"{_name(service)} (deployment {primary.id}) deployment completed.")
    if steady and service.status == ServiceStatus.ACTIVE:
        latest = service.events[0].message if service.events else ""
        message = f"{_name(service)} has reached a steady state."
        if latest != message and message not in actions.events:
            actions.events.append(message)
