"""What a task reserves on an instance (domain.resources.reservation_for), as ECS
accounts it: task-level sizes first, then the containers' sums; memoryReservation
before memory; only fixed host ports."""

from __future__ import annotations

from typing import Any

import pytest

from openecs.domain.resources import Reservation, reservation_for


def definition(*containers: dict[str, Any], **task: Any) -> dict[str, Any]:
    return {
        "containerDefinitions": [
            {"name": f"c{n}", "image": "busybox", **c} for n, c in enumerate(containers)
        ],
        **task,
    }


@pytest.mark.parametrize(
    ("containers", "task", "overrides", "memory"),
    [
        pytest.param([{"memory": 512}], {}, {}, 512, id="hard limit only"),
        pytest.param([{"memoryReservation": 256}], {}, {}, 256, id="soft limit only"),
        pytest.param(
            [{"memory": 1024, "memoryReservation": 256}], {}, {}, 256, id="both: the soft limit"
        ),
        pytest.param(
            [{"memory": 1024, "memoryReservation": 256}, {"memory": 300}],
            {},
            {},
            556,
            id="summed over containers, each by its own rule",
        ),
        pytest.param(
            [{"memory": 1024, "memoryReservation": 256}],
            {"memory": "2048"},
            {},
            2048,
            id="task-level memory wins",
        ),
        pytest.param(
            [{"memoryReservation": 256}],
            {"memory": "2048"},
            {"memory": "3072"},
            3072,
            id="task-level override wins over the task definition",
        ),
        pytest.param(
            [{"memory": 1024, "memoryReservation": 256}],
            {},
            {"containerOverrides": [{"name": "c0", "memoryReservation": 128}]},
            128,
            id="overridden soft limit",
        ),
        pytest.param(
            [{"memory": 1024, "memoryReservation": 256}],
            {},
            {"containerOverrides": [{"name": "c0", "memory": 2048}]},
            256,
            id="overridden hard limit: the soft one still counts",
        ),
        pytest.param(
            [{"memory": 1024}],
            {},
            {"containerOverrides": [{"name": "c0", "memoryReservation": 64}]},
            64,
            id="a soft limit given by override",
        ),
        pytest.param([{"memory": 2}], {}, {}, 6, id="never below Docker's floor"),
    ],
)
def test_memory_reserved_is_memory_reservation_when_set_else_memory(
    containers: list[dict[str, Any]], task: dict[str, Any], overrides: dict[str, Any], memory: int
) -> None:
    assert reservation_for(definition(*containers, **task), overrides).memory == memory


def test_cpu_is_the_task_size_else_the_containers_sum() -> None:
    containers = [{"cpu": 128, "memory": 64}, {"cpu": 256, "memory": 64}]
    assert reservation_for(definition(*containers)).cpu == 384
    assert reservation_for(definition(*containers, cpu="1024")).cpu == 1024
    assert reservation_for(definition(*containers, cpu="1024"), {"cpu": "2048"}).cpu == 2048


def mappings(*port_mappings: dict[str, Any], mode: str = "bridge") -> dict[str, Any]:
    return definition({"memory": 64, "portMappings": list(port_mappings)}, networkMode=mode)


@pytest.mark.parametrize(
    ("task", "tcp", "udp"),
    [
        pytest.param(mappings({"containerPort": 80}), set(), set(), id="bridge, no hostPort"),
        pytest.param(
            mappings({"containerPort": 80, "hostPort": 0}), set(), set(), id="bridge, hostPort 0"
        ),
        pytest.param(
            mappings({"containerPort": 53, "hostPort": 0, "protocol": "udp"}),
            set(),
            set(),
            id="bridge, udp hostPort 0",
        ),
        pytest.param(
            mappings({"containerPortRange": "8000-8010"}),
            set(),
            set(),
            id="bridge, containerPortRange: Docker picks the host ports",
        ),
        pytest.param(
            mappings({"containerPort": 80, "hostPort": 8080}), {8080}, set(), id="bridge, fixed"
        ),
        pytest.param(
            mappings(
                {"containerPort": 53, "hostPort": 5353, "protocol": "udp"},
                {"containerPort": 53, "hostPort": 5353, "protocol": "tcp"},
            ),
            {5353},
            {5353},
            id="bridge, the same number over tcp and udp",
        ),
        pytest.param(
            mappings({"containerPort": 80}, mode="host"), {80}, set(), id="host: the container port"
        ),
        pytest.param(
            mappings({"containerPort": 53, "protocol": "udp"}, mode="host"),
            set(),
            {53},
            id="host, udp",
        ),
        pytest.param(
            mappings({"containerPort": 80, "hostPort": 80}, mode="awsvpc"),
            set(),
            set(),
            id="awsvpc: published on dynamic host ports",
        ),
    ],
)
def test_only_fixed_host_ports_are_reserved(
    task: dict[str, Any], tcp: set[int], udp: set[int]
) -> None:
    found = reservation_for(task)
    assert (found.tcp_ports, found.udp_ports) == (tcp, udp)


def test_awsvpc_ports_are_reserved_where_the_host_publishes_them_statically() -> None:
    task = mappings({"containerPort": 80}, {"containerPort": 53, "protocol": "udp"}, mode="awsvpc")
    found = reservation_for(task, awsvpc_publishes_dynamically=False)
    assert (found.tcp_ports, found.udp_ports) == ({80}, {53})


def test_gpus_are_summed_over_containers() -> None:
    task = definition(
        {"memory": 64, "resourceRequirements": [{"type": "GPU", "value": "2"}]},
        {"memory": 64, "resourceRequirements": [{"type": "GPU", "value": "1"}]},
        {"memory": 64},
    )
    assert reservation_for(task) == Reservation(0, 192, gpus=3)
