"""Task CPU and memory utilization as ECS computes them, from two Docker samples."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from openecs.agent.container_runtime import ContainerRuntime, ContainerStats
from openecs.agent.stats_sampler import (
    StatsSampler,
    TaskReservation,
    cpu_units_used,
    task_utilization,
)

SECOND = 1_000_000_000
MIB = 1024 * 1024


def sample(cpu_ns: int, system_ns: int, *, cpus: int = 4, memory_mib: int = 0) -> ContainerStats:
    return ContainerStats(
        read_at=datetime(2026, 1, 1, tzinfo=UTC),
        cpu_total_ns=cpu_ns,
        system_cpu_ns=system_ns,
        online_cpus=cpus,
        memory_usage_bytes=memory_mib * MIB,
        memory_limit_bytes=0,
        network_rx_bytes=0,
        network_tx_bytes=0,
        block_read_bytes=0,
        block_write_bytes=0,
        pids=1,
    )


def test_half_a_core_is_512_cpu_units() -> None:
    # 10 s on a 4-core host: the system counter advances 40 core-seconds.
    before, after = sample(0, 0), sample(5 * SECOND, 40 * SECOND)
    assert cpu_units_used(before, after) == pytest.approx(512.0)


def test_a_counter_going_back_or_no_system_time_tells_nothing() -> None:
    assert cpu_units_used(sample(9 * SECOND, 0), sample(1 * SECOND, 40 * SECOND)) is None
    assert cpu_units_used(sample(0, 40 * SECOND), sample(SECOND, 40 * SECOND)) is None


def test_task_cpu_is_the_sum_of_its_containers_over_the_task_reservation() -> None:
    previous = {"a": sample(0, 0), "b": sample(0, 0)}
    # a uses a quarter core (256 units), b an eighth (128): 384 of 256 reserved.
    current = {
        "a": sample(10 * SECOND // 4, 40 * SECOND),
        "b": sample(10 * SECOND // 8, 40 * SECOND),
    }
    figures = task_utilization(previous, current, TaskReservation(("a", "b"), 256, 512))
    assert figures["cpuUtilization"] == pytest.approx(150.0)


def test_memory_is_used_mib_over_reserved_mib() -> None:
    current = {"a": sample(0, 0, memory_mib=96), "b": sample(0, 0, memory_mib=32)}
    figures = task_utilization({}, current, TaskReservation(("a", "b"), 1024, 512))
    assert figures == {"memoryUtilization": pytest.approx(25.0)}  # no CPU without a previous sample


def test_no_reservation_no_figure() -> None:
    previous = {"a": sample(0, 0)}
    current = {"a": sample(SECOND, 40 * SECOND, memory_mib=10)}
    assert task_utilization(previous, current, TaskReservation(("a",), 0, 0)) == {}


class _Stats:
    def __init__(self) -> None:
        self.samples: dict[str, list[ContainerStats]] = {}

    async def stats(self, container: str) -> ContainerStats:
        queue = self.samples.get(container)
        if not queue:
            raise RuntimeError(f"no such container: {container}")
        return queue.pop(0)


def test_sampler_sends_one_batch_per_round_and_forgets_finished_tasks() -> None:
    docker = _Stats()
    docker.samples["c1"] = [
        sample(0, 0, memory_mib=64),
        sample(4 * SECOND, 40 * SECOND, memory_mib=128),
    ]
    running = {"arn:task/1": TaskReservation(("c1",), 1024, 256)}
    sent: list[list[dict[str, Any]]] = []

    async def send(batch: list[dict[str, Any]]) -> None:
        sent.append(batch)

    sampler = StatsSampler(cast(ContainerRuntime, docker), lambda: running, send)

    async def rounds() -> None:
        await sampler.sample_once()
        await sampler.sample_once()
        running.clear()
        assert await sampler.sample_once() == []

    asyncio.run(rounds())
    assert sent == [
        [{"taskArn": "arn:task/1", "memoryUtilization": 25.0}],
        [
            {
                "taskArn": "arn:task/1",
                "memoryUtilization": 50.0,
                "cpuUtilization": pytest.approx(40.0),
            }
        ],
    ]


def test_a_failing_send_does_not_stop_the_sampler() -> None:
    docker = _Stats()
    docker.samples["c1"] = [sample(0, 0, memory_mib=1), sample(0, 0, memory_mib=2)]

    async def send(batch: list[dict[str, Any]]) -> None:
        raise ConnectionError("server away")

    sampler = StatsSampler(
        cast(ContainerRuntime, docker), lambda: {"t": TaskReservation(("c1",), 0, 100)}, send
    )

    async def rounds() -> list[list[dict[str, Any]]]:
        return [await sampler.sample_once(), await sampler.sample_once()]

    assert asyncio.run(rounds()) == [
        [{"taskArn": "t", "memoryUtilization": 1.0}],
        [{"taskArn": "t", "memoryUtilization": 2.0}],
    ]
