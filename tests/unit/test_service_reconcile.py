"""The service controller's decision, `compute_service_actions`, on hand-built
services and tasks at an explicit `now`: each test states what the controller
must ask for (tasks to launch, tasks to stop and why, deployment states, events)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from openecs.controllers.service_reconcile import (
    DRAINING_REASON,
    SCALE_IN_REASON,
    STABLE_SECONDS,
    STALLED_MESSAGE,
    UNHEALTHY_REASON,
    ServiceActions,
    ServiceView,
    compute_service_actions,
    is_healthy,
)
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
from tests.support.service_fixtures import (
    NOW,
    TD1,
    TD2,
    TD3,
    make_deployment,
    make_service,
    make_task,
)

STEADY = "(service web) has reached a steady state."
NO_VIEW = ServiceView()


def decide(
    service: Service, tasks: list[Task], view: ServiceView = NO_VIEW, now: float = NOW
) -> ServiceActions:
    return compute_service_actions(service, tasks, view, now)


def stopped_ids(actions: ServiceActions) -> set[str]:
    return {tid for tid, _ in actions.stop}


def record_events(service: Service, actions: ServiceActions) -> None:
    """What the apply step does with the decision's events."""
    for i, message in enumerate(actions.events):
        service.add_event(f"applied-{len(service.events)}-{i}", NOW, message)


def completed_primary(dep_id: str = "ecs-svc/1", td: str = TD1) -> Deployment:
    return make_deployment(dep_id, td, rollout=RolloutState.COMPLETED)


def rollout(
    old_count: int,
    *,
    desired: int,
    maximum: int,
    minimum: int,
    new_running: int = 0,
    new_pending: int = 0,
) -> tuple[Service, list[Task], list[Task], list[Task]]:
    """A service rolling from web:1 (ACTIVE, `old_count` healthy tasks) to web:2 (PRIMARY)."""
    old = make_deployment(
        "ecs-svc/1",
        TD1,
        status=DeploymentStatus.ACTIVE,
        rollout=RolloutState.COMPLETED,
        created_at=NOW - 3600,
    )
    new = make_deployment("ecs-svc/2", TD2, created_at=NOW - 60)
    service = make_service(new, old, desired=desired, maximum=maximum, minimum=minimum)
    old_tasks = [make_task(old, created_at=NOW - 3000 + i) for i in range(old_count)]
    running = [make_task(new, created_at=NOW - 30 + i) for i in range(new_running)]
    pending = [
        make_task(new, status=TaskStatus.PENDING, created_at=NOW - 10 + i)
        for i in range(new_pending)
    ]
    return service, old_tasks, running, pending


# -- initial launch ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "maximum", "launched"),
    [(3, 200, 3), (3, 100, 3), (1, 100, 1), (25, 200, 25), (4, 150, 4)],
)
def test_a_new_service_launches_its_desired_count(
    desired: int, maximum: int, launched: int
) -> None:
    service = make_service(desired=desired, maximum=maximum, minimum=50)

    actions = decide(service, [])

    assert actions.launch == {"ecs-svc/1": launched}
    assert actions.stop == []
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS


def test_a_new_service_with_no_desired_tasks_completes_at_once() -> None:
    service = make_service(desired=0)

    actions = decide(service, [])

    assert actions.launch == {}
    assert service.primary.rollout_state == RolloutState.COMPLETED
    assert service.primary.deployment_status == "SUCCESSFUL"
    assert actions.events[-1] == STEADY


def test_pending_tasks_count_toward_the_desired_count() -> None:
    service = make_service(desired=3)
    tasks = [make_task(service.primary, status=TaskStatus.PENDING) for _ in range(3)]

    actions = decide(service, tasks)

    assert actions.launch == {}
    assert actions.stop == []
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS  # not healthy yet


# -- steady state --------------------------------------------------------------------------


def test_running_tasks_complete_the_deployment_and_reach_a_steady_state() -> None:
    service = make_service(desired=3)
    tasks = [make_task(service.primary) for _ in range(3)]

    actions = decide(service, tasks)

    assert actions.launch == {} and actions.stop == []
    primary = service.primary
    assert primary.rollout_state == RolloutState.COMPLETED
    assert primary.deployment_status == "SUCCESSFUL"
    assert primary.finished_at == NOW
    assert primary.rollout_state_reason == "ECS deployment ecs-svc/1 completed."
    assert actions.service_changed
    assert actions.events == ["(service web) (deployment ecs-svc/1) deployment completed.", STEADY]


def test_a_steady_service_asks_for_nothing() -> None:
    service = make_service(completed_primary(), desired=3, events=(STEADY,))
    tasks = [make_task(service.primary) for _ in range(3)]

    actions = decide(service, tasks)

    assert actions.empty
    assert actions == ServiceActions()


def test_the_steady_state_event_is_said_once_not_every_round() -> None:
    service = make_service(
        completed_primary(),
        desired=2,
        events=("(service web) has started 1 tasks: (task x).",),
    )
    tasks = [make_task(service.primary) for _ in range(2)]

    first = decide(service, tasks)
    record_events(service, first)
    second = decide(service, tasks)

    assert first.events == [STEADY]
    assert not first.service_changed
    assert second.empty


def test_the_decision_does_not_touch_the_tasks_it_is_given() -> None:
    service, old, running, pending = rollout(4, desired=4, maximum=200, minimum=100, new_running=2)
    tasks = old + running + pending
    before = [t.to_doc() for t in tasks]

    decide(service, tasks)

    assert [t.to_doc() for t in tasks] == before


