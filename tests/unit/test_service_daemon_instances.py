"""Which instances a DAEMON service covers, read from a real (SQLite) store: one task
on each connected ACTIVE instance that satisfies its placement constraints and has
the attributes its task definition requires — and desiredCount is that number.
An excluded instance gets no launch, no "unable to place" event, and the
deployment completes without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openecs.controllers.service_reconcile import STABLE_SECONDS
from openecs.controllers.services import reconcile_services
from openecs.domain.errors import InvalidParameterException
from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.domain.service import Service
from openecs.domain.task import TaskStatus
from openecs.platform.clock import FakeClock
from openecs.store import services as service_rows
from openecs.store import tasks as task_rows
from openecs.usecases import (
    attributes,
    clusters,
    container_instances,
    service_actions,
    services,
    task_definitions,
)
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import Registration

SCOPE = Scope.root("000000000000", "us-east-1")
TASK_ROLE = "com.amazonaws.ecs.capability.task-iam-role"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    found = Backend.open(f"sqlite:///{tmp_path / 'daemon.db'}", clock=FakeClock(1_764_115_200.0))
    clusters.create_cluster(found, SCOPE, name="prod")
    task_definitions.register_task_definition(
        found,
        SCOPE,
        {"family": "agent", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64}]},
    )
    yield found
    found.close()


def add_instance(backend: Backend, ec2_id: str, *capabilities: str, memory: int = 2048) -> str:
    found = container_instances.register_container_instance(
        backend,
        SCOPE,
        "prod",
        Registration(
            ec2_id,
            Capacity(2048, memory),
            availability_zone="us-east-1a",
            attributes=[{"name": name} for name in capabilities],
        ),
    )
    return found.instance.instance_id


def label(backend: Backend, instance_id: str, role: str) -> None:
    attributes.put_attributes(
        backend,
        SCOPE,
        "prod",
        [
            {
                "name": "role",
                "value": role,
                "targetId": instance_id,
                "targetType": "container-instance",
            }
        ],
    )


def create_daemon(backend: Backend, task_definition: str = "agent", **params: Any) -> None:
    services.create_service(
        backend,
        SCOPE,
        {
            "cluster": "prod",
            "serviceName": "logs",
            "taskDefinition": task_definition,
            "schedulingStrategy": "DAEMON",
            **params,
        },
    )


def daemon_instances(backend: Backend) -> tuple[str, ...]:
    return service_actions.read_service_state(backend, the_service(backend)).daemon_instances


def the_service(backend: Backend) -> Service:
    with backend.reading() as conn:
        found = service_rows.get(conn, SCOPE, "prod", "logs")
    assert found is not None
    return found


def task_instances(backend: Backend) -> list[str]:
    with backend.reading() as conn:
        tasks = task_rows.for_group(conn, SCOPE, "prod", "service:logs")
    return sorted(t.container_instance_id or "" for t in tasks if t.desired_status == "RUNNING")


def run_tasks(backend: Backend) -> None:
    """What the agents would do: every task placed is RUNNING."""
    with backend.db.write() as conn:
        for task in task_rows.for_group(conn, SCOPE, "prod", "service:logs"):
            if task.last_status == TaskStatus.PROVISIONING:
                task.last_status = TaskStatus.RUNNING
                task.started_at = backend.clock.now()
                task_rows.save(conn, task)


MEMBER_OF_WEB = [{"type": "memberOf", "expression": "attribute:role == web"}]


def test_a_daemon_covers_only_instances_its_placement_constraints_select(
    backend: Backend,
) -> None:
    web1, web2, batch = (add_instance(backend, f"i-{n}") for n in ("web1", "web2", "batch"))
    label(backend, web1, "web")
    label(backend, web2, "web")
    label(backend, batch, "batch")
    create_daemon(backend, placementConstraints=MEMBER_OF_WEB)

    assert daemon_instances(backend) == tuple(sorted((web1, web2)))


def test_a_daemon_covers_only_instances_with_the_attributes_its_task_definition_requires(
    backend: Backend,
) -> None:
    task_definitions.register_task_definition(
        backend,
        SCOPE,
        {
            "family": "with-role",
            "taskRoleArn": "arn:aws:iam::000000000000:role/app",
            "containerDefinitions": [{"name": "a", "image": "x", "memory": 64}],
        },
    )
    able = add_instance(backend, "i-able", TASK_ROLE)
    add_instance(backend, "i-unable")
    create_daemon(backend, "with-role")

    assert daemon_instances(backend) == (able,)


def test_a_daemon_still_covers_an_eligible_instance_too_full_to_take_its_task(
    backend: Backend,
) -> None:
    roomy = add_instance(backend, "i-roomy")
    full = add_instance(backend, "i-full", memory=32)
    create_daemon(backend)

    assert daemon_instances(backend) == tuple(sorted((roomy, full)))


def test_a_daemon_skips_draining_and_disconnected_instances(backend: Backend) -> None:
    active = add_instance(backend, "i-active")
    draining = add_instance(backend, "i-draining")
    container_instances.update_container_instances_state(
        backend, SCOPE, "prod", [draining], "DRAINING"
    )
    create_daemon(backend)

    assert daemon_instances(backend) == (active,)


def test_excluded_instances_get_no_task_no_failure_and_the_deployment_completes(
    backend: Backend,
) -> None:
    web, batch = add_instance(backend, "i-web"), add_instance(backend, "i-batch")
    label(backend, web, "web")
    label(backend, batch, "batch")
    create_daemon(backend, placementConstraints=MEMBER_OF_WEB)

    reconcile_services(backend)
    run_tasks(backend)
    clock = backend.clock
    assert isinstance(clock, FakeClock)
    clock.advance(STABLE_SECONDS)  # long enough RUNNING to count as healthy
    for _ in range(3):
        reconcile_services(backend)

    service = the_service(backend)
    messages = [e.message for e in service.events]
    assert service.desired_count == 1
    assert task_instances(backend) == [web]
    assert not [m for m in messages if "unable to place" in m]
    assert service.primary.rollout_state == "COMPLETED"
    assert messages[0] == "(service logs) has reached a steady state."


def test_a_daemon_task_leaves_an_instance_that_stops_matching_its_constraints(
    backend: Backend,
) -> None:
    first, second = add_instance(backend, "i-1"), add_instance(backend, "i-2")
    label(backend, first, "web")
    label(backend, second, "web")
    create_daemon(backend, placementConstraints=MEMBER_OF_WEB)
    reconcile_services(backend)
    run_tasks(backend)
    assert task_instances(backend) == sorted((first, second))

    label(backend, second, "batch")
    reconcile_services(backend)

    assert task_instances(backend) == [first]
    assert the_service(backend).desired_count == 1


def test_a_daemon_with_a_constraint_that_does_not_parse_is_refused(backend: Backend) -> None:
    add_instance(backend, "i-1")

    with pytest.raises(InvalidParameterException):
        create_daemon(
            backend, placementConstraints=[{"type": "memberOf", "expression": "attribute:(("}]
        )
