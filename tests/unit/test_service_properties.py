"""Properties of a service's controller, checked on a simulated world.

A `World` runs the pure decision step after step and applies what it asks
for: launched tasks are RUNNING and healthy by the next step; a task asked to
stop keeps running for STOP_SECONDS (several steps) while it shuts down, and
counts against the maximum until it has stopped (a crashing revision's tasks
stop on their own instead). From a steady service, for any desired count and
deployment configuration in which a rollout can move at all:

* tasks RUNNING or PENDING, those shutting down included, never exceed
  floor(maximumPercent x desired / 100);
* healthy tasks never drop below ceil(minimumHealthyPercent x desired / 100);
* there is exactly one PRIMARY deployment at every step;
* the rollout reaches COMPLETED within a bounded number of steps, and then
  exactly `desired` tasks of the new revision run;
* a revision that cannot start trips the circuit breaker, which rolls back to
  the old revision, again within both bounds and in bounded time;
* back-to-back deployments keep both bounds and converge on the last one;
* scaling in starts nothing, never stops more than it must nor a protected
  task, and settles at the new desired count;
* draining an instance moves its tasks off it within both bounds.
"""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from openecs.controllers.service_reconcile import STABLE_SECONDS, ServiceView
from openecs.domain.service import DeploymentStatus, RolloutState, failure_threshold
from tests.support.service_fixtures import (
    INSTANCES,
    TD1,
    TD2,
    TD3,
    World,
    make_deployment,
    make_service,
    make_task,
)

# Longer than a step: a stopped task is still running for the next two decisions.
STOP_SECONDS = 2.5
# The most steps one wave of replacement takes: stop, shut down, start, run long enough
# to count as healthy.
WAVE = math.ceil(STOP_SECONDS) + math.ceil(STABLE_SECONDS) + 3
desired_counts = st.integers(min_value=1, max_value=12)
maximum_percents = st.integers(min_value=100, max_value=200)
minimum_percents = st.integers(min_value=0, max_value=100)


def bounds(desired: int, maximum: int, minimum: int) -> tuple[int, int]:
    return math.floor(desired * maximum / 100), math.ceil(desired * minimum / 100)


def can_move(desired: int, maximum: int, minimum: int) -> bool:
    """Some room to start a task, or to stop one: otherwise ECS reports the rollout stuck."""
    most, least = bounds(desired, maximum, minimum)
    return most > desired or least < desired


def steady_world(
    desired: int, maximum: int, minimum: int, *, breaker: bool = False, rollback: bool = False
) -> World:
    first = make_deployment("ecs-svc/1", TD1, rollout=RolloutState.COMPLETED)
    service = make_service(
        first,
        desired=desired,
        maximum=maximum,
        minimum=minimum,
        breaker=breaker,
        rollback=rollback,
    )
    world = World(service, stop_seconds=STOP_SECONDS)
    world.tasks = [
        make_task(first, health="HEALTHY", instance=f"i-{n % 3}", zone=f"zone-{n % 3 % 2}")
        for n in range(desired)
    ]
    world.step()
    assert world.decide().empty, "the world starts steady"
    return world


def assert_within_bounds(world: World, desired: int, maximum: int, minimum: int) -> None:
    most, least = bounds(desired, maximum, minimum)
    running, healthy = len(world.running()), len(world.healthy())
    assert running <= most, f"{running} tasks running or shutting down, maximum {most}"
    assert healthy >= least, f"{healthy} tasks healthy, minimum {least}"
    primaries = [d for d in world.service.deployments if d.status == DeploymentStatus.PRIMARY]
    assert len(primaries) == 1


@settings(max_examples=300, deadline=None)
@given(desired=desired_counts, maximum=maximum_percents, minimum=minimum_percents)
def test_a_rolling_update_stays_within_bounds_and_completes(
    desired: int, maximum: int, minimum: int
) -> None:
    assume(can_move(desired, maximum, minimum))
    world = steady_world(desired, maximum, minimum)
    new = world.deploy(TD2)
    limit = WAVE * (desired + 1)

    for _ in range(limit):
        world.step()
        assert_within_bounds(world, desired, maximum, minimum)
        if new.rollout_state == RolloutState.COMPLETED:
            break

    assert new.rollout_state == RolloutState.COMPLETED, f"not done after {limit} steps"
    assert new.deployment_status == "SUCCESSFUL"
    alive = world.alive()
    assert len(alive) == desired
    assert {t.task_definition_arn for t in alive} == {TD2}
    assert [d.status for d in world.service.deployments] == [
        DeploymentStatus.PRIMARY,
        DeploymentStatus.INACTIVE,
    ]


@settings(max_examples=200, deadline=None)
@given(desired=desired_counts, maximum=maximum_percents, minimum=minimum_percents)
def test_a_revision_that_cannot_start_is_rolled_back_within_bounds(
    desired: int, maximum: int, minimum: int
) -> None:
    assume(can_move(desired, maximum, minimum))
    world = steady_world(desired, maximum, minimum, breaker=True, rollback=True)
    world.crashing = frozenset({TD2})
    failed = world.deploy(TD2)
    # Each wave starts at least one task of the failing revision until the breaker trips,
    # then the rollback replaces every task as a plain rollout does.
    limit = WAVE * (failure_threshold(desired) + desired + 2)

    for _ in range(limit):
        world.step()
        assert_within_bounds(world, desired, maximum, minimum)
        primary = world.service.primary
        if primary.rollback_of and primary.rollout_state == RolloutState.COMPLETED:
            break

    primary = world.service.primary
    assert failed.rollout_state == RolloutState.FAILED
    assert failed.failed_tasks >= failure_threshold(desired)
    assert primary.rollback_of == failed.id, f"no rollback after {limit} steps"
    assert primary.rollout_state == RolloutState.COMPLETED, f"not rolled back after {limit}"
    assert primary.deployment_status == "ROLLBACK_SUCCESSFUL"
    assert failed.deployment_status == "ROLLBACK_SUCCESSFUL"
    alive = world.alive()
    assert len(alive) == desired
    assert {t.task_definition_arn for t in alive} == {TD1}