def test_the_same_state_yields_the_same_decision() -> None:
    service, old, running, _ = rollout(4, desired=4, maximum=150, minimum=50, new_running=2)
    tasks = old + running

    first = decide(service, tasks)
    second = decide(service, tasks)

    assert (first.launch, first.stop, first.events) == (second.launch, second.stop, second.events)


# -- replacement ---------------------------------------------------------------------------


def test_a_stopped_task_is_replaced() -> None:
    service = make_service(completed_primary(), desired=3, events=(STEADY,))
    tasks = [make_task(service.primary) for _ in range(2)]
    tasks.append(
        make_task(
            service.primary,
            status=TaskStatus.STOPPED,
            desired=TaskStatus.STOPPED,
            stop_code=StopCode.ESSENTIAL_CONTAINER_EXITED,
        )
    )

    actions = decide(service, tasks)

    assert actions.launch == {"ecs-svc/1": 1}
    assert actions.stop == []


@pytest.mark.parametrize(("maximum", "launched"), [(200, 1), (150, 1), (100, 0)])
def test_a_task_asked_to_stop_is_replaced_before_it_has_stopped_where_the_maximum_allows(
    maximum: int, launched: int
) -> None:
    """Until it has stopped, it still runs: ECS counts it against maximumPercent."""
    service = make_service(completed_primary(), desired=2, minimum=100, maximum=maximum)
    tasks = [make_task(service.primary), make_task(service.primary, desired=TaskStatus.STOPPED)]

    actions = decide(service, tasks)

    assert actions.launch.get("ecs-svc/1", 0) == launched
    assert actions.events == []  # waiting for a task to stop is not a stalled rollout


def test_an_unhealthy_task_under_100_100_is_stopped_first_and_replaced_once_stopped() -> None:
    service = make_service(completed_primary(), desired=2, minimum=100, maximum=100)
    good = make_task(service.primary, health="HEALTHY")
    bad = make_task(service.primary, health="UNHEALTHY", started_at=NOW - 300)
    view = ServiceView(health_checked=frozenset({TD1}))

    first = decide(service, [good, bad], view)
    assert (first.stop, first.launch) == ([(bad.task_id, UNHEALTHY_REASON)], {})

    bad.desired_status = TaskStatus.STOPPED
    assert decide(service, [good, bad], view).launch == {}
    bad.last_status = TaskStatus.STOPPED
    assert decide(service, [good, bad], view).launch == {"ecs-svc/1": 1}


# -- health --------------------------------------------------------------------------------


def test_a_task_failing_its_container_health_check_is_stopped_and_replaced() -> None:
    service = make_service(completed_primary(), desired=2)
    good = make_task(service.primary, health="HEALTHY")
    bad = make_task(service.primary, health="UNHEALTHY", started_at=NOW - 300)
    view = ServiceView(health_checked=frozenset({TD1}))

    actions = decide(service, [good, bad], view)

    assert actions.stop == [(bad.task_id, UNHEALTHY_REASON)]
    assert f"(service web) (task {bad.task_id}) failed container health checks." in actions.events
    assert actions.launch == {"ecs-svc/1": 1}


@pytest.mark.parametrize("load_balanced", [True, False], ids=["with LB", "without LB"])
@pytest.mark.parametrize(
    ("started_ago", "stopped"),
    [(10, False), (59.9, False), (60, True), (600, True)],
)
def test_unhealthy_tasks_are_left_alone_within_the_grace_period(
    started_ago: float, stopped: bool, load_balanced: bool
) -> None:
    service = make_service(completed_primary(), desired=1, grace=60, load_balanced=load_balanced)
    task = make_task(service.primary, health="UNHEALTHY", started_at=NOW - started_ago)

    actions = decide(service, [task], ServiceView(health_checked=frozenset({TD1})))

    assert (stopped_ids(actions) == {task.task_id}) is stopped


def test_a_health_checked_task_counts_as_healthy_only_once_reported_healthy() -> None:
    service = make_service(desired=2)
    tasks = [make_task(service.primary, health="HEALTHY"), make_task(service.primary)]
    view = ServiceView(health_checked=frozenset({TD1}))

    actions = decide(service, tasks, view)

    assert actions.stop == [] and actions.launch == {}
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS


TG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"


@pytest.mark.parametrize(
    ("kind", "target_id", "port"), [("task", None, 80), ("instance", "i-0abc", 32768)]
)
def test_a_task_a_load_balancer_reports_unhealthy_is_replaced_with_ecs_words(
    kind: str, target_id: str | None, port: int
) -> None:
    service = make_service(completed_primary(), desired=1, load_balanced=True)
    task = make_task(service.primary, started_at=NOW - 300)
    where = UnhealthyTarget(TG, kind, target_id or task.task_id, port, "Health checks failed")
    view = ServiceView(
        lb_unhealthy=frozenset({task.task_id}),
        lb_healthy=frozenset(),
        lb_unhealthy_targets={task.task_id: where},
    )

    actions = decide(service, [task], view)

    assert actions.stop == [(task.task_id, f"Task failed ELB health checks in (target-group {TG})")]
    assert actions.launch == {"ecs-svc/1": 1}
    assert actions.events == [
        f"(service web) ({kind} {target_id or task.task_id}) (port {port}) is unhealthy in "
        f"(target-group {TG}) due to (reason Health checks failed)."
    ]


