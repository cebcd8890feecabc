"""Placement as the use cases apply it, on a real (SQLite) store: the capacity
provider split of a service's tasks over FARGATE / FARGATE_SPOT counts the tasks
its deployment already runs, and each failure names the instance its detail
names."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection

from openecs.controllers.services import reconcile_services
from openecs.domain.container_instance import CapacityKind
from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.scheduler.capacity_providers import split_by_capacity_provider
from openecs.store import tasks as task_rows
from openecs.usecases import (
    clusters,
    container_instances,
    placement_plans,
    services,
    task_definitions,
    tasks,
)
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import Registration
from openecs.usecases.tasks import LaunchRequest, launch_in_transaction

SCOPE = Scope.root("000000000000", "us-east-1")
SPLIT = [
    {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
    {"capacityProvider": "FARGATE_SPOT", "weight": 4},
]
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    found = Backend.open(f"sqlite:///{tmp_path / 'launch.db'}", clock=FakeClock(1_764_115_200.0))
    clusters.create_cluster(found, SCOPE, name="prod")
    task_definitions.register_task_definition(
        found,
        SCOPE,
        {
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{"name": "a", "image": "x"}],
        },
    )
    task_definitions.register_task_definition(
        found,
        SCOPE,
        {"family": "half", "containerDefinitions": [{"name": "a", "image": "x", "memory": 512}]},
    )
    container_instances.register_container_instance(
        found,
        SCOPE,
        None,
        Registration(
            "fargate-1",
            Capacity(1 << 20, 1 << 22),
            kind=CapacityKind.FARGATE,
            availability_zone="us-east-1a",
            attributes=[{"name": "ecs.capability.task-eni"}],
        ),
    )
    yield found
    found.close()


def providers_of(backend: Backend, group: str, started_by: str | None = None) -> Counter[str]:
    with backend.reading() as conn:
        found = task_rows.for_group(conn, SCOPE, "prod", group)
    return Counter(
        t.capacity_provider or ""
        for t in found
        if not t.wants_stop and (started_by is None or t.started_by == started_by)
    )


def expected(count: int) -> Counter[str]:
    return Counter(split_by_capacity_provider(SPLIT, count))


def service_step(count: int, deployment: str = "ecs-svc/1") -> LaunchRequest:
    return LaunchRequest(
        task_definition="web",
        cluster="prod",
        count=count,
        capacity_provider_strategy=SPLIT,
        network_configuration=NETWORK,
        group="service:web",
        started_by=deployment,
    )


# --- capacity providers ---------------------------------------------------------------


def test_a_service_growing_in_steps_keeps_the_split_of_one_launch_for_all_its_tasks(
    backend: Backend,
) -> None:
    # Base 1 on FARGATE, then 1 FARGATE for every 4 FARGATE_SPOT: the base once, not
    # once per step (which would make every single-task scale-out a FARGATE task).
    total = 0
    for step in (1, 1, 1, 2, 1, 3, 1, 5):
        backend.write(
            lambda conn, n=step: launch_in_transaction(conn, backend, SCOPE, service_step(n))
        )
        total += step
        assert providers_of(backend, "service:web") == expected(total), f"after {total}"


def test_batches_of_one_launch_share_one_base(backend: Backend) -> None:
    def two_batches(conn: Connection) -> None:
        for _ in range(2):
            launch_in_transaction(conn, backend, SCOPE, service_step(10))

    backend.write(two_batches)
    assert providers_of(backend, "service:web") == expected(20)
    assert expected(20) == {"FARGATE": 5, "FARGATE_SPOT": 15}


def test_tasks_stopping_or_of_another_deployment_do_not_count(backend: Backend) -> None:
    backend.write(lambda conn: launch_in_transaction(conn, backend, SCOPE, service_step(5)))
    assert providers_of(backend, "service:web") == expected(5)
    # A new deployment gets its own base: once the old tasks are gone, it still has one.
    backend.write(
        lambda conn: launch_in_transaction(conn, backend, SCOPE, service_step(1, "ecs-svc/2"))
    )
    assert providers_of(backend, "service:web", "ecs-svc/2") == {"FARGATE": 1}
    # One of the old deployment's FARGATE tasks is stopping: the next one replaces it.
    with backend.reading() as conn:
        old = task_rows.for_group(conn, SCOPE, "prod", "service:web")
    fargate = next(
        t for t in old if t.capacity_provider == "FARGATE" and t.started_by == "ecs-svc/1"
    )
    tasks.stop_task(backend, SCOPE, "prod", fargate.arn, "scale in")
    backend.write(lambda conn: launch_in_transaction(conn, backend, SCOPE, service_step(1)))
    assert providers_of(backend, "service:web", "ecs-svc/1") == expected(5)


def test_standalone_run_task_applies_the_base_to_each_call(backend: Backend) -> None:
    request = LaunchRequest(
        task_definition="web",
        cluster="prod",
        count=2,
        capacity_provider_strategy=SPLIT,
        network_configuration=NETWORK,
    )
    for _ in range(2):
        started, _ = tasks.run_task(backend, SCOPE, request)
        assert [d.task.capacity_provider for d in started] == ["FARGATE", "FARGATE_SPOT"]


def test_a_service_scaled_out_through_the_controller_keeps_its_split(backend: Backend) -> None:
    def scale(desired: int) -> None:
        services.update_service(
            backend, SCOPE, {"cluster": "prod", "service": "web", "desiredCount": desired}
        )
        reconcile_services(backend)

    services.create_service(
        backend,
        SCOPE,
        {
            "cluster": "prod",
            "serviceName": "web",
            "taskDefinition": "web",
            "desiredCount": 10,
            "capacityProviderStrategy": SPLIT,
            "networkConfiguration": NETWORK,
        },
    )
    reconcile_services(backend)
    assert providers_of(backend, "service:web") == expected(10)
    for desired in (11, 12, 13, 14, 15, 26):
        scale(desired)
        assert providers_of(backend, "service:web") == expected(desired), f"at {desired}"


def test_plan_service_shows_the_providers_the_next_tasks_would_get(backend: Backend) -> None:
    services.create_service(
        backend,
        SCOPE,
        {
            "cluster": "prod",
            "serviceName": "web",
            "taskDefinition": "web",
            "desiredCount": 3,
            "capacityProviderStrategy": SPLIT,
            "networkConfiguration": NETWORK,
        },
    )
    reconcile_services(backend)
    assert providers_of(backend, "service:web") == {"FARGATE": 1, "FARGATE_SPOT": 2}
    services.update_service(
        backend, SCOPE, {"cluster": "prod", "service": "web", "desiredCount": 7}
    )
    report = placement_plans.plan_service(backend, SCOPE, "prod", "web")
    # The 4th to 7th tasks of one launch of seven, not a base again.
    assert [p["capacityProvider"] for p in report.placements] == split_by_capacity_provider(
        SPLIT, 7
    )[3:]


# --- failures -------------------------------------------------------------------------


def add_instance(backend: Backend, ec2_id: str, memory: int) -> str:
    found = container_instances.register_container_instance(
        backend,
        SCOPE,
        "prod",
        Registration(ec2_id, Capacity(4096, memory), availability_zone="us-east-1a"),
    )
    return found.instance.arn


def named_in(detail: str) -> str:
    found = re.search(r"The closest matching container instance (\S+) ", detail)
    assert found is not None, detail
    return found.group(1)


def test_a_failure_names_the_instance_its_detail_calls_closest(backend: Backend) -> None:
    # "small" is turned away for memory at once; "roomy" only after taking two tasks.
    # Both are rejected for memory; the failure's arn is the one the detail names.
    roomy = add_instance(backend, "i-roomy", 1024)
    small = add_instance(backend, "i-small", 256)
    started, failures = tasks.run_task(
        backend, SCOPE, LaunchRequest(task_definition="half", cluster="prod", count=3)
    )
    assert [d.task.container_instance_arn for d in started] == [roomy, roomy]
    [failure] = failures
    assert failure["reason"] == "RESOURCE:MEMORY"
    assert failure["arn"] in (roomy, small)
    assert failure["arn"].endswith("/" + named_in(failure["detail"]))


def test_start_task_failures_each_name_their_own_instance(backend: Backend) -> None:
    small = [add_instance(backend, f"i-small-{n}", 256) for n in range(3)]
    started, failures = tasks.start_task(
        backend,
        SCOPE,
        LaunchRequest(task_definition="half", cluster="prod", container_instances=small),
    )
    assert not started
    assert sorted((f["arn"], f["reason"]) for f in failures) == [
        (arn, "RESOURCE:MEMORY") for arn in sorted(small)
    ]
