"""Service events as ECS words them, written by the service controller through a real
(SQLite) store: tasks started and stopped, a task a load balancer finds unhealthy
(then stopped and replaced), a task that cannot be placed (said once, with the
scheduler's reason, not repeated) — and only the latest 100 kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from openecs.controllers.services import reconcile_services
from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.domain.service import MAX_EVENTS, Service
from openecs.domain.task import Task, TaskStatus
from openecs.platform.clock import FakeClock
from openecs.store import services as service_rows
from openecs.store import tasks as task_rows
from openecs.usecases import (
    clusters,
    container_instances,
    listeners,
    load_balancing,
    services,
    target_groups,
    task_definitions,
)
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import Registration
from openecs.usecases.service_actions import placement_failure_event
from tests.support.service_fixtures import make_service

SCOPE = Scope.root("000000000000", "us-east-1")
GUIDE = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
UNABLE = (
    "(service web) was unable to place a task because no container instance met all of its "
    "requirements."
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_764_115_200.0)


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    found = Backend.open(f"sqlite:///{tmp_path / 'events.db'}", clock=clock)
    clusters.create_cluster(found, SCOPE, name="prod")
    task_definitions.register_task_definition(
        found,
        SCOPE,
        {
            "family": "web",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": "x",
                    "memory": 256,
                    "portMappings": [{"containerPort": 80, "hostPort": 0}],
                }
            ],
        },
    )
    yield found
    found.close()


def add_instance(backend: Backend, ec2_id: str, *, cpu: int = 2048, memory: int = 4096) -> str:
    found = container_instances.register_container_instance(
        backend,
        SCOPE,
        "prod",
        Registration(ec2_id, Capacity(cpu, memory), availability_zone="us-east-1a"),
    )
    return found.instance.instance_id


def create(backend: Backend, desired: int, **params: object) -> None:
    services.create_service(
        backend,
        SCOPE,
        {
            "cluster": "prod",
            "serviceName": "web",
            "taskDefinition": "web",
            "desiredCount": desired,
            **params,
        },
    )


def the_service(backend: Backend) -> Service:
    with backend.reading() as conn:
        found = service_rows.get(conn, SCOPE, "prod", "web")
    assert found is not None
    return found


def messages(backend: Backend) -> list[str]:
    """Newest first, as DescribeServices shows them."""
    return [e.message for e in the_service(backend).events]


def live_tasks(backend: Backend) -> list[Task]:
    with backend.reading() as conn:
        found = task_rows.for_group(conn, SCOPE, "prod", "service:web")
    return sorted(
        (t for t in found if t.desired_status == TaskStatus.RUNNING), key=lambda t: t.task_id
    )


def run_tasks(backend: Backend, host_port: int = 32768) -> None:
    """What an agent would report: every placed task RUNNING, port 80 published."""
    with backend.db.write() as conn:
        for task in task_rows.for_group(conn, SCOPE, "prod", "service:web"):
            if task.last_status == TaskStatus.PROVISIONING:
                task.last_status = TaskStatus.RUNNING
                task.started_at = backend.clock.now()
                for container in task.containers:
                    container.last_status = TaskStatus.RUNNING
                    container.network_bindings = [
                        {"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": host_port}
                    ]
                task_rows.save(conn, task)


# -- started and stopped -------------------------------------------------------------------


def test_scaling_in_says_it_has_stopped_n_running_tasks_naming_each(backend: Backend) -> None:
    add_instance(backend, "i-1")
    create(backend, 3)
    reconcile_services(backend)
    started = [t.task_id for t in live_tasks(backend)]
    run_tasks(backend)
    reconcile_services(backend)

    services.update_service(
        backend, SCOPE, {"cluster": "prod", "service": "web", "desiredCount": 1}
    )
    reconcile_services(backend)

    gone = [t for t in started if t not in {k.task_id for k in live_tasks(backend)}]
    assert len(gone) == 2
    latest = messages(backend)[0]
    assert latest in (
        f"(service web) has stopped 2 running tasks: (task {gone[0]}) (task {gone[1]}).",
        f"(service web) has stopped 2 running tasks: (task {gone[1]}) (task {gone[0]}).",
    )
    [said] = [m for m in messages(backend) if m.startswith("(service web) has started 3 tasks: ")]
    assert sorted(re.findall(r"\(task (\w+)\)", said)) == sorted(started)


def test_only_the_latest_100_events_are_kept_newest_first() -> None:
    service = make_service()

    for n in range(MAX_EVENTS + 25):
        service.add_event(f"e{n}", 1_800_000_000.0 + n, f"(service web) message {n}.")

    assert MAX_EVENTS == 100
    assert len(service.events) == 100
    assert service.events[0].message == "(service web) message 124."
    assert service.events[-1].message == "(service web) message 25."


def test_the_controller_keeps_only_the_latest_100_events(backend: Backend) -> None:
    add_instance(backend, "i-1")
    create(backend, 1)
    # Each round replaces the task that stopped (its container exited): one event.
    for _ in range(MAX_EVENTS + 20):
        reconcile_services(backend)
        with backend.db.write() as conn:
            for task in task_rows.for_group(conn, SCOPE, "prod", "service:web"):
                if task.last_status != TaskStatus.STOPPED:
                    task.last_status = task.desired_status = TaskStatus.STOPPED
                    task.stopped_at = backend.clock.now()
                    task_rows.save(conn, task)

    found = messages(backend)
    assert len(found) == MAX_EVENTS
    assert found[0].startswith("(service web) has started 1 tasks: ")


# -- load balancer health --------------------------------------------------------------------


def test_a_target_the_load_balancer_finds_unhealthy_is_reported_then_stopped_and_replaced(
    backend: Backend,
) -> None:
    add_instance(backend, "i-0123456789abcdef0")
    lb = load_balancing.create_load_balancer(backend, SCOPE, name="web")
    tg = target_groups.create_target_group(
        backend, SCOPE, name="web", protocol="HTTP", port=80, target_type="instance"
    ).target_group
    listeners.create_listener(
        backend,
        SCOPE,
        load_balancer_arn=lb.arn,
        protocol="HTTP",
        port=8000,
        default_actions=[{"Type": "forward", "TargetGroupArn": tg.arn}],
    )
    create(
        backend,
        1,
        loadBalancers=[{"targetGroupArn": tg.arn, "containerName": "web", "containerPort": 80}],
    )
    reconcile_services(backend)
    run_tasks(backend)
    reconcile_services(backend)  # registers the target
    [task] = live_tasks(backend)
    load_balancing.record_target_health(
        backend,
        [
            (
                tg.arn,
                "i-0123456789abcdef0",
                32768,
                "unhealthy",
                "Target.ResponseCodeMismatch",
                "Health checks failed with these codes: [502]",
            )
        ],
    )

    reconcile_services(backend)

    [replacement] = live_tasks(backend)
    assert messages(backend)[:3] == [
        f"(service web) has started 1 tasks: (task {replacement.task_id}).",
        f"(service web) has stopped 1 running tasks: (task {task.task_id}).",
        f"(service web) (instance i-0123456789abcdef0) (port 32768) is unhealthy in "
        f"(target-group {tg.arn}) due to (reason Health checks failed with these codes: [502]).",
    ]
    with backend.reading() as conn:
        stopped = task_rows.get(conn, SCOPE, task.task_id)
    assert stopped is not None
    assert stopped.stopped_reason == f"Task failed ELB health checks in (target-group {tg.arn})"


# -- placement failures ----------------------------------------------------------------------


def test_a_task_that_fits_no_instance_names_the_closest_one_once(backend: Backend) -> None:
    short = add_instance(backend, "i-short", memory=128)
    create(backend, 1)

    for _ in range(3):
        reconcile_services(backend)

    assert messages(backend) == [
        f"{UNABLE} The closest matching (container-instance {short}) has insufficient memory "
        f"available. {GUIDE}"
    ]


def test_the_placement_failure_counts_what_each_filter_turned_away(backend: Backend) -> None:
    draining = add_instance(backend, "i-draining")
    container_instances.update_container_instances_state(
        backend, SCOPE, "prod", [draining], "DRAINING"
    )
    short = add_instance(backend, "i-short", memory=128)
    create(backend, 1)

    reconcile_services(backend)

    [message] = messages(backend)
    assert message == (
        f"{UNABLE} The closest matching (container-instance {short}) has insufficient memory "
        "available. Checked 2 container instances; rejected 1 by INSTANCE_STATUS, "
        f"1 by RESOURCE:MEMORY. {GUIDE}"
    )
    assert message.count("memory") == 1


def test_a_cluster_without_instances_says_so(backend: Backend) -> None:
    create(backend, 1)

    reconcile_services(backend)

    assert messages(backend) == [
        f"{UNABLE} Reason: No Container Instances were found in your cluster. {GUIDE}"
    ]


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (
            {
                "reason": "RESOURCE:MEMORY",
                "detail": "container instance arn:aws:ecs:us-east-1:0:container-instance/prod/5db3",
            },
            f"{UNABLE} The closest matching (container-instance 5db3) has insufficient memory "
            f"available. {GUIDE}",
        ),
        (
            {
                "reason": "Capacity is unavailable at this time. Please try again later or in a "
                "different availability zone",
                "detail": "No FARGATE capacity is connected: run `openecs up`.",
            },
            "(service web) was unable to place a task. Reason: Capacity is unavailable at this "
            "time. Please try again later or in a different availability zone. No FARGATE "
            f"capacity is connected: run `openecs up`. {GUIDE}",
        ),
        (
            {"reason": "InvalidParameterException", "detail": "TaskDefinition is inactive"},
            "(service web) was unable to place a task. Reason: TaskDefinition is inactive. "
            + GUIDE,
        ),
    ],
    ids=["a daemon's chosen instance", "no Fargate capacity", "a refused launch"],
)
def test_other_placement_failures_read_as_ecs_events(failure: dict[str, str], said: str) -> None:
    assert placement_failure_event("web", failure) == said