def test_tasks_stopped_for_failing_load_balancer_health_checks_trip_the_breaker() -> None:
    service = make_service(desired=1, breaker=True)
    failed = [
        make_task(
            service.primary,
            status=TaskStatus.STOPPED,
            desired=TaskStatus.STOPPED,
            stop_code=StopCode.SERVICE_SCHEDULER_INITIATED,
            stopped_reason=f"Task failed ELB health checks in (target-group {TG})",
        )
        for _ in range(3)
    ]

    decide(service, failed)

    assert service.primary.failed_tasks == 3
    assert service.primary.rollout_state == RolloutState.FAILED


def test_a_load_balanced_service_without_load_balancer_reports_uses_container_health() -> None:
    service = make_service(desired=1, load_balanced=True)

    decide(service, [make_task(service.primary)])

    assert service.primary.rollout_state == RolloutState.COMPLETED


def test_a_load_balanced_service_waits_for_the_target_to_be_healthy() -> None:
    service = make_service(desired=1, load_balanced=True)
    task = make_task(service.primary)

    decide(service, [task], ServiceView(lb_healthy=frozenset()))
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS
    decide(service, [task], ServiceView(lb_healthy=frozenset({task.task_id})))
    assert service.primary.rollout_state == RolloutState.COMPLETED


# -- rolling updates -----------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutCase:
    name: str
    desired: int
    maximum: int
    minimum: int
    old: int
    new_running: int
    new_pending: int
    launch: int
    stop_old: int


ROLLOUT_CASES = [
    # 100/200: start all new tasks at once, stop the old ones as the new turn healthy.
    RolloutCase("100/200 starts a full new set first", 4, 200, 100, 4, 0, 0, 4, 0),
    RolloutCase("100/200 keeps old tasks while new ones are pending", 4, 200, 100, 4, 0, 4, 0, 0),
    RolloutCase("100/200 stops as many old tasks as new are healthy", 4, 200, 100, 4, 2, 2, 0, 2),
    RolloutCase("100/200 stops the rest once all new are healthy", 4, 200, 100, 4, 4, 0, 0, 4),
    # 50/100: no extra capacity, so stop half first, then replace.
    RolloutCase("50/100 stops half the old tasks first", 4, 100, 50, 4, 0, 0, 0, 2),
    RolloutCase("50/100 fills the room the stopped tasks left", 4, 100, 50, 2, 0, 0, 2, 0),
    RolloutCase("50/100 waits while the new tasks are pending", 4, 100, 50, 2, 0, 2, 0, 0),
    RolloutCase("50/100 stops the rest once new are healthy", 4, 100, 50, 2, 2, 0, 0, 2),
    RolloutCase("50/100 rounds the healthy minimum up", 3, 100, 50, 3, 0, 0, 0, 1),
    # 0/100: stop everything, then start everything.
    RolloutCase("0/100 stops every old task at once", 4, 100, 0, 4, 0, 0, 0, 4),
    RolloutCase("0/100 then starts every new task", 4, 100, 0, 0, 0, 0, 4, 0),
    # 100/100: neither bound lets a healthy rollout move.
    RolloutCase("100/100 can neither start nor stop", 4, 100, 100, 4, 0, 0, 0, 0),
    RolloutCase("100/100 replaces a lost old task with a new one", 4, 100, 100, 3, 0, 0, 1, 0),
    RolloutCase("100/100 holds with old and new at the maximum", 4, 100, 100, 3, 1, 0, 0, 0),
    # Other bounds, rounded as ECS rounds them.
    RolloutCase("100/150 of 3 starts one extra task (floor 4.5)", 3, 150, 100, 3, 0, 0, 1, 0),
    RolloutCase("100/125 of 2 cannot start an extra task", 2, 125, 100, 2, 0, 0, 0, 0),
    RolloutCase("75/125 of 4 starts one and stops one", 4, 125, 75, 4, 0, 0, 1, 1),
]


