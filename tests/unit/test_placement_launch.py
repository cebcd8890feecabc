"""Placement as the use cases apply it, on a real (SQLite) store: each failure
names the instance its detail names."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from openecs.domain.container_instance import CapacityKind
from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.scheduler.capacity_providers import split_by_capacity_provider
from openecs.store import tasks as task_rows
from openecs.usecases import (
    clusters,
    container_instances,
    task_definitions,
    tasks,
)
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import Registration
from openecs.usecases.tasks import LaunchRequest

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