@settings(max_examples=100, deadline=None)
@given(desired=desired_counts, maximum=maximum_percents, minimum=minimum_percents)
def test_without_rollback_a_failed_revision_stops_launching_and_keeps_the_old_tasks(
    desired: int, maximum: int, minimum: int
) -> None:
    assume(can_move(desired, maximum, minimum))
    world = steady_world(desired, maximum, minimum, breaker=True, rollback=False)
    world.crashing = frozenset({TD2})
    failed = world.deploy(TD2)

    for _ in range(WAVE * (failure_threshold(desired) + desired + 2)):
        world.step()
        assert_within_bounds(world, desired, maximum, minimum)
    launched_after_failure = [a for a in world.history[-3:] if a.launch or a.launch_on]

    assert failed.rollout_state == RolloutState.FAILED
    assert failed.deployment_status == "STOPPED"
    assert launched_after_failure == []
    assert all(t.task_definition_arn == TD1 for t in world.alive())


@settings(max_examples=150, deadline=None)
@given(
    desired=desired_counts,
    maximum=maximum_percents,
    minimum=minimum_percents,
    gaps=st.lists(st.integers(min_value=1, max_value=WAVE + 1), min_size=1, max_size=3),
)
def test_back_to_back_deployments_keep_the_bounds_and_converge_on_the_last_one(
    desired: int, maximum: int, minimum: int, gaps: list[int]
) -> None:
    assume(can_move(desired, maximum, minimum))
    world = steady_world(desired, maximum, minimum)
    latest = world.deploy(TD2)
    for n, gap in enumerate(gaps):
        for _ in range(gap):
            world.step()
            assert_within_bounds(world, desired, maximum, minimum)
        latest = world.deploy((TD1, TD3)[n % 2])
    limit = (len(gaps) + 1) * WAVE * (desired + 1)

    for _ in range(limit):
        world.step()
        assert_within_bounds(world, desired, maximum, minimum)
        if latest.rollout_state == RolloutState.COMPLETED:
            break

    assert latest.rollout_state == RolloutState.COMPLETED, f"not done after {limit} steps"
    assert len(world.alive()) == desired
    assert {t.started_by for t in world.alive()} == {latest.id}
    assert len(world.service.live_deployments) == 1
    primaries = [d for d in world.service.deployments if d.status == DeploymentStatus.PRIMARY]
    assert primaries == [latest]


@settings(max_examples=150, deadline=None)
@given(
    desired=desired_counts,
    maximum=maximum_percents,
    minimum=minimum_percents,
    data=st.data(),
)
def test_scaling_in_a_steady_service_stops_only_what_it_must(
    desired: int, maximum: int, minimum: int, data: st.DataObject
) -> None:
    world = steady_world(desired, maximum, minimum)
    lower = data.draw(st.integers(min_value=0, max_value=desired - 1), label="lower")
    protected = data.draw(st.integers(min_value=0, max_value=desired), label="protected")
    for task in world.alive()[:protected]:
        task.protection_enabled = True
        task.protection_expires_at = world.now + 3600
    kept = {t.task_id for t in world.alive()[:protected]}
    world.service.desired_count = lower
    _, least = bounds(lower, maximum, minimum)
    settled = max(lower, protected)
    running = len(world.running())

    for _ in range(WAVE + 2):
        actions = world.step()
        assert not actions.launch, "scaling in started a task"
        assert len(world.running()) <= running, "scaling in grew the service"
        running = len(world.running())
        assert len(world.healthy()) >= max(least, settled), "scaling in stopped too many"
        assert kept <= {t.task_id for t in world.alive()}, "a protected task was stopped"

    assert len(world.alive()) == settled
    assert len(world.running()) == settled  # the stopped ones have shut down
    assert world.service.primary.rollout_state == RolloutState.COMPLETED
    assert world.decide().empty


@settings(max_examples=150, deadline=None)
@given(desired=desired_counts, maximum=maximum_percents, minimum=minimum_percents)
def test_draining_an_instance_moves_its_tasks_off_within_the_bounds(
    desired: int, maximum: int, minimum: int
) -> None:
    assume(can_move(desired, maximum, minimum))
    world = steady_world(desired, maximum, minimum)
    world.view = ServiceView(draining_instances=frozenset({INSTANCES[0]}))
    limit = WAVE * (desired + 1)

    def moved() -> bool:
        on_drained = [t for t in world.running() if t.container_instance_id == INSTANCES[0]]
        return not on_drained and len(world.healthy()) == desired

    for _ in range(limit):
        world.step()
        assert_within_bounds(world, desired, maximum, minimum)
        if moved():
            break

    assert moved(), f"tasks still on the draining instance after {limit} steps"
    assert len(world.alive()) == desired
    world.step()
    assert world.decide().empty