@pytest.mark.parametrize("case", ROLLOUT_CASES, ids=lambda c: c.name)
def test_a_rolling_update_stays_within_maximum_and_minimum_healthy(case: RolloutCase) -> None:
    service, old, running, pending = rollout(
        case.old,
        desired=case.desired,
        maximum=case.maximum,
        minimum=case.minimum,
        new_running=case.new_running,
        new_pending=case.new_pending,
    )
    tasks = old + running + pending

    actions = decide(service, tasks)

    assert actions.launch.get("ecs-svc/2", 0) == case.launch
    assert "ecs-svc/1" not in actions.launch
    assert stopped_ids(actions) <= {t.task_id for t in old}
    assert len(actions.stop) == case.stop_old
    # Oldest old tasks go first.
    assert stopped_ids(actions) == {t.task_id for t in old[: case.stop_old]}
    for _, reason in actions.stop:
        assert reason == "Task replaced by deployment ecs-svc/2."
    if actions.launch:
        alive_after = len(tasks) - len(actions.stop) + case.launch
        assert alive_after <= case.desired * case.maximum // 100
    if actions.stop:
        healthy_after = case.old + case.new_running - len(actions.stop)
        assert healthy_after >= -(-case.desired * case.minimum // 100)


def test_a_rollout_that_no_bound_lets_move_says_so_once() -> None:
    service, old, _, _ = rollout(4, desired=4, maximum=100, minimum=100)

    first = decide(service, old)
    record_events(service, first)
    second = decide(service, old)

    assert first.events == [f"(service web) {STALLED_MESSAGE}"]
    assert second.empty


def test_a_rollout_waiting_for_pending_tasks_is_not_reported_as_stalled() -> None:
    service, old, _, pending = rollout(3, desired=4, maximum=100, minimum=100, new_pending=1)

    actions = decide(service, old + pending)

    assert actions.events == []


def test_the_replaced_deployment_retires_once_its_last_task_is_stopped() -> None:
    service, old, running, _ = rollout(2, desired=2, maximum=200, minimum=100, new_running=2)
    previous = service.deployments[1]

    first = decide(service, old + running)

    assert stopped_ids(first) == {t.task_id for t in old}
    assert previous.status == DeploymentStatus.INACTIVE
    assert previous.deployment_status == "SUCCESSFUL"  # it had completed; history keeps that
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS

    for task in old:
        task.desired_status = TaskStatus.STOPPED
    second = decide(service, old + running)

    assert second.stop == [] and second.launch == {}
    assert service.primary.rollout_state == RolloutState.COMPLETED
    assert service.primary.deployment_status == "SUCCESSFUL"
    assert second.events[0] == "(service web) (deployment ecs-svc/2) deployment completed."


def test_a_deployment_replaced_before_it_completed_is_stopped() -> None:
    middle = make_deployment("ecs-svc/2", TD2, status=DeploymentStatus.ACTIVE)
    newest = make_deployment("ecs-svc/3", TD3, created_at=NOW - 5)
    service = make_service(newest, middle, desired=1)
    tasks = [make_task(middle), make_task(newest)]

    decide(service, tasks)

    assert middle.status == DeploymentStatus.INACTIVE
    assert middle.deployment_status == "STOPPED"
    assert middle.status_reason == "Replaced by deployment ecs-svc/3."


def test_old_tasks_under_scale_in_protection_are_not_replaced() -> None:
    service, old, running, _ = rollout(3, desired=3, maximum=200, minimum=100, new_running=3)
    old[0].protection_enabled, old[0].protection_expires_at = True, NOW + 60
    old[1].protection_enabled, old[1].protection_expires_at = True, NOW - 1  # expired

    actions = decide(service, old + running)

    assert stopped_ids(actions) == {old[1].task_id, old[2].task_id}
    assert service.deployments[1].status == DeploymentStatus.ACTIVE
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS


# -- circuit breaker -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "threshold"),
    [(0, 3), (1, 3), (3, 3), (6, 3), (7, 4), (10, 5), (399, 200), (400, 200), (5000, 200)],
)
def test_the_circuit_breaker_threshold_is_half_the_desired_count_within_3_and_200(
    desired: int, threshold: int
) -> None:
    assert failure_threshold(desired) == threshold


def failing_rollout(
    failed: int, *, rollback: bool, desired: int = 4, previous_ok: bool = True
) -> tuple[Service, list[Task]]:
    old = make_deployment(
        "ecs-svc/1",
        TD1,
        status=DeploymentStatus.ACTIVE,
        rollout=RolloutState.COMPLETED if previous_ok else RolloutState.IN_PROGRESS,
        deployment_status="SUCCESSFUL" if previous_ok else "STOPPED",
    )
    new = make_deployment("ecs-svc/2", TD2, created_at=NOW - 60)
    service = make_service(new, old, desired=desired, breaker=True, rollback=rollback)
    tasks = [make_task(old) for _ in range(desired)]
    tasks += [
        make_task(
            new,
            status=TaskStatus.STOPPED,
            desired=TaskStatus.STOPPED,
            stop_code=StopCode.ESSENTIAL_CONTAINER_EXITED,
        )
        for _ in range(failed)
    ]
    return service, tasks


def test_failures_below_the_threshold_are_counted_and_the_rollout_goes_on() -> None:
    service, tasks = failing_rollout(2, rollback=True)

    actions = decide(service, tasks)

    assert service.primary.failed_tasks == 2
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS
    assert actions.service_changed
    assert actions.launch == {"ecs-svc/2": 4}


def test_tasks_the_scheduler_stopped_are_not_failures() -> None:
    service, tasks = failing_rollout(0, rollback=True)
    new = service.primary
    tasks += [
        make_task(
            new,
            status=TaskStatus.STOPPED,
            desired=TaskStatus.STOPPED,
            stop_code=StopCode.SERVICE_SCHEDULER_INITIATED,
            stopped_reason=DRAINING_REASON,
        )
        for _ in range(5)
    ]

    decide(service, tasks)

    assert service.primary.failed_tasks == 0
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS


def test_the_breaker_trips_at_the_threshold_and_rolls_back_to_the_last_successful_deployment() -> (
    None
):
    service, tasks = failing_rollout(3, rollback=True)
    failed = service.primary

    actions = decide(service, tasks)

    assert failed.rollout_state == RolloutState.FAILED
    assert failed.failed_tasks == 3
    assert failed.deployment_status == "ROLLBACK_REQUESTED"
    assert "circuit breaker" in failed.rollout_state_reason
    assert actions.rollback_to is not None and actions.rollback_to.id == "ecs-svc/1"
    assert actions.launch == {} and actions.stop == []
    assert "(service web) (deployment ecs-svc/2) deployment failed: tasks failed to start." in (
        actions.events
    )


