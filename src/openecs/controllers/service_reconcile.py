"""What a service needs now: the pure decision of the service controller.

`compute_service_actions(service, tasks, view, now)` compares desired with
actual and returns what to do — tasks to start per deployment, tasks to stop
with their reasons, deployment state changes and events. It touches no store:
the deployment bookkeeping it decides is written onto the `service` object it
was given (`service_changed` says so), and `usecases.service_actions.apply_service_actions`
carries the rest out. Level-triggered: run it again on the same state and it
asks for the same things (or nothing).

Rolling updates follow ECS: never more than maximumPercent * desired tasks
RUNNING or PENDING (rounded down; a task asked to stop counts until it has
stopped), never fewer than minimumHealthyPercent * desired healthy ones
(rounded up) while replacing, new tasks first where the maximum allows, old
ones stopped as the new ones turn healthy. Tasks on DRAINING container
instances are replaced under the same two bounds. Tasks go in one order
(`_Order`): those of the oldest deployment first, unhealthy before healthy,
then from the most crowded Availability Zone and instance; scale-in never
takes a task with scale-in protection.

A task that no health check judges (no container health check, no load balancer)
counts as healthy once it has been RUNNING for STABLE_SECONDS: a container that
exits at once is seen RUNNING for a moment, and must fail its deployment (the
circuit breaker counts it), not complete it.

LIMITATIONS (against ECS): ECS waits longer (about 40 s) before it calls such a
task stable; load balancer health only counts once a load balancer reports it
(`ServiceView.lb_healthy`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from openecs.domain.service import (
    Deployment,
    DeploymentStatus,
    RolloutState,
    Service,
    ServiceStatus,
    UnhealthyTarget,
    failure_threshold,
)
from openecs.domain.task import StopCode, Task, TaskStatus

__all__ = [
    "DRAINING_REASON",
    "LB_UNHEALTHY_REASON",
    "SCALE_IN_REASON",
    "STALLED_MESSAGE",
    "UNHEALTHY_REASON",
    "ServiceActions",
    "ServiceView",
    "compute_service_actions",
    "is_healthy",
]

Stop = Callable[[Task, str], None]

_FAILED_CODES = {StopCode.TASK_FAILED_TO_START, StopCode.ESSENTIAL_CONTAINER_EXITED}
# How long a task no health check judges must have run before it counts as healthy.
STABLE_SECONDS = 3.0
UNHEALTHY_REASON = "Task failed container health checks"
# ECS's stoppedReason: "Task failed ELB health checks in (target-group ARN)".
LB_UNHEALTHY_REASON = "Task failed ELB health checks"
SCALE_IN_REASON = "Service desired count was reduced."
DRAINING_REASON = "Container instance is draining."
DELETED_REASON = "Service was deleted."
DAEMON_INELIGIBLE_REASON = "Container instance is no longer eligible for the daemon service."
DAEMON_DUPLICATE_REASON = "Only one task of a daemon service runs per container instance."
STALLED_MESSAGE = (
    "was unable to stop or start tasks during a deployment because of the service "
    "deployment configuration. Update the minimumHealthyPercent or maximumPercent value "
    "and try again."
)


def replaced_reason(deployment: Deployment) -> str:
    return f"Task replaced by deployment {deployment.id}."


def _unhealthy_target(service: Service, task: Task, view: ServiceView) -> UnhealthyTarget:
    """Where the load balancer found the task unhealthy (its first target group when the
    view does not say)."""
    found = view.lb_unhealthy_targets.get(task.task_id)
    if found is not None:
        return found
    lb = service.load_balancers[0] if service.load_balancers else {}
    return UnhealthyTarget(
        str(lb.get("targetGroupArn") or ""),
        "task",
        task.task_id,
        int(lb.get("containerPort") or 0),
        "Health checks failed",
    )


@dataclass(frozen=True, slots=True)
class ServiceView:
    """What the decision needs besides the service and its tasks."""

    # Task definition ARNs whose essential containers define a health check.
    health_checked: frozenset[str] = frozenset()
    # Container instances tasks must leave (DRAINING).
    draining_instances: frozenset[str] = frozenset()
    # For DAEMON services: the instances that should each run one task (connected,
    # ACTIVE, with the required attributes, within the placement constraints).
    daemon_instances: tuple[str, ...] = ()
    # ACTIVE instances whose agent is not connected: their tasks are left where they are.
    unreachable_instances: frozenset[str] = frozenset()
    # Load balancer target health by task id. `lb_healthy` is None while no load
    # balancer reports on the service's targets; container health alone decides then.
    lb_unhealthy: frozenset[str] = frozenset()
    lb_healthy: frozenset[str] | None = None
    # Where each task of `lb_unhealthy` is unhealthy, for the event ECS writes.
    lb_unhealthy_targets: Mapping[str, UnhealthyTarget] = field(default_factory=dict)


@dataclass(slots=True)
class ServiceActions:
    # deployment id → how many tasks to start for it (REPLICA)
    launch: dict[str, int] = field(default_factory=dict)
    # deployment id → instances to start one task on each (DAEMON)
    launch_on: dict[str, list[str]] = field(default_factory=dict)
    # (task id, reason)
    stop: list[tuple[str, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    # The service object was changed (deployment states, rollout, failures, status).
    service_changed: bool = False
    # The circuit breaker asks for a new deployment that runs what this one ran.
    rollback_to: Deployment | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.launch
            or self.launch_on
            or self.stop
            or self.events
            or self.service_changed
            or self.rollback_to is not None
        )


def is_healthy(task: Task, service: Service, view: ServiceView, now: float) -> bool:
    """RUNNING, and healthy by its container health checks and load balancer where it has them."""
    if task.last_status != TaskStatus.RUNNING or task.wants_stop:
        return False
    if task.task_definition_arn in view.health_checked and task.health_status != "HEALTHY":
        return False
    if service.load_balancers and view.lb_healthy is not None:
        return task.task_id in view.lb_healthy
    if task.task_definition_arn in view.health_checked:
        return True
    return task.started_at is not None and now - task.started_at >= STABLE_SECONDS


def _in_grace(task: Task, service: Service, now: float) -> bool:
    started = task.started_at or task.created_at
    return now < started + service.health_check_grace_period


def _failed_count(deployment: Deployment, tasks: list[Task]) -> int:
    return sum(
        1
        for t in tasks
        if t.started_by == deployment.id
        and t.last_status == TaskStatus.STOPPED
        and (
            t.stop_code in _FAILED_CODES
            or t.stopped_reason == UNHEALTHY_REASON
            or (t.stopped_reason or "").startswith(LB_UNHEALTHY_REASON)
        )
    )


def _name(service: Service) -> str:
    return f"(service {service.name})"


def _say_once(service: Service, actions: ServiceActions, message: str) -> None:
    """An event that is not repeated while it is still the latest one."""
    latest = service.events[0].message if service.events else ""
    if message != latest and message not in actions.events:
        actions.events.append(message)


def compute_service_actions(
    service: Service, tasks: list[Task], view: ServiceView, now: float
) -> ServiceActions:
    actions = ServiceActions()
    if service.status == ServiceStatus.INACTIVE:
        return actions
    if service.status == ServiceStatus.DRAINING and all(
        t.last_status == TaskStatus.STOPPED for t in tasks
    ):
        _retire(service, actions, now)
        return actions
    alive = [t for t in tasks if t.last_status != TaskStatus.STOPPED and not t.wants_stop]
    stopping: set[str] = set()

    def stop(task: Task, reason: str) -> None:
        if task.task_id not in stopping:
            stopping.add(task.task_id)
            actions.stop.append((task.task_id, reason))

    # Tasks that failed their health checks (past the grace period) are replaced.
    for task in alive:
        if task.last_status != TaskStatus.RUNNING or _in_grace(task, service, now):
            continue
        if task.health_status == "UNHEALTHY":
            stop(task, UNHEALTHY_REASON)
            actions.events.append(
                f"{_name(service)} (task {task.task_id}) failed container health checks."
            )
        elif task.task_id in view.lb_unhealthy:
            where = _unhealthy_target(service, task, view)
            stop(task, f"{LB_UNHEALTHY_REASON} in (target-group {where.target_group_arn})")
            actions.events.append(
                f"{_name(service)} ({where.kind} {where.id}) (port {where.port}) is unhealthy in "
                f"(target-group {where.target_group_arn}) due to (reason {where.reason})."
            )

    _circuit_breaker(service, tasks, actions, now)
    if service.scheduling_strategy == "DAEMON":
        _daemon(service, tasks, alive, view, actions, stop, stopping, now)
    else:
        # Tasks asked to stop run until they have stopped: they count toward the maximum.
        winding_down = sum(1 for t in tasks if t.last_status != TaskStatus.STOPPED and t.wants_stop)
        _replica(service, alive, winding_down, view, actions, stop, stopping, now)
    _settle(service, alive, view, actions, stopping, now)
    return actions


def _retire(service: Service, actions: ServiceActions, now: float) -> None:
    """A deleted service whose tasks have all stopped becomes INACTIVE. Its PRIMARY
    deployment stays PRIMARY: it is what DescribeServices still shows it ran."""
    service.status = ServiceStatus.INACTIVE
    for d in service.deployments:
        if d.status == DeploymentStatus.ACTIVE:
            d.status = DeploymentStatus.INACTIVE
            d.updated_at = now
        if d.deployment_status in ("PENDING", "IN_PROGRESS"):
            d.deployment_status = "STOPPED"
            d.status_reason = "The service was deleted."
            d.finished_at = now
    actions.service_changed = True


def _circuit_breaker(
    service: Service, tasks: list[Task], actions: ServiceActions, now: float
) -> None:
    breaker = service.circuit_breaker
    primary = service.primary
    if (
        not breaker.get("enable")
        or primary.rollout_state != RolloutState.IN_PROGRESS
        or service.status != ServiceStatus.ACTIVE
    ):
        return
    failed = _failed_count(primary, tasks)
    if failed != primary.failed_tasks:
        primary.failed_tasks = failed
        primary.updated_at = now
        actions.service_changed = True
    threshold = failure_threshold(service.desired_count)
    if failed < threshold:
        return
    primary.rollout_state = RolloutState.FAILED
    primary.rollout_state_reason = (
        f"ECS deployment circuit breaker: {failed} tasks failed to start (threshold {threshold})."
    )
    primary.status_reason = primary.rollout_state_reason
    primary.updated_at = now
    actions.service_changed = True
    actions.events.append(
        f"{_name(service)} (deployment {primary.id}) deployment failed: tasks failed to start."
    )
    # A rollback that fails is not rolled back again: that would loop for ever.
    if breaker.get("rollback") and primary.rollback_of is None:
        previous = [
            d
            for d in service.deployments
            if d.id != primary.id and d.deployment_status in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL")
        ]
        if previous:
            target = max(previous, key=lambda d: d.created_at)
            primary.deployment_status = "ROLLBACK_REQUESTED"
            actions.rollback_to = target
            actions.events.append(
                f"{_name(service)} (deployment {primary.id}) deployment failed and is being "
                f"rolled back to deployment {target.id}."
            )
            return
    primary.deployment_status = "ROLLBACK_FAILED" if breaker.get("rollback") else "STOPPED"
    primary.finished_at = now
    for d in service.deployments:
        if d.id == primary.rollback_of and d.deployment_status == "ROLLBACK_IN_PROGRESS":
            d.deployment_status = "ROLLBACK_FAILED"
            d.finished_at = now
            d.updated_at = now


def _halted(service: Service, actions: ServiceActions) -> bool:
    """The circuit breaker stopped the primary deployment: launch and replace nothing
    for it (a rollback, if any, is a new deployment from the next round on)."""
    if service.status != ServiceStatus.ACTIVE:
        return False
    return actions.rollback_to is not None or (service.primary.rollout_state == RolloutState.FAILED)


def _replica(
    service: Service,
    alive: list[Task],
    winding_down: int,
    view: ServiceView,
    actions: ServiceActions,
    stop: Stop,
    stopping: set[str],
    now: float,
) -> None:
    deleting = service.status == ServiceStatus.DRAINING
    desired = 0 if deleting else service.desired_count
    primary = service.primary
    halted = _halted(service, actions)
    max_alive = math.floor(desired * service.maximum_percent / 100)
    min_healthy = math.ceil(desired * service.minimum_healthy_percent / 100)
    live = [t for t in alive if t.task_id not in stopping]
    healthy = {t.task_id for t in live if is_healthy(t, service, view, now)}
    on_draining = {t.task_id for t in live if t.container_instance_id in view.draining_instances}
    keep_primary = [t for t in live if t.started_by == primary.id and t.task_id not in on_draining]

    # 1. Start new primary tasks where the maximum allows. ECS counts every task still
    #    RUNNING or PENDING against it, those being stopped (this round or before) too.
    need = desired - len(keep_primary)
    room = max_alive - len(alive) - winding_down
    if need > 0 and room > 0 and not halted:
        actions.launch[primary.id] = min(need, room)

    # 2. Stop what must go (old revisions, tasks on draining instances), keeping
    #    the minimum healthy count. Protected tasks stay until the service is deleted.
    budget = len(healthy) - min_healthy
    blocked = False

    def may_stop(task: Task) -> bool:
        nonlocal budget, blocked
        if task.protected(now) and not deleting:
            return False
        if task.task_id in healthy:
            if budget <= 0:
                blocked = True
                return False
            budget -= 1
        return True

    def stopper(reason: str, *, bounded: bool = True) -> Callable[[Task], bool]:
        def take(task: Task) -> bool:
            if bounded and not may_stop(task):
                return False
            stop(task, reason)
            return True

        return take

    old = [t for t in live if t.started_by != primary.id]
    order = _Order(service, live, healthy)
    if not halted:
        order.pick(old, stopper(DELETED_REASON if deleting else replaced_reason(primary)))
    draining_now = [t for t in live if t.task_id in on_draining and t.task_id not in stopping]
    order.pick(draining_now, stopper(DELETED_REASON if deleting else DRAINING_REASON))

    # 3. Scale in: more tasks than desired. Old deployments' tasks go through the rollout
    #    above; while it is halted (its deployment failed), they are the ones to scale in.
    staying = [t for t in live if t.task_id not in stopping and t.task_id not in on_draining]
    counted = staying if halted else [t for t in staying if t.started_by == primary.id]
    extra = len(counted) - desired
    if extra > 0:
        candidates = counted if deleting else [t for t in counted if not t.protected(now)]
        reason = DELETED_REASON if deleting else SCALE_IN_REASON
        order.pick(candidates, stopper(reason, bounded=False), count=extra)

    # 4. A rollout that neither bound lets move: say so, as ECS does.
    launched = actions.launch.get(primary.id, 0)
    waiting = need > 0 or any(t.task_id not in stopping for t in old)
    settling = any(t.task_id not in healthy for t in live if t.task_id not in stopping)
    if (
        waiting
        and blocked
        and not halted
        and not launched
        and not actions.stop
        and not settling
        and not winding_down
        and room <= 0
    ):
        _say_once(service, actions, f"{_name(service)} {STALLED_MESSAGE}")


class _Order:
    """The order a service's tasks are stopped in: tasks of the oldest deployment first,
    unhealthy before healthy, then from the most crowded Availability Zone and, within
    it, instance — so that what remains stays spread."""

    def __init__(self, service: Service, everyone: list[Task], healthy: set[str]) -> None:
        # Deployments newest first; a task of a deployment no longer listed is the oldest.
        self.age = {d.id: -d.created_at for d in service.deployments}
        self.healthy = healthy
        self.by_zone = Counter(t.availability_zone or "" for t in everyone)
        self.by_instance = Counter(t.container_instance_id or "" for t in everyone)

    def _key(self, t: Task) -> tuple[float, bool, int, int, float, str]:
        return (
            -self.age.get(t.started_by or "", math.inf),
            t.task_id in self.healthy,
            -self.by_zone[t.availability_zone or ""],
            -self.by_instance[t.container_instance_id or ""],
            t.created_at,
            t.task_id,
        )

    def pick(
        self, candidates: list[Task], take: Callable[[Task], bool], count: int | None = None
    ) -> None:
        """Offer `candidates` to `take` in order, until `count` were taken (or all offered);
        each taken task leaves its zone and instance less crowded for the next choice."""
        pool = list(candidates)
        taken = 0
        while pool and (count is None or taken < count):
            best = min(pool, key=self._key)
            pool.remove(best)
            if take(best):
                self.by_zone[best.availability_zone or ""] -= 1
                self.by_instance[best.container_instance_id or ""] -= 1
                taken += 1


def _daemon(
    service: Service,
    tasks: list[Task],
    alive: list[Task],
    view: ServiceView,
    actions: ServiceActions,
    stop: Stop,
    stopping: set[str],
    now: float,
) -> None:
    primary = service.primary
    deleting = service.status == ServiceStatus.DRAINING
    halted = _halted(service, actions)
    wanted = set() if deleting else set(view.daemon_instances)
    if not deleting and service.desired_count != len(wanted):
        service.desired_count = len(wanted)
        actions.service_changed = True
    covered: set[str] = set()
    old: list[Task] = []
    for task in sorted(alive, key=lambda t: (t.started_by != primary.id, t.created_at)):
        instance = task.container_instance_id or ""
        if task.task_id in stopping:
            continue
        if deleting:
            stop(task, DELETED_REASON)
        elif instance in view.unreachable_instances:
            continue  # its agent may come back; nothing can be done there meanwhile
        elif instance not in wanted:
            stop(task, DAEMON_INELIGIBLE_REASON)
        elif instance in covered:
            primary_task = task.started_by == primary.id
            stop(task, DAEMON_DUPLICATE_REASON if primary_task else replaced_reason(primary))
        elif task.started_by != primary.id:
            old.append(task)
            covered.add(instance)
        else:
            covered.add(instance)

    # Replace old revisions instance by instance, keeping the minimum healthy count.
    live = [t for t in alive if t.task_id not in stopping]
    healthy = {t.task_id for t in live if is_healthy(t, service, view, now)}
    budget = len(healthy) - math.ceil(len(wanted) * service.minimum_healthy_percent / 100)
    if not halted:
        for task in sorted(old, key=lambda t: (t.task_id in healthy, t.created_at)):
            if task.protected(now):
                continue
            if task.task_id in healthy:
                if budget <= 0:
                    break
                budget -= 1
            stop(task, replaced_reason(primary))

    # An instance gets its new task once every other task of the service there has stopped.
    primary_here = {t.container_instance_id for t in alive if t.started_by == primary.id}
    busy = {
        t.container_instance_id
        for t in tasks
        if t.last_status != TaskStatus.STOPPED and t.started_by != primary.id
    }
    startable = sorted(i for i in wanted if i not in primary_here and i not in busy)
    if startable and not halted:
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
            if d.deployment_status in ("PENDING", "IN_PROGRESS"):
                d.deployment_status = "STOPPED"
                d.status_reason = f"Replaced by deployment {primary.id}."
                d.finished_at = now
            actions.service_changed = True
    if service.status != ServiceStatus.ACTIVE:
        return
    healthy_primary = [
        t
        for t in live
        if t.started_by == primary.id
        and is_healthy(t, service, view, now)
        and t.container_instance_id not in view.draining_instances
    ]
    if service.scheduling_strategy == "DAEMON":
        wanted = set(view.daemon_instances)
        healthy_primary = [t for t in healthy_primary if t.container_instance_id in wanted]
    others = [t for t in live if t.started_by != primary.id]
    steady = (
        len(healthy_primary) == service.desired_count
        and not others
        and not actions.launch
        and not actions.launch_on
        and not actions.stop
        and actions.rollback_to is None
    )
    if not steady:
        return
    if primary.rollout_state == RolloutState.IN_PROGRESS:
        primary.rollout_state = RolloutState.COMPLETED
        primary.rollout_state_reason = f"ECS deployment {primary.id} completed."
        primary.deployment_status = "ROLLBACK_SUCCESSFUL" if primary.rollback_of else "SUCCESSFUL"
        primary.finished_at = now
        primary.updated_at = now
        for d in service.deployments:
            if d.id == primary.rollback_of and d.deployment_status == "ROLLBACK_IN_PROGRESS":
                d.deployment_status = "ROLLBACK_SUCCESSFUL"
                d.finished_at = now
                d.updated_at = now
        actions.service_changed = True
        actions.events.append(f"{_name(service)} (deployment {primary.id}) deployment completed.")
    if primary.rollout_state == RolloutState.COMPLETED:
        _say_once(service, actions, f"{_name(service)} has reached a steady state.")