def test_a_rollback_deployment_runs_what_the_target_ran_and_completes_both() -> None:
    service, tasks = failing_rollout(3, rollback=True)
    actions = decide(service, tasks)
    assert actions.rollback_to is not None
    rollback = service.roll_back(actions.rollback_to, "ecs-svc/3", "rev-3", NOW + 1)
    failed = service.deployments[1]

    assert service.primary is rollback
    assert rollback.task_definition == TD1
    assert rollback.rollback_of == "ecs-svc/2"
    assert failed.deployment_status == "ROLLBACK_IN_PROGRESS"

    old = [t for t in tasks if t.started_by == "ecs-svc/1"]
    step = decide(service, tasks, now=NOW + 2)
    assert step.launch == {"ecs-svc/3": 4}  # old web:1 tasks are replaced by the rollback's
    new = [make_task(rollback) for _ in range(4)]
    for task in old:
        task.desired_status = TaskStatus.STOPPED
    decide(service, tasks + new, now=NOW + 3)

    assert rollback.rollout_state == RolloutState.COMPLETED
    assert rollback.deployment_status == "ROLLBACK_SUCCESSFUL"
    assert failed.deployment_status == "ROLLBACK_SUCCESSFUL"
    assert failed.status == DeploymentStatus.INACTIVE


def test_a_failing_rollback_is_not_rolled_back_again() -> None:
    service, tasks = failing_rollout(3, rollback=True)
    actions = decide(service, tasks)
    assert actions.rollback_to is not None
    rollback = service.roll_back(actions.rollback_to, "ecs-svc/3", "rev-3", NOW + 1)
    tasks += [
        make_task(
            rollback,
            status=TaskStatus.STOPPED,
            desired=TaskStatus.STOPPED,
            stop_code=StopCode.TASK_FAILED_TO_START,
        )
        for _ in range(3)
    ]

    again = decide(service, tasks, now=NOW + 5)

    assert again.rollback_to is None
    assert again.launch == {}
    assert rollback.rollout_state == RolloutState.FAILED
    assert rollback.deployment_status == "ROLLBACK_FAILED"
    assert service.deployments[1].deployment_status == "ROLLBACK_FAILED"


def test_without_rollback_a_failed_deployment_launches_nothing_and_keeps_the_old_tasks() -> None:
    service, tasks = failing_rollout(3, rollback=False)
    service.deployment_configuration["minimumHealthyPercent"] = 50

    first = decide(service, tasks)
    second = decide(service, tasks, now=NOW + 10)

    assert service.primary.rollout_state == RolloutState.FAILED
    assert service.primary.deployment_status == "STOPPED"
    assert first.rollback_to is None
    for actions in (first, second):
        assert actions.launch == {}
        assert actions.stop == []


def test_with_rollback_but_no_successful_deployment_the_rollback_fails() -> None:
    service, tasks = failing_rollout(3, rollback=True, previous_ok=False)

    actions = decide(service, tasks)

    assert actions.rollback_to is None
    assert service.primary.deployment_status == "ROLLBACK_FAILED"
    assert actions.launch == {}


def test_a_disabled_breaker_never_fails_the_deployment() -> None:
    service, tasks = failing_rollout(50, rollback=True)
    service.deployment_configuration["deploymentCircuitBreaker"] = {"enable": False}

    actions = decide(service, tasks)

    assert service.primary.rollout_state == RolloutState.IN_PROGRESS
    assert actions.launch == {"ecs-svc/2": 4}


# -- scale-in ------------------------------------------------------------------------------


def test_scale_in_takes_tasks_from_the_most_crowded_instance() -> None:
    service = make_service(completed_primary(), desired=2)
    crowded = [make_task(service.primary, instance="i-1") for _ in range(3)]
    alone = make_task(service.primary, instance="i-2")

    actions = decide(service, [*crowded, alone])

    assert stopped_ids(actions) == {crowded[0].task_id, crowded[1].task_id}
    assert all(reason == SCALE_IN_REASON for _, reason in actions.stop)


def test_scale_in_leaves_the_rest_spread_evenly_across_zones_then_instances() -> None:
    service = make_service(completed_primary(), desired=4)
    a1 = [make_task(service.primary, zone="a", instance="i-1") for _ in range(2)]
    a2 = [make_task(service.primary, zone="a", instance="i-2") for _ in range(2)]
    b3 = [make_task(service.primary, zone="b", instance="i-3") for _ in range(2)]
    tasks = a1 + a2 + b3

    actions = decide(service, tasks)

    kept = [t for t in tasks if t.task_id not in stopped_ids(actions)]
    assert len(actions.stop) == 2
    assert sorted(t.availability_zone or "" for t in kept) == ["a", "a", "b", "b"]
    assert sorted(t.container_instance_id or "" for t in kept) == ["i-1", "i-2", "i-3", "i-3"]


def test_scale_in_never_stops_a_protected_task() -> None:
    service = make_service(completed_primary(), desired=1)
    protected = [make_task(service.primary, protected_until=NOW + 3600) for _ in range(2)]
    free = make_task(service.primary)

    actions = decide(service, [*protected, free])
    assert stopped_ids(actions) == {free.task_id}

    service.desired_count = 0
    actions = decide(service, protected)
    assert actions.stop == []


def test_scale_in_stops_unhealthy_tasks_before_healthy_ones() -> None:
    service = make_service(completed_primary(), desired=2)
    healthy = [make_task(service.primary, instance="i-1") for _ in range(2)]
    pending = make_task(service.primary, status=TaskStatus.PENDING, instance="i-2")

    actions = decide(service, [*healthy, pending])

    assert stopped_ids(actions) == {pending.task_id}


def test_scale_in_during_a_rollout_takes_the_oldest_revision_first() -> None:
    service, old, running, _ = rollout(2, desired=2, maximum=200, minimum=100, new_running=2)

    actions = decide(service, old + running)

    assert stopped_ids(actions) == {t.task_id for t in old}


@dataclass(frozen=True)
class Held:
    """One task of a three-deployment service: web:1 (oldest, ACTIVE), web:2 (ACTIVE),
    web:3 (PRIMARY). Tasks of web:1 were started after web:2's (replacements), so
    ordering by task age alone would pick the wrong ones."""

    label: str
    deployment: int
    healthy: bool = True
    protected: bool = False
    zone: str = "a"
    instance: str = "i-1"


@dataclass(frozen=True)
class ScaleInCase:
    name: str
    tasks: tuple[Held, ...]
    desired: int
    minimum: int
    stopped: frozenset[str]
    halted: bool = False


SCALE_IN_CASES = [
    ScaleInCase(
        "the budget goes to the oldest deployment's tasks first",
        (
            Held("one-a", 1),
            Held("one-b", 1),
            Held("two-a", 2),
            Held("two-b", 2),
            Held("three-a", 3),
            Held("three-b", 3),
        ),
        desired=4,
        minimum=100,
        stopped=frozenset({"one-a", "one-b"}),
    ),
    ScaleInCase(
        "a newer old deployment's unhealthy task costs no budget and goes too",
        (
            Held("one-a", 1),
            Held("two-a", 2),
            Held("two-sick", 2, healthy=False),
            Held("three-a", 3),
            Held("three-b", 3),
        ),
        desired=3,
        minimum=100,
        stopped=frozenset({"one-a", "two-sick"}),
    ),
    ScaleInCase(
        "protected tasks of the oldest deployment are passed over",
        (
            Held("one-kept", 1, protected=True),
            Held("two-a", 2),
            Held("two-b", 2),
            Held("three-a", 3),
            Held("three-b", 3),
        ),
        desired=4,
        minimum=100,
        stopped=frozenset({"two-a"}),
    ),
    ScaleInCase(
        "within the oldest deployment, the task in the most crowded zone goes",
        (
            Held("one-a", 1, zone="a", instance="i-1"),
            Held("one-b", 1, zone="b", instance="i-2"),
            Held("two-a", 2, zone="b", instance="i-2"),
            Held("three-a", 3, zone="b", instance="i-3"),
            Held("three-b", 3, zone="a", instance="i-1"),
        ),
        desired=4,
        minimum=100,
        stopped=frozenset({"one-b"}),
    ),
    ScaleInCase(
        "a halted rollout scales in the old deployments' tasks, oldest first",
        (
            Held("one-a", 1),
            Held("one-b", 1),
            Held("two-a", 2),
            Held("two-b", 2),
        ),
        desired=1,
        minimum=100,
        stopped=frozenset({"one-a", "one-b", "two-a"}),
        halted=True,
    ),
    ScaleInCase(
        "a halted rollout spares protected tasks when scaling in",
        (Held("one-kept", 1, protected=True), Held("two-a", 2), Held("two-b", 2)),
        desired=1,
        minimum=100,
        stopped=frozenset({"two-a", "two-b"}),
        halted=True,
    ),
]


@pytest.mark.parametrize("case", SCALE_IN_CASES, ids=lambda c: c.name)
def test_lowering_the_desired_count_mid_rollout_takes_the_oldest_deployment_first(
    case: ScaleInCase,
) -> None:
    one = make_deployment("ecs-svc/1", TD1, status=DeploymentStatus.ACTIVE, created_at=NOW - 7200)
    two = make_deployment("ecs-svc/2", TD2, status=DeploymentStatus.ACTIVE, created_at=NOW - 3600)
    three = make_deployment(
        "ecs-svc/3",
        TD3,
        created_at=NOW - 60,
        rollout=RolloutState.FAILED if case.halted else RolloutState.IN_PROGRESS,
    )
    service = make_service(three, two, one, desired=case.desired, maximum=200, minimum=case.minimum)
    deployments = {1: one, 2: two, 3: three}
    created = {1: NOW - 100, 2: NOW - 2000, 3: NOW - 30}
    tasks = {
        held.label: make_task(
            deployments[held.deployment],
            status=TaskStatus.RUNNING if held.healthy else TaskStatus.PENDING,
            zone=held.zone,
            instance=held.instance,
            created_at=created[held.deployment] + i,
            protected_until=NOW + 3600 if held.protected else None,
            task_id=held.label,
        )
        for i, held in enumerate(case.tasks)
    }

    actions = decide(service, list(tasks.values()))

    assert stopped_ids(actions) == case.stopped


# -- draining container instances ----------------------------------------------------------


def test_tasks_on_a_draining_instance_are_replaced_before_they_are_stopped() -> None:
    service = make_service(completed_primary(), desired=2, maximum=200, minimum=100)
    draining = [make_task(service.primary, instance="i-1") for _ in range(2)]
    view = ServiceView(draining_instances=frozenset({"i-1"}))

    first = decide(service, draining, view)
    assert first.launch == {"ecs-svc/1": 2}
    assert first.stop == []

    replacements = [make_task(service.primary, instance="i-2") for _ in range(2)]
    second = decide(service, draining + replacements, view)
    assert second.launch == {}
    assert second.stop == [(t.task_id, DRAINING_REASON) for t in draining]


def test_draining_without_spare_room_stops_only_down_to_the_minimum_healthy() -> None:
    service = make_service(completed_primary(), desired=4, maximum=100, minimum=50)
    tasks = [make_task(service.primary, instance="i-1") for _ in range(4)]

    actions = decide(service, tasks, ServiceView(draining_instances=frozenset({"i-1"})))

    assert actions.launch == {}
    assert len(actions.stop) == 2
    assert {reason for _, reason in actions.stop} == {DRAINING_REASON}


def test_draining_with_100_100_says_the_configuration_blocks_it() -> None:
    service = make_service(completed_primary(), desired=2, maximum=100, minimum=100)
    tasks = [make_task(service.primary, instance="i-1") for _ in range(2)]

    actions = decide(service, tasks, ServiceView(draining_instances=frozenset({"i-1"})))

    assert actions.launch == {} and actions.stop == []
    assert actions.events == [f"(service web) {STALLED_MESSAGE}"]


def test_a_task_on_a_draining_instance_that_is_not_yet_healthy_is_stopped_at_once() -> None:
    service = make_service(completed_primary(), desired=2, maximum=100, minimum=100)
    running = make_task(service.primary, instance="i-2")
    pending = make_task(service.primary, status=TaskStatus.PENDING, instance="i-1")

    actions = decide(
        service, [running, pending], ServiceView(draining_instances=frozenset({"i-1"}))
    )

    assert actions.stop == [(pending.task_id, DRAINING_REASON)]


# -- DAEMON --------------------------------------------------------------------------------


def daemon(*deployments: Deployment, minimum: int | None = None) -> Service:
    return make_service(*deployments, desired=0, strategy="DAEMON", maximum=100, minimum=minimum)


def test_a_daemon_service_starts_one_task_on_each_eligible_instance() -> None:
    service = daemon()

    actions = decide(service, [], ServiceView(daemon_instances=("i-1", "i-2")))

    assert actions.launch == {}
    assert actions.launch_on == {"ecs-svc/1": ["i-1", "i-2"]}
    assert service.desired_count == 2
    assert actions.service_changed


def test_a_daemon_service_covers_an_instance_that_joins_later() -> None:
    service = daemon(completed_primary())
    tasks = [make_task(service.primary, instance=i) for i in ("i-1", "i-2")]

    actions = decide(service, tasks, ServiceView(daemon_instances=("i-1", "i-2", "i-3")))

    assert actions.launch_on == {"ecs-svc/1": ["i-3"]}
    assert actions.stop == []
    assert service.desired_count == 3


def test_a_daemon_task_on_an_instance_no_longer_eligible_is_stopped() -> None:
    service = daemon(completed_primary())
    keep = make_task(service.primary, instance="i-1")
    gone = make_task(service.primary, instance="i-2")  # i-2 is DRAINING or deregistered

    actions = decide(service, [keep, gone], ServiceView(daemon_instances=("i-1",)))

    assert actions.stop == [
        (gone.task_id, "Container instance is no longer eligible for the daemon service.")
    ]
    assert actions.launch_on == {}


def test_a_daemon_task_whose_agent_is_disconnected_is_left_alone() -> None:
    service = daemon(completed_primary())
    tasks = [make_task(service.primary, instance="i-1"), make_task(service.primary, instance="i-2")]
    view = ServiceView(daemon_instances=("i-1",), unreachable_instances=frozenset({"i-2"}))

    actions = decide(service, tasks, view)

    assert actions.stop == [] and actions.launch_on == {}


def test_a_second_daemon_task_on_one_instance_is_stopped() -> None:
    service = daemon(completed_primary())
    first = make_task(service.primary, instance="i-1", created_at=NOW - 100)
    second = make_task(service.primary, instance="i-1", created_at=NOW - 50)

    actions = decide(service, [second, first], ServiceView(daemon_instances=("i-1",)))

    assert stopped_ids(actions) == {second.task_id}


def test_a_daemon_rollout_replaces_old_tasks_then_starts_new_ones_where_they_stopped() -> None:
    old = make_deployment("ecs-svc/1", TD1, status=DeploymentStatus.ACTIVE)
    new = make_deployment("ecs-svc/2", TD2, created_at=NOW - 10)
    service = daemon(new, old)
    tasks = [make_task(old, instance=i) for i in ("i-1", "i-2")]
    view = ServiceView(daemon_instances=("i-1", "i-2"))

    first = decide(service, tasks, view)
    assert stopped_ids(first) == {t.task_id for t in tasks}
    assert first.launch_on == {}  # the old tasks still hold the instances

    for task in tasks:
        task.desired_status = TaskStatus.STOPPED
    second = decide(service, tasks, view)
    assert second.launch_on == {}  # asked to stop, not stopped yet

    for task in tasks:
        task.last_status = TaskStatus.STOPPED
    third = decide(service, tasks, view)
    assert third.launch_on == {"ecs-svc/2": ["i-1", "i-2"]}


def test_a_daemon_rollout_honours_the_minimum_healthy_percent() -> None:
    old = make_deployment("ecs-svc/1", TD1, status=DeploymentStatus.ACTIVE)
    new = make_deployment("ecs-svc/2", TD2, created_at=NOW - 10)
    service = daemon(new, old, minimum=50)
    tasks = [make_task(old, instance=f"i-{n}") for n in range(4)]

    actions = decide(service, tasks, ServiceView(daemon_instances=("i-0", "i-1", "i-2", "i-3")))

    assert len(actions.stop) == 2


def test_a_daemon_service_on_every_instance_is_steady() -> None:
    service = daemon()
    tasks = [make_task(service.primary, instance=i) for i in ("i-1", "i-2")]

    actions = decide(service, tasks, ServiceView(daemon_instances=("i-1", "i-2")))

    assert service.primary.rollout_state == RolloutState.COMPLETED
    assert actions.events[-1] == STEADY


# -- deleting ------------------------------------------------------------------------------


def test_a_deleted_service_stops_all_its_tasks_protected_or_not() -> None:
    service = make_service(completed_primary(), desired=0, status=ServiceStatus.DRAINING)
    tasks = [make_task(service.primary), make_task(service.primary, protected_until=NOW + 600)]

    actions = decide(service, tasks)

    assert stopped_ids(actions) == {t.task_id for t in tasks}
    assert actions.launch == {}
    assert service.status == ServiceStatus.DRAINING
    assert STEADY not in actions.events


def test_a_deleted_service_stays_draining_until_its_tasks_have_stopped() -> None:
    service = make_service(completed_primary(), desired=0, status=ServiceStatus.DRAINING)
    task = make_task(service.primary, desired=TaskStatus.STOPPED, status=TaskStatus.STOPPING)

    actions = decide(service, [task])

    assert service.status == ServiceStatus.DRAINING
    assert actions.stop == []


@pytest.mark.parametrize("leftover", [0, 2], ids=["never had tasks", "tasks stopped"])
def test_a_deleted_service_becomes_inactive_once_its_tasks_are_gone(leftover: int) -> None:
    service = make_service(desired=0, status=ServiceStatus.DRAINING)
    tasks = [
        make_task(service.primary, status=TaskStatus.STOPPED, desired=TaskStatus.STOPPED)
        for _ in range(leftover)
    ]

    actions = decide(service, tasks)

    assert service.status == ServiceStatus.INACTIVE
    assert actions.service_changed
    assert [d.status for d in service.deployments] == [DeploymentStatus.PRIMARY]
    assert service.primary.deployment_status == "STOPPED"


def test_a_deleted_service_keeps_its_primary_but_retires_the_replaced_deployments() -> None:
    service, old, running, _ = rollout(1, desired=1, maximum=200, minimum=100, new_running=1)
    service.status, service.desired_count = ServiceStatus.DRAINING, 0
    for task in old + running:
        task.last_status = task.desired_status = TaskStatus.STOPPED

    decide(service, old + running)

    assert service.status == ServiceStatus.INACTIVE
    assert [d.status for d in service.deployments] == [
        DeploymentStatus.PRIMARY,
        DeploymentStatus.INACTIVE,
    ]
    assert service.primary.id == "ecs-svc/2"


def test_a_deleted_daemon_service_stops_its_tasks() -> None:
    service = daemon(completed_primary())
    service.status = ServiceStatus.DRAINING
    task = make_task(service.primary, instance="i-1")

    actions = decide(service, [task], ServiceView(daemon_instances=("i-1",)))

    assert stopped_ids(actions) == {task.task_id}
    assert actions.launch_on == {}


def test_a_deleted_service_whose_deployment_had_failed_still_stops_its_old_tasks() -> None:
    service, tasks = failing_rollout(3, rollback=False)
    decide(service, tasks)
    service.status, service.desired_count = ServiceStatus.DRAINING, 0

    actions = decide(service, tasks)

    alive = {t.task_id for t in tasks if t.last_status != TaskStatus.STOPPED}
    assert stopped_ids(actions) == alive


def test_an_inactive_service_asks_for_nothing() -> None:
    service = make_service(desired=3, status=ServiceStatus.INACTIVE)

    assert decide(service, []).empty


@pytest.mark.parametrize(
    ("ran_for", "health_checked", "health", "expected"),
    [
        (0.2, False, "UNKNOWN", False),  # seen RUNNING a moment: may be exiting at once
        (STABLE_SECONDS - 0.1, False, "UNKNOWN", False),
        (STABLE_SECONDS, False, "UNKNOWN", True),
        (60.0, False, "UNKNOWN", True),
        (0.2, True, "HEALTHY", True),  # a health check judges it: no waiting
        (60.0, True, "UNKNOWN", False),
    ],
)
def test_a_task_no_health_check_judges_counts_as_healthy_once_it_has_run_a_while(
    ran_for: float, health_checked: bool, health: str, expected: bool
) -> None:
    service = make_service()
    task = make_task(service.primary, started_at=NOW - ran_for, health=health)
    view = ServiceView(health_checked=frozenset({TD1}) if health_checked else frozenset())
    assert is_healthy(task, service, view, NOW) is expected


def test_a_rollout_whose_new_tasks_have_just_started_stops_no_old_task_yet() -> None:
    # 100/200: the old task may stop only once a new one counts as healthy.
    service, old_tasks, _, _ = rollout(1, desired=1, maximum=200, minimum=100)
    new = make_task(service.primary, started_at=NOW - 0.5)
    tasks = [*old_tasks, new]

    assert stopped_ids(decide(service, tasks)) == set()
    assert service.primary.rollout_state == RolloutState.IN_PROGRESS
    later = decide(service, tasks, now=NOW + STABLE_SECONDS)
    assert stopped_ids(later) == {old_tasks[0].task_id}
